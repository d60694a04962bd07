"""Organisation tree: subtree scope, settings inheritance, create/rename/move, coordinator grants."""

from __future__ import annotations

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.orgs.models import CoordinatorGrant, Org
from blueprints.orgs.services import can_coordinate, effective_settings, round_minutes, scope_clause


def _audit(action: str) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def test_subtree_scope(city_tree, make_coordinator):
    coord = make_coordinator(city_tree["d1"])
    assert can_coordinate(coord, city_tree["c1"])
    assert can_coordinate(coord, city_tree["d1"])
    assert not can_coordinate(coord, city_tree["d2"])
    assert not can_coordinate(coord, city_tree["c2"])
    assert not can_coordinate(coord, city_tree["city"])
    names = set(db.session.scalars(sa.select(Org.name).where(scope_clause(coord))))
    assert names == {"翠屏区", "白沙街道", "向阳社区"}


def test_settings_inherit_down_the_tree(city_tree):
    city, d1, c1 = city_tree["city"], city_tree["d1"], city_tree["c1"]
    assert effective_settings(c1).annual_target_hours == 20
    assert effective_settings(c1).star_thresholds == (100, 300, 600, 1000, 1500)
    city.annual_target_hours = 30
    d1.rounding_rule = "local_15_45"
    d1.star_thresholds = "50,100,200,400,800"
    db.session.commit()
    s = effective_settings(c1)
    assert (s.annual_target_hours, s.rounding_rule, s.star_thresholds[0]) == (30, "local_15_45", 50)
    assert effective_settings(city_tree["c2"]).rounding_rule == "nearest_half_hour"
    assert s.star_level(60 * 250) == 3


def test_rounding_rules():
    assert [round_minutes(m, "nearest_half_hour") for m in (0, 14, 15, 44, 45, 75)] == [0, 0, 30, 30, 60, 90]
    assert [round_minutes(m, "local_15_45") for m in (14, 15, 44, 45, 59, 74, 110)] == [0, 30, 30, 60, 60, 60, 120]
    assert round_minutes(89, "down_half_hour") == 60
    assert round_minutes(52, "nearest_quarter") == 45
    assert round_minutes(52, "exact") == 52


def test_coordinator_adds_child_and_sees_it(client, login_as, city_tree, make_coordinator):
    login_as(make_coordinator(city_tree["d1"]))
    response = client.post(
        f"/orgs/{city_tree['t1'].id}/children", data={"child-name": "新村", "child-kind": "community"}
    )
    assert response.status_code == 303
    child = db.session.scalar(sa.select(Org).where(Org.name == "新村"))
    assert child.path == f"{city_tree['t1'].path}{child.id}/" and child.depth == 3
    assert _audit("org.create")
    dup = client.post(f"/orgs/{city_tree['t1'].id}/children", data={"child-name": "新村", "child-kind": "community"})
    assert dup.status_code == 422 and "already has that name" in dup.get_data(as_text=True)


def test_coordinator_cannot_touch_sibling_district(client, login_as, city_tree, make_coordinator, make_user):
    login_as(make_coordinator(city_tree["d1"]))
    d2, c2 = city_tree["d2"], city_tree["c2"]
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Org))
    assert client.get(f"/orgs/{d2.id}").status_code == 403
    assert client.post(f"/orgs/{d2.id}/children", data={"child-name": "x", "child-kind": "town"}).status_code == 403
    assert client.post(f"/orgs/{c2.id}/edit", data={"name": "改名", "kind": "community"}).status_code == 403
    assert client.post(f"/orgs/{c2.id}/settings", data={"annual_target_hours": "99"}).status_code == 403
    other = make_user(phone="13955550000")
    assert client.post(f"/orgs/{d2.id}/coordinators", data={"grant-phone": other.phone}).status_code == 403
    # moving one of ours under the sibling is refused too
    assert client.post(f"/orgs/{city_tree['c1'].id}/move", data={"parent": str(city_tree["t2"].id)}).status_code == 403
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Org)) == before
    assert db.session.get(Org, c2.id).name == "幸福社区"
    assert db.session.get(Org, city_tree["c1"].id).parent_id == city_tree["t1"].id
    assert db.session.get(Org, c2.id).annual_target_hours is None


def test_unknown_org_is_404(client, login_as, make_user):
    login_as(make_user(is_admin=True))
    assert client.get("/orgs/999999").status_code == 404
    assert client.post("/orgs/999999/children", data={"child-name": "x"}).status_code == 404


def test_volunteer_gets_403_on_org_admin(client, login_as, make_user, city_tree):
    login_as(make_user(org=city_tree["c1"]))
    assert client.get("/orgs/").status_code == 403
    assert client.get(f"/orgs/{city_tree['c1'].id}").status_code == 403


def test_coordinator_cannot_rename_own_grant_root(client, login_as, city_tree, make_coordinator):
    login_as(make_coordinator(city_tree["d1"]))
    assert client.post(f"/orgs/{city_tree['d1'].id}/edit", data={"name": "X", "kind": "district"}).status_code == 403


def test_move_rewrites_subtree_paths(client, login_as, city_tree, make_user, make_org):
    login_as(make_user(is_admin=True))
    t1, d2, c1 = city_tree["t1"], city_tree["d2"], city_tree["c1"]
    response = client.post(f"/orgs/{t1.id}/move", data={"parent": str(d2.id)})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Org, t1.id).path == f"{d2.path}{t1.id}/"
    moved_child = db.session.get(Org, c1.id)
    assert moved_child.path == f"{d2.path}{t1.id}/{c1.id}/" and moved_child.depth == 3
    # below itself: refused with a message
    cycle = client.post(f"/orgs/{d2.id}/move", data={"parent": str(c1.id)})
    assert cycle.status_code == 422 and "below itself" in cycle.get_data(as_text=True)
    assert _audit("org.move")


def test_settings_form_validates(client, login_as, city_tree, make_coordinator):
    login_as(make_coordinator(city_tree["d1"]))
    url = f"/orgs/{city_tree['c1'].id}/settings"
    bad = client.post(url, data={"annual_target_hours": "-3", "star_thresholds": "5,4,3"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "0 to 2000" in body and "five rising" in body
    ok = client.post(
        url, data={"annual_target_hours": "25", "star_thresholds": "10，20,30,40,50", "rounding_rule": "exact"}
    )
    assert ok.status_code == 303
    db.session.expire_all()
    org = db.session.get(Org, city_tree["c1"].id)
    assert (org.annual_target_hours, org.star_thresholds, org.rounding_rule) == (25, "10,20,30,40,50", "exact")
    assert _audit("org.settings")


def test_grant_and_revoke_coordinator(client, login_as, city_tree, make_coordinator, make_user):
    login_as(make_coordinator(city_tree["d1"]))
    helper = make_user(name="新协调员", phone="13966660000")
    url = f"/orgs/{city_tree['t1'].id}/coordinators"
    assert client.post(url, data={"grant-phone": "13966660000"}).status_code == 303
    assert can_coordinate(helper, city_tree["c1"])
    again = client.post(url, data={"grant-phone": "13966660000"})
    assert again.status_code == 422 and "already coordinates" in again.get_data(as_text=True)
    unknown = client.post(url, data={"grant-phone": "13966669999"})
    assert unknown.status_code == 422 and "register first" in unknown.get_data(as_text=True)
    grant = db.session.scalar(sa.select(CoordinatorGrant).where(CoordinatorGrant.user_id == helper.id))
    grant_id = grant.id
    assert client.post(f"/orgs/{city_tree['t1'].id}/coordinators/{grant_id}/revoke").status_code == 303
    assert db.session.get(CoordinatorGrant, grant_id) is None
    assert _audit("coordinator.grant") and _audit("coordinator.revoke")


def test_audit_page_shows_only_subtree(client, login_as, city_tree, make_coordinator, make_user):
    admin = login_as(make_user(is_admin=True))
    client.post(f"/orgs/{city_tree['t2'].id}/children", data={"child-name": "隔壁村", "child-kind": "community"})
    coord = make_coordinator(city_tree["d1"])
    login_as(coord)
    page = client.get(f"/orgs/{city_tree['d1'].id}/audit").get_data(as_text=True)
    assert "org.create" not in page
    login_as(admin)
    page = client.get(f"/orgs/{city_tree['city'].id}/audit").get_data(as_text=True)
    assert "org.create" in page


def test_org_scope_reads_the_same_settings_as_the_tree_walk(app, city_tree, make_org):
    """org_scope (one flat statement of six levels) agrees with effective_settings for every org, also for
    one deeper than the statement reads (it falls back to the general walk), and after a change."""
    from blueprints.orgs.services import org_scope

    city_tree["city"].annual_target_hours = 30
    city_tree["city"].star_thresholds = "10,20,30,40,50"
    city_tree["d1"].certificate_issuer = "leader"
    city_tree["t1"].rounding_rule = "down_half_hour"
    db.session.commit()
    deep = city_tree["c1"]
    for level in range(4):  # city → district → town → community → four more levels
        deep = make_org(f"第{level}层", deep, min_attendance_percent=50 if level == 1 else None)
    orgs = [*city_tree.values(), deep, deep.parent]
    with app.test_request_context("/"):
        for org in orgs:
            scope = org_scope(org.id)
            assert (scope.id, scope.path) == (org.id, org.path)
            assert scope.settings == effective_settings(org), org.name
        assert org_scope(999_999) is None
    assert len(deep.ancestor_ids) == 8
    with app.test_request_context("/"):
        deep_settings = org_scope(deep.id).settings
    assert deep_settings.annual_target_hours == 30 and deep_settings.certificate_issuer == "leader"
    assert deep_settings.rounding_rule == "down_half_hour" and deep_settings.min_attendance_percent == 50
    assert deep_settings.star_thresholds == (10, 20, 30, 40, 50)
    city_tree["d1"].certificate_issuer = None
    db.session.commit()
    with app.app_context(), app.test_request_context("/"):  # a new request (its own g) reads the change
        assert org_scope(deep.id).settings.certificate_issuer == "self"
