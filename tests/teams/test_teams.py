"""Teams: create in scope with leaders (audited), join open / by approval, leave, roster, 403 / 404."""

from __future__ import annotations

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.notifications.models import Notification
from blueprints.teams.models import Membership, Team
from blueprints.teams.services import is_leader, led_team_ids
from tests.conftest import htmx


def _audit(action: str) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def _membership(team, user) -> Membership | None:
    return db.session.scalar(
        sa.select(Membership).where(
            Membership.team_id == team.id, Membership.user_id == user.id, Membership.state.in_(("pending", "active"))
        )
    )


def test_coordinator_creates_team_in_scope_and_names_leaders(client, login_as, city_tree, make_coordinator, make_user):
    login_as(make_coordinator(city_tree["d1"]))
    lead1 = make_user(name="王队长", phone="13912340001")
    lead2 = make_user(name="李队长", phone="13912340002")
    response = client.post(
        "/teams/new",
        data={
            "name": "向阳青年志愿服务队",
            "description": "关爱社区老人",
            "join_policy": "approval",
            "org_id": str(city_tree["c1"].id),
            "leader_phones": "139 1234 0001，13912340002",
        },
    )
    assert response.status_code == 303
    team = db.session.scalar(sa.select(Team).where(Team.name == "向阳青年志愿服务队"))
    assert team.org_id == city_tree["c1"].id and team.join_policy == "approval"
    assert is_leader(lead1, team) and is_leader(lead2, team)
    grants = _audit("team.leader_grant")
    assert {g.detail["user_id"] for g in grants} == {lead1.id, lead2.id}
    assert all(g.org_id == city_tree["c1"].id for g in grants)
    assert _audit("team.create")
    kinds = set(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == lead1.id)))
    assert "team_leader_granted" in kinds


def test_create_team_outside_scope_is_403_and_bad_input_422(client, login_as, city_tree, make_coordinator, make_user):
    login_as(make_coordinator(city_tree["d1"]))
    make_user(phone="13912340003")
    outside = client.post(
        "/teams/new",
        data={
            "name": "隔壁队",
            "join_policy": "open",
            "org_id": str(city_tree["c2"].id),
            "leader_phones": "13912340003",
        },
    )
    assert outside.status_code == 403
    unknown = client.post(
        "/teams/new",
        data={"name": "新队", "join_policy": "open", "org_id": str(city_tree["c1"].id), "leader_phones": "13912349999"},
    )
    assert unknown.status_code == 422 and "register first" in unknown.get_data(as_text=True)
    empty = client.post("/teams/new", data={"name": " ", "join_policy": "open", "leader_phones": "123"})
    body = empty.get_data(as_text=True)
    assert empty.status_code == 422 and "Enter a team name." in body and "Not a mobile number" in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == 0


def test_volunteer_cannot_create_team(client, login_as, make_user):
    login_as(make_user())
    assert client.get("/teams/new").status_code == 403


def test_join_open_team_and_leave(client, login_as, make_team, make_user):
    leader = make_user(name="队长")
    team = make_team(leader=leader)
    volunteer = login_as(make_user(name="小青"))
    response = client.post(f"/teams/{team.id}/join", headers=htmx())
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    assert _membership(team, volunteer).state == "active"
    again = client.post(f"/teams/{team.id}/join")
    assert again.status_code == 409 and "already a member" in again.get_data(as_text=True)
    assert client.post(f"/teams/{team.id}/leave").status_code == 303
    assert _membership(team, volunteer) is None


def test_join_by_approval_and_leader_decides(client, login_as, make_team, make_user):
    leader = make_user(name="队长")
    team = make_team(leader=leader, join_policy="approval")
    alice, bob = make_user(name="甲"), make_user(name="乙")
    login_as(alice)
    assert client.post(f"/teams/{team.id}/join").status_code == 303
    login_as(bob)
    assert client.post(f"/teams/{team.id}/join").status_code == 303
    assert _membership(team, alice).state == "pending"
    assert db.session.scalar(
        sa.select(Notification).where(Notification.user_id == leader.id, Notification.kind == "team_join_requested")
    )
    # a volunteer cannot decide
    login_as(bob)
    ma = _membership(team, alice)
    assert client.post(f"/teams/{team.id}/members/{ma.id}/approve").status_code == 403
    login_as(leader)
    page = client.get(f"/teams/{team.id}/members").get_data(as_text=True)
    assert "甲" in page and "Requests to join" in page
    approved = client.post(f"/teams/{team.id}/members/{ma.id}/approve", headers=htmx())
    assert approved.status_code == 200 and "<html" not in approved.get_data(as_text=True)
    mb = _membership(team, bob)
    assert client.post(f"/teams/{team.id}/members/{mb.id}/decline").status_code == 303
    assert _membership(team, alice).state == "active"
    assert _membership(team, bob) is None
    kinds = dict(
        db.session.execute(
            sa.select(Notification.user_id, Notification.kind).where(Notification.user_id.in_([alice.id, bob.id]))
        ).all()
    )
    assert kinds == {alice.id: "team_join_approved", bob.id: "team_join_declined"}
    twice = client.post(f"/teams/{team.id}/members/{ma.id}/approve")
    assert twice.status_code == 303  # redirected with a message, nothing changed
    assert _membership(team, alice).state == "active"


def test_roster_masks_phones_and_is_for_members(client, login_as, make_team, make_user):
    leader = make_user(name="队长", phone="13911112222")
    member = make_user(name="队员", phone="13933334444")
    team = make_team(leader=leader, members=[member])
    login_as(member)
    body = client.get(f"/teams/{team.id}/members").get_data(as_text=True)
    assert "139****2222" in body and "13911112222" not in body
    assert "13933334444" in body  # one's own number in full
    login_as(make_user(name="路人"))
    assert client.get(f"/teams/{team.id}/members").status_code == 403
    login_as(make_user(name="管理员", is_admin=True))
    assert "13911112222" in client.get(f"/teams/{team.id}/members").get_data(as_text=True)


def test_leader_grants_are_audited_and_last_leader_stays(client, login_as, make_team, make_user):
    leader = make_user(name="队长")
    member = make_user(name="队员", phone="13955556666")
    team = make_team(leader=leader, members=[member])
    login_as(leader)
    m = _membership(team, member)
    assert client.post(f"/teams/{team.id}/members/{m.id}/lead").status_code == 303
    assert team.id in led_team_ids(member)
    assert _audit("team.leader_grant")
    assert client.post(f"/teams/{team.id}/members/{m.id}/unlead").status_code == 303
    assert _audit("team.leader_revoke")
    own = _membership(team, leader)
    refused = client.post(f"/teams/{team.id}/members/{own.id}/unlead", headers=htmx())
    assert refused.status_code == 409 and "at least one leader" in refused.get_data(as_text=True)
    assert _membership(team, leader).role == "leader"
    # by phone number
    other = make_user(name="新队长", phone="13977778888")
    assert client.post(f"/teams/{team.id}/leaders", data={"leader-phone": "13977778888"}).status_code == 303
    assert _membership(team, other).role == "leader"
    bad = client.post(f"/teams/{team.id}/leaders", data={"leader-phone": "12"})
    assert bad.status_code == 422


def test_leader_of_other_team_gets_403(client, login_as, make_team, make_user):
    team = make_team(leader=make_user())
    other_leader = make_user()
    make_team(leader=other_leader)
    login_as(other_leader)
    assert client.get(f"/teams/{team.id}/edit").status_code == 403
    assert client.post(f"/teams/{team.id}/edit", data={"name": "X", "join_policy": "open"}).status_code == 403
    assert client.post(f"/teams/{team.id}/leaders", data={"leader-phone": "13900000000"}).status_code == 403


def test_unknown_ids_are_404(client, login_as, make_team, make_user):
    login_as(make_user(is_admin=True))
    team = make_team()
    assert client.get("/teams/999999").status_code == 404
    assert client.post("/teams/999999/join").status_code == 404
    assert client.post(f"/teams/{team.id}/members/999999/approve").status_code == 404


def test_team_list_and_page(client, make_team, make_user, city_tree):
    team = make_team(org=city_tree["c1"], name="滨江志愿队", leader=make_user(name="赵队长"), members=[make_user()])
    make_team(org=city_tree["c2"], name="幸福志愿队")
    listing = client.get("/teams/?q=滨江").get_data(as_text=True)
    assert "滨江志愿队" in listing and "幸福志愿队" not in listing and "2 members" in listing
    frag = client.get(f"/teams/?org={city_tree['d2'].id}", headers=htmx()).get_data(as_text=True)
    assert "幸福志愿队" in frag and "滨江志愿队" not in frag and "<html" not in frag
    page = client.get(f"/teams/{team.id}").get_data(as_text=True)
    assert "赵队长" in page and "Log in to join" in page


def test_edit_team(client, login_as, make_team, make_user):
    leader = make_user()
    team = make_team(leader=leader)
    login_as(leader)
    bad = client.post(f"/teams/{team.id}/edit", data={"name": "", "join_policy": "open"})
    assert bad.status_code == 422
    ok = client.post(
        f"/teams/{team.id}/edit", data={"name": "新名字", "description": "简介", "join_policy": "approval"}
    )
    assert ok.status_code == 303
    db.session.refresh(team)
    assert (team.name, team.join_policy) == ("新名字", "approval")
