"""Youth-home star ratings: inherited checklists, assessments in scope, history, the venue page slot."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import utcnow
from blueprints.feedback.models import ChecklistItem, VenueAssessment
from blueprints.feedback.services import ChecklistError, effective_checklist, stars_for, venue_satisfaction
from blueprints.notifications.models import Notification
from blueprints.venues.models import Venue
from tests.conftest import htmx


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize(
    ("total", "max_total", "stars"),
    [
        (100, 100, 5),
        (90, 100, 5),
        (89, 100, 4),
        (75, 100, 4),
        (74, 100, 3),
        (60, 100, 3),
        (59, 100, 2),
        (40, 100, 2),
        (39, 100, 1),
        (0, 100, 1),
        (9, 10, 5),
        (27, 30, 5),
        (26, 30, 4),
    ],
)
def test_stars_follow_the_percentage(total, max_total, stars):
    assert stars_for(total, max_total) == stars


def test_stars_need_a_maximum():
    with pytest.raises(ChecklistError):
        stars_for(0, 0)


def test_checklist_is_inherited_from_the_nearest_org(app, city_tree):
    c1 = city_tree["c1"]
    default = effective_checklist(c1)
    assert default.source is None and [e.title for e in default.entries][:2] == ["设施完备", "按时开放"]
    assert default.max_total == 100
    db.session.add(ChecklistItem(org_id=city_tree["city"].id, title="市级项目", max_score=10))
    db.session.commit()
    assert effective_checklist(c1).source.id == city_tree["city"].id
    db.session.add_all(
        [
            ChecklistItem(org_id=city_tree["d1"].id, title="区级一", max_score=30, position=1),
            ChecklistItem(org_id=city_tree["d1"].id, title="区级零", max_score=20, position=0),
            ChecklistItem(org_id=city_tree["d1"].id, title="已停用", max_score=20, active=False),
        ]
    )
    db.session.commit()
    ours = effective_checklist(c1)
    assert ours.source.id == city_tree["d1"].id and [e.title for e in ours.entries] == ["区级零", "区级一"]
    assert ours.max_total == 50
    assert effective_checklist(city_tree["c2"]).source.id == city_tree["city"].id  # the sibling district


def test_coordinator_configures_a_checklist(client, login_as, city_tree, make_coordinator):
    d1 = city_tree["d1"]
    login_as(make_coordinator(d1))
    page = client.get(f"/feedback/orgs/{d1.id}/checklist").get_data(as_text=True)
    assert "built-in checklist" in page and "Facilities complete" in page
    assert client.post(f"/feedback/orgs/{d1.id}/checklist/customise").status_code == 303
    items = list(db.session.scalars(sa.select(ChecklistItem).where(ChecklistItem.org_id == d1.id)))
    assert [i.title for i in items] == ["设施完备", "按时开放", "活动开展", "青年满意度", "管理规范"]
    assert _count(AuditLog) == 1
    # add: bad maximum, duplicate name, then a good one
    bad = client.post(f"/feedback/orgs/{d1.id}/checklist/items", data={"title": "阵地安全", "max_score": "0"})
    assert bad.status_code == 422 and "Enter a whole number from 1 to 100." in bad.get_data(as_text=True)
    dup = client.post(
        f"/feedback/orgs/{d1.id}/checklist/items", data={"title": "设施完备", "max_score": "5"}, headers=htmx()
    )
    assert dup.status_code == 422 and "<html" not in dup.get_data(as_text=True)
    assert "already has an item with that name" in dup.get_data(as_text=True)
    assert (
        client.post(
            f"/feedback/orgs/{d1.id}/checklist/items", data={"title": "阵地安全", "max_score": "10"}
        ).status_code
        == 303
    )
    assert effective_checklist(city_tree["c1"]).max_total == 110
    # edit and remove
    item = db.session.scalar(sa.select(ChecklistItem).where(ChecklistItem.title == "阵地安全"))
    assert client.get(f"/feedback/checklist/{item.id}/edit").status_code == 200
    bad = client.post(f"/feedback/checklist/{item.id}/edit", data={"title": "", "max_score": "abc"})
    assert bad.status_code == 422
    assert (
        client.post(
            f"/feedback/checklist/{item.id}/edit", data={"title": "阵地安全管理", "max_score": "15", "position": "9"}
        ).status_code
        == 303
    )
    db.session.expire_all()
    assert (db.session.get(ChecklistItem, item.id).title, db.session.get(ChecklistItem, item.id).max_score) == (
        "阵地安全管理",
        15,
    )
    assert client.post(f"/feedback/checklist/{item.id}/remove").status_code == 303
    assert client.get(f"/feedback/checklist/{item.id}/edit").status_code == 404  # retired
    assert effective_checklist(city_tree["c1"]).max_total == 100
    # revert: the org inherits again
    assert client.post(f"/feedback/orgs/{d1.id}/checklist/revert").status_code == 303
    assert effective_checklist(city_tree["c1"]).source is None
    actions = set(db.session.scalars(sa.select(AuditLog.action)))
    assert {
        "checklist.customise",
        "checklist.add",
        "checklist.update",
        "checklist.remove",
        "checklist.revert",
    } <= actions


def test_adding_an_item_copies_the_inherited_checklist_first(client, login_as, city_tree, make_coordinator):
    c1 = city_tree["c1"]
    login_as(make_coordinator(city_tree["d1"]))
    response = client.post(f"/feedback/orgs/{c1.id}/checklist/items", data={"title": "社区特色", "max_score": "10"})
    assert response.status_code == 303
    checklist = effective_checklist(c1)
    assert checklist.source.id == c1.id and len(checklist.entries) == 6 and checklist.max_total == 110


def test_checklist_outside_scope(client, login_as, city_tree, make_coordinator, make_user):
    db.session.add(item := ChecklistItem(org_id=city_tree["d2"].id, title="别区项目", max_score=10))
    db.session.commit()
    login_as(make_coordinator(city_tree["d1"]))
    d2 = city_tree["d2"]
    assert client.get(f"/feedback/orgs/{d2.id}/checklist").status_code == 403
    assert client.post(f"/feedback/orgs/{d2.id}/checklist/customise").status_code == 403
    assert (
        client.post(f"/feedback/orgs/{d2.id}/checklist/items", data={"title": "x", "max_score": "5"}).status_code == 403
    )
    assert client.post(f"/feedback/checklist/{item.id}/edit", data={"title": "x", "max_score": "5"}).status_code == 403
    assert client.post(f"/feedback/checklist/{item.id}/remove").status_code == 403
    assert client.post(f"/feedback/orgs/{d2.id}/checklist/revert").status_code == 403
    assert client.get("/feedback/orgs/99999/checklist").status_code == 404
    assert client.get("/feedback/checklist/99999/edit").status_code == 404
    login_as(make_user("志愿者"))
    assert client.get(f"/feedback/orgs/{city_tree['d1'].id}/checklist").status_code == 403
    assert client.get("/feedback/venues").status_code == 403
    db.session.expire_all()
    assert db.session.get(ChecklistItem, item.id).title == "别区项目" and _count(ChecklistItem) == 1


SCORES = {"score_d0": "18", "score_d1": "20", "score_d2": "20", "score_d3": "15", "score_d4": "12"}  # 85 -> 4


def test_coordinator_assesses_a_youth_home(client, login_as, city_tree, make_coordinator, make_user, f_make_venue):
    manager = make_user("阵地管理员")
    venue = f_make_venue(city_tree["c1"], name="向阳青年之家", manager=manager)
    coord = login_as(make_coordinator(city_tree["d1"]))
    form = client.get(f"/feedback/venues/{venue.id}/assess")
    assert form.status_code == 200 and "Youth satisfaction (0–20)" in form.get_data(as_text=True)
    response = client.post(f"/feedback/venues/{venue.id}/assess", data={**SCORES, "note": "活动丰富,设施需更新"})
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/feedback/venues/{venue.id}/assessments"
    )
    db.session.expire_all()
    venue = db.session.get(Venue, venue.id)
    assert venue.stars == 4 and abs((venue.stars_assessed_at - utcnow()).total_seconds()) < 60
    a = db.session.scalar(sa.select(VenueAssessment))
    assert (a.total, a.max_total, a.stars, a.assessor_id, a.note) == (85, 100, 4, coord.id, "活动丰富,设施需更新")
    assert [i["score"] for i in a.scores["items"]] == [18, 20, 20, 15, 12]
    assert a.scores["items"][0]["title"] == "设施完备" and a.scores["items"][0]["max"] == 20
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "venue.assess"))
    assert audit.org_id == venue.org_id and audit.detail["stars"] == 4
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == manager.id))
    assert note.kind == "venue_assessed" and note.params == {"venue": "向阳青年之家", "stars": 4}
    history = client.get(f"/feedback/venues/{venue.id}/assessments").get_data(as_text=True)
    assert "4 of 5 stars" in history and "Score 85 of 100 (85%)." in history and coord.name in history


@pytest.mark.parametrize(
    "change",
    [
        {"score_d0": "21"},
        {"score_d0": "-1"},
        {"score_d0": "x"},
        {"score_d0": ""},
        {"score_d4": "7.5"},
        {"note": "长" * 1001},
    ],
)
def test_bad_scores_write_nothing(client, login_as, city_tree, make_coordinator, f_make_venue, change):
    venue = f_make_venue(city_tree["c1"])
    login_as(make_coordinator(city_tree["d1"]))
    response = client.post(f"/feedback/venues/{venue.id}/assess", data={**SCORES, **change}, headers=htmx())
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body and 'id="assess-form"' in body
    assert "Enter a whole number from 0 to" in body or "At most 1000 characters." in body
    assert _count(VenueAssessment) == 0
    db.session.expire_all()
    assert db.session.get(Venue, venue.id).stars is None


def test_assessment_outside_scope_is_403(client, login_as, city_tree, make_coordinator, make_user, f_make_venue):
    venue = f_make_venue(city_tree["c2"])  # the sibling district's youth home
    manager = make_user("管理员乙")
    own = f_make_venue(city_tree["c1"], manager=manager)
    login_as(make_coordinator(city_tree["d1"]))
    assert client.get(f"/feedback/venues/{venue.id}/assess").status_code == 403
    assert client.post(f"/feedback/venues/{venue.id}/assess", data=SCORES).status_code == 403
    assert client.get(f"/feedback/venues/{venue.id}/assessments").status_code == 403
    assert client.get("/feedback/venues/99999/assess").status_code == 404
    assert client.post("/feedback/venues/99999/assess", data=SCORES).status_code == 404
    # a youth home's own manager reads its history but cannot assess it
    login_as(manager)
    assert client.get(f"/feedback/venues/{own.id}/assessments").status_code == 200
    assert client.post(f"/feedback/venues/{own.id}/assess", data=SCORES).status_code == 403
    assert _count(VenueAssessment) == 0


def test_history_keeps_every_assessment(client, login_as, city_tree, make_coordinator, f_make_venue):
    venue = f_make_venue(city_tree["c1"])
    login_as(make_coordinator(city_tree["city"], name="周团委"))
    client.post(f"/feedback/venues/{venue.id}/assess", data={k: "10" for k in SCORES})  # 50 -> 2 stars
    client.post(f"/feedback/venues/{venue.id}/assess", data={**SCORES, "score_d2": "25", "score_d4": "15"})  # 93
    db.session.expire_all()
    assert db.session.get(Venue, venue.id).stars == 5
    rows = list(db.session.scalars(sa.select(VenueAssessment.stars).order_by(VenueAssessment.id)))
    assert rows == [2, 5]
    html = client.get(f"/feedback/venues/{venue.id}/assessments").get_data(as_text=True)
    assert html.index("5 of 5 stars") < html.index("2 of 5 stars")  # newest first


def _render_venue_slot(app, venue, user=None):
    from flask_login import login_user

    with app.app_context(), app.test_request_context(f"/venues/{venue.id}", headers={"Accept-Language": "en"}):
        if user is not None:
            login_user(user)
        return str(app.jinja_env.globals["slot"]("venue.page", venue=venue))


def test_venue_page_slot_shows_stars_and_satisfaction(
    app,
    client,
    login_as,
    city_tree,
    make_coordinator,
    make_user,
    f_make_venue,
    f_make_booking,
    f_make_team,
    f_make_event,
    f_rating,
):
    leader = make_user("队长")
    team = f_make_team(city_tree["c1"], leader=leader)
    venue = f_make_venue(city_tree["c1"], name="向阳青年之家")
    other = f_make_venue(city_tree["c1"], name="别的青年之家")
    held = f_make_event(team, booking=f_make_booking(venue, leader, days_ago=10), ended_days_ago=10)
    held2 = f_make_event(team, booking=f_make_booking(venue, leader, days_ago=40), ended_days_ago=40)
    elsewhere = f_make_event(team, booking=f_make_booking(other, leader, days_ago=5), ended_days_ago=5)
    long_ago = f_make_event(team, booking=f_make_booking(venue, leader, days_ago=400), ended_days_ago=400)
    rejected = f_make_event(team, booking=f_make_booking(venue, leader, days_ago=8, state="rejected"), ended_days_ago=8)
    for event, rating in ((held, 5), (held, 4), (held2, 3), (elsewhere, 1), (long_ago, 1), (rejected, 1)):
        f_rating(event, None, rating)
    assert venue_satisfaction(venue.id) == (4.0, 3, 2)
    html = _render_venue_slot(app, venue)
    assert "Not assessed yet" in html and "4.0" in html and "3 ratings of 2 events held here" in html
    assert "Assess" not in html  # anonymous visitors get no links
    coord = make_coordinator(city_tree["d1"], name="林书记")
    login_as(coord)
    client.post(f"/feedback/venues/{venue.id}/assess", data=SCORES)
    db.session.expire_all()
    html = _render_venue_slot(app, db.session.get(Venue, venue.id))
    assert "4 of 5 stars" in html and "by 林书记" in html and "4.0" in html
    html = _render_venue_slot(app, db.session.get(Venue, venue.id), coord)
    assert f"/feedback/venues/{venue.id}/assess" in html and "Assessment history" in html


def test_due_list_and_configurable_period(client, login_as, city_tree, make_coordinator, f_make_venue, app):
    now = utcnow()
    never = f_make_venue(city_tree["c1"], name="从未评定")
    stale = f_make_venue(city_tree["t1"], name="去年评定", stars=3, stars_assessed_at=now - timedelta(days=400))
    fresh = f_make_venue(city_tree["c1"], name="刚评定", stars=4, stars_assessed_at=now - timedelta(days=30))
    f_make_venue(city_tree["c2"], name="别区阵地")
    f_make_venue(city_tree["c1"], name="已停用阵地", active=False)
    login_as(make_coordinator(city_tree["d1"]))
    due = client.get("/feedback/venues").get_data(as_text=True)
    assert "从未评定" in due and "去年评定" in due and "刚评定" not in due and "别区阵地" not in due
    assert "已停用阵地" not in due and due.index("从未评定") < due.index("去年评定")
    everything = client.get("/feedback/venues?show=all", headers=htmx()).get_data(as_text=True)
    assert "<html" not in everything and "刚评定" in everything and "别区阵地" not in everything
    app.config["FEEDBACK_REASSESS_DAYS"] = 20
    assert "刚评定" in client.get("/feedback/venues").get_data(as_text=True)
    assert never.id and stale.id and fresh.id


def test_satisfaction_report_and_dashboard_section(
    app,
    client,
    login_as,
    city_tree,
    make_coordinator,
    make_user,
    f_make_venue,
    f_make_booking,
    f_make_team,
    f_make_event,
    f_rating,
):
    from blueprints.core.registry import get_registry
    from blueprints.core.timeutil import local_today

    leader = make_user("队长")
    team_a = f_make_team(city_tree["c1"], name="小青石志愿服务队", leader=leader)
    team_b = f_make_team(city_tree["c2"], name="别区服务队")
    venue = f_make_venue(city_tree["c1"], name="向阳青年之家")
    e1 = f_make_event(team_a, booking=f_make_booking(venue, leader, days_ago=5), ended_days_ago=5)
    e2 = f_make_event(team_a)
    e3 = f_make_event(team_b)
    for event, rating in ((e1, 5), (e1, 3), (e2, 4), (e3, 1)):
        f_rating(event, None, rating)
    coord = make_coordinator(city_tree["d1"])
    section = next(s for s in get_registry(app).dashboard_sections if s.template == "feedback/_dashboard.html")
    with app.app_context(), app.test_request_context("/reports/", headers={"Accept-Language": "en"}):
        data = section.context(coord, city_tree["d1"], local_today() - timedelta(days=30), local_today())["feedback"]
        assert [(r.name, r.ratings, r.average, r.events) for r in data["teams"]] == [("小青石志愿服务队", 3, 4.0, 2)]
        assert [(r.name, r.ratings, r.average) for r in data["homes"]] == [("向阳青年之家", 2, 4.0)]
        assert section.context(coord, city_tree["d2"], local_today(), local_today()) is None  # out of scope
        from flask import render_template

        html = render_template("feedback/_dashboard.html", feedback=data)
        assert "小青石志愿服务队" in html and "向阳青年之家" in html
    login_as(coord)
    page = client.get(f"/feedback/satisfaction?org={city_tree['d1'].id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "小青石志愿服务队" in text and "别区服务队" not in text
    assert client.get(f"/feedback/satisfaction?org={city_tree['d2'].id}").status_code == 403
    assert client.get("/feedback/satisfaction?start=garbage").status_code == 400
    csv = client.get(f"/feedback/satisfaction.csv?org={city_tree['d1'].id}", buffered=True)
    body = csv.get_data(as_text=True)
    assert csv.status_code == 200 and body.startswith("\ufeff")
    assert "Team,小青石志愿服务队" in body and "Youth home,向阳青年之家" in body and "4.00" in body
