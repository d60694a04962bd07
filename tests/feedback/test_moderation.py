"""Leaders see averages and comments; coordinators in scope hide abusive comments (audit-logged)."""

from __future__ import annotations

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.feedback.models import Feedback
from blueprints.feedback.services import event_stats
from tests.conftest import htmx


def _seed(f_world, f_rating, make_user):
    event = f_world["event"]
    f_rating(event, f_world["volunteer"], 4, "组织得很好")
    f_rating(event, None, 2, "你们都是骗子!!!")
    f_rating(event, None, 5)
    return event


def test_leader_sees_averages_and_comments_without_names(client, login_as, f_world, f_rating, make_user):
    event = _seed(f_world, f_rating, make_user)
    login_as(f_world["leader"])
    page = client.get(f"/feedback/events/{event.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "3.7" in html and "3 ratings" in html  # (4 + 2 + 5) / 3
    assert "组织得很好" in html and "你们都是骗子" in html
    assert f_world["volunteer"].name not in html  # anonymous to leaders
    assert "Hide comment" not in html  # leaders cannot hide


def test_who_may_see_event_feedback(client, login_as, f_world, f_rating, make_user, make_coordinator):
    event = _seed(f_world, f_rating, make_user)
    url = f"/feedback/events/{event.id}"
    for user, status in (
        (f_world["coord"], 200),
        (make_user("管理员", is_admin=True), 200),
        (make_coordinator(f_world["tree"]["c1"], name="社区书记"), 200),
        (f_world["other_coord"], 403),
        (f_world["volunteer"], 403),
        (f_world["stranger"], 403),
    ):
        login_as(user)
        assert client.get(url).status_code == status, user.name
    assert client.get("/feedback/events/99999").status_code == 404


def test_coordinator_hides_a_comment_rating_still_counts(client, login_as, f_world, f_rating, make_user):
    event = _seed(f_world, f_rating, make_user)
    abusive = db.session.scalar(sa.select(Feedback).where(Feedback.comment.like("%骗子%")))
    before = event_stats(event.id).average
    login_as(f_world["coord"])
    page = client.get(f"/feedback/events/{event.id}").get_data(as_text=True)
    assert "Hide comment" in page and f_world["volunteer"].name in page  # moderators see who wrote it
    response = client.post(f"/feedback/comments/{abusive.id}/hide", headers=htmx())
    row = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in row and "Hidden by a coordinator." in row
    db.session.expire_all()
    abusive = db.session.get(Feedback, abusive.id)
    assert abusive.hidden_at is not None and abusive.hidden_by_id == f_world["coord"].id
    assert event_stats(event.id).average == before  # the rating still counts
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "feedback.hide"))
    assert entry.actor_id == f_world["coord"].id and entry.object_id == abusive.id
    assert entry.org_id == event.org_id and "骗子" in entry.detail["comment"]
    # the leader no longer sees the text
    login_as(f_world["leader"])
    html = client.get(f"/feedback/events/{event.id}").get_data(as_text=True)
    assert "骗子" not in html and "Hidden by a coordinator." in html and "3.7" in html
    # and the coordinator can show it again (also audited)
    login_as(f_world["coord"])
    assert client.post(f"/feedback/comments/{abusive.id}/restore").status_code == 303
    db.session.expire_all()
    assert db.session.get(Feedback, abusive.id).hidden_at is None
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "feedback.restore")) is not None


def test_only_coordinators_in_scope_may_hide(client, login_as, f_world, f_rating, make_user):
    event = _seed(f_world, f_rating, make_user)
    abusive = db.session.scalar(sa.select(Feedback).where(Feedback.comment.like("%骗子%")))
    for user in (f_world["leader"], f_world["other_coord"], f_world["volunteer"]):
        login_as(user)
        assert client.post(f"/feedback/comments/{abusive.id}/hide").status_code == 403
    db.session.expire_all()
    assert db.session.get(Feedback, abusive.id).hidden_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0
    login_as(f_world["coord"])
    assert client.post("/feedback/comments/99999/hide").status_code == 404
    assert client.post(f"/feedback/comments/{abusive.id}/hide", csrf=False).status_code == 400
    assert event.id


def test_comments_are_paginated(client, login_as, f_world, f_rating):
    event = f_world["event"]
    for i in range(23):
        f_rating(event, None, 3, f"评论{i:02d}")
    login_as(f_world["leader"])
    first = client.get(f"/feedback/events/{event.id}").get_data(as_text=True)
    assert "评论22" in first and "评论02" not in first
    second = client.get(f"/feedback/events/{event.id}?page=2", headers=htmx()).get_data(as_text=True)
    assert "<html" not in second and "评论02" in second and "评论00" in second and "评论22" not in second


def test_leader_slot_and_summary_slot(app, f_world, f_rating):
    from flask_login import login_user

    event = f_world["event"]
    f_rating(event, f_world["volunteer"], 5)
    f_rating(event, None, 4)
    render = app.jinja_env.globals["slot"]
    with app.app_context(), app.test_request_context("/events/1", headers={"Accept-Language": "en"}):
        login_user(f_world["leader"])
        leader = str(render("event.leader", event=event))
        summary = str(render("event.summary", event=event))
    assert "Ratings and comments" in leader and "2 ratings (1 volunteers, 1 people served)" in leader
    assert f"/feedback/events/{event.id}/qr" in leader
    assert "4.5" in summary
    with app.app_context(), app.test_request_context("/events/1", headers={"Accept-Language": "en"}):
        login_user(f_world["volunteer"])
        assert "Ratings and comments" not in str(render("event.leader", event=event))
        assert "4.5" in str(render("event.summary", event=event))
