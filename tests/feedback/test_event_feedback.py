"""Attendees rate completed events: once, 1-5, within the window; invitations; the rate links."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.events.models import Registration
from blueprints.feedback.models import Feedback
from blueprints.feedback.services import (
    FeedbackRefused,
    invite_feedback,
    member_refusal,
    rate_event,
    rateable_events,
)
from blueprints.notifications.models import Notification
from tests.conftest import htmx


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Feedback))


def test_attendee_rates_once_with_comment(client, login_as, f_world):
    event, volunteer = f_world["event"], f_world["volunteer"]
    login_as(volunteer)
    page = client.get(f"/feedback/events/{event.id}/rate")
    assert page.status_code == 200
    assert "How was" in page.get_data(as_text=True) and 'name="rating"' in page.get_data(as_text=True)
    response = client.post(f"/feedback/events/{event.id}/rate", data={"rating": "4", "comment": "  很有意义  "})
    assert response.status_code == 303
    fb = db.session.scalar(sa.select(Feedback))
    assert (fb.rating, fb.comment, fb.user_id, fb.is_public) == (4, "很有意义", volunteer.id, False)
    # the page now says it was rated, and a second rating is refused with nothing written
    again = client.post(f"/feedback/events/{event.id}/rate", data={"rating": "5"})
    assert again.status_code == 409
    assert "already rated this event" in again.get_data(as_text=True)
    assert _count() == 1 and db.session.scalar(sa.select(Feedback.rating)) == 4
    shown = client.get(f"/feedback/events/{event.id}/rate").get_data(as_text=True)
    assert "already rated" in shown and "4 of 5 stars" in shown


@pytest.mark.parametrize("value", ["0", "6", "-1", "abc", "", "4.5", "99999999999999999999"])
def test_rating_outside_1_to_5_is_refused(client, login_as, f_world, value):
    login_as(f_world["volunteer"])
    response = client.post(f"/feedback/events/{f_world['event'].id}/rate", data={"rating": value})
    assert response.status_code == 422
    assert "Choose a rating from 1 to 5 stars." in response.get_data(as_text=True)
    assert _count() == 0


def test_invalid_rating_with_htmx_gets_the_form_fragment(client, login_as, f_world):
    login_as(f_world["volunteer"])
    response = client.post(f"/feedback/events/{f_world['event'].id}/rate", data={"rating": "9"}, headers=htmx())
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body and 'id="rate-form"' in body
    assert "Choose a rating from 1 to 5 stars." in body


def test_successful_htmx_post_loads_the_next_page_whole(client, login_as, f_world):
    login_as(f_world["volunteer"])
    response = client.post(
        f"/feedback/events/{f_world['event'].id}/rate", data={"rating": "5", "next": "/"}, headers=htmx()
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/"
    assert _count() == 1


def test_comment_too_long_is_refused(client, login_as, f_world):
    login_as(f_world["volunteer"])
    response = client.post(f"/feedback/events/{f_world['event'].id}/rate", data={"rating": "3", "comment": "长" * 1001})
    assert response.status_code == 422 and "At most 1000 characters." in response.get_data(as_text=True)
    assert _count() == 0


def test_not_attended_is_refused(client, login_as, f_world):
    event = f_world["event"]
    for user in (f_world["no_show"], f_world["stranger"]):
        login_as(user)
        page = client.get(f"/feedback/events/{event.id}/rate").get_data(as_text=True)
        assert "Only volunteers who attended this event can rate it." in page and 'name="rating"' not in page
        response = client.post(f"/feedback/events/{event.id}/rate", data={"rating": "5"})
        assert response.status_code == 409
        assert "Only volunteers who attended" in response.get_data(as_text=True)
    assert _count() == 0


def test_service_record_counts_as_attendance(client, login_as, f_world, make_user, f_register, f_record):
    helper = make_user("补录志愿者")
    f_register(f_world["event"], helper, "confirmed")  # attendance not marked, but hours recorded
    f_record(f_world["event"], helper, by=f_world["leader"])
    login_as(helper)
    response = client.post(f"/feedback/events/{f_world['event'].id}/rate", data={"rating": "5"})
    assert response.status_code == 303 and _count() == 1


@pytest.mark.parametrize("state", ["published", "draft", "cancelled"])
def test_event_not_completed_is_refused(client, login_as, f_world, f_make_event, f_register, state):
    event = f_make_event(f_world["team"], state=state)
    f_register(event, f_world["volunteer"], "attended")
    login_as(f_world["volunteer"])
    response = client.post(f"/feedback/events/{event.id}/rate", data={"rating": "5"})
    assert response.status_code == 409
    expected = "was cancelled" if state == "cancelled" else "once its leader has marked it completed"
    assert expected in response.get_data(as_text=True)
    assert _count() == 0


def test_after_the_window_is_refused(client, login_as, f_world, f_make_event, f_register):
    event = f_make_event(f_world["team"], ended_days_ago=15)  # default window: 14 days
    f_register(event, f_world["volunteer"], "attended")
    login_as(f_world["volunteer"])
    response = client.post(f"/feedback/events/{event.id}/rate", data={"rating": "5"})
    assert response.status_code == 409 and "Rating for this event closed on" in response.get_data(as_text=True)
    assert _count() == 0


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [{"FEEDBACK_WINDOW_DAYS": 30}], indirect=True)
def test_window_is_configurable(client, login_as, f_world, f_make_event, f_register):
    event = f_make_event(f_world["team"], ended_days_ago=20)
    f_register(event, f_world["volunteer"], "attended")
    login_as(f_world["volunteer"])
    assert client.post(f"/feedback/events/{event.id}/rate", data={"rating": "2"}).status_code == 303


def test_unknown_event_is_404_and_anonymous_must_log_in(client, login_as, f_world):
    assert client.get(f"/feedback/events/{f_world['event'].id}/rate").status_code == 302
    login_as(f_world["volunteer"])
    assert client.get("/feedback/events/99999/rate").status_code == 404
    assert client.post("/feedback/events/99999/rate", data={"rating": "3"}).status_code == 404


def test_service_refuses_bad_values_and_duplicates(app, f_world):
    event, volunteer = f_world["event"], f_world["volunteer"]
    for bad in (0, 6, True, "5", None):
        with pytest.raises(FeedbackRefused) as info:
            rate_event(event, volunteer, bad)
        assert info.value.reason == "bad_rating"
    rate_event(event, volunteer, 5)
    db.session.commit()
    with pytest.raises(FeedbackRefused) as info:
        rate_event(event, volunteer, 3)
    assert info.value.reason == "already_rated"


def test_database_refuses_a_second_rating_even_without_the_check(app, f_world):
    """The partial unique index holds when two requests pass the Python check at the same time."""
    from sqlalchemy.exc import IntegrityError

    event, volunteer = f_world["event"], f_world["volunteer"]
    db.session.add(Feedback(event_id=event.id, user_id=volunteer.id, rating=4))
    db.session.commit()
    db.session.add(Feedback(event_id=event.id, user_id=volunteer.id, rating=5))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(Feedback(event_id=event.id, user_id=f_world["stranger"].id, rating=7))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_member_refusal_order(app, f_world):
    event = f_world["event"]
    assert member_refusal(event, f_world["volunteer"]) is None
    assert member_refusal(event, f_world["stranger"]).reason == "not_attended"
    late = event.ends_at + timedelta(days=14, minutes=1)
    assert member_refusal(event, f_world["volunteer"], now=late).reason == "window_closed"


def test_invite_feedback_notifies_attendees_once(app, f_world, make_user, f_record, f_rating, runner):
    event = f_world["event"]
    rated = make_user("已评价")
    f_rating(event, rated, 5)
    recorded = make_user("只有工时")
    assert invite_feedback(event) == 1  # the attendee; not the no-show, not who has no attendance
    db.session.commit()
    f_record(event, rated)  # hours recorded: the flush invites the new attendees (hooks.py) ...
    f_record(event, recorded)
    notes = list(db.session.scalars(sa.select(Notification).where(Notification.kind == "feedback_invite")))
    assert sorted(n.user_id for n in notes) == sorted([f_world["volunteer"].id, recorded.id])  # ... not who rated
    assert {n.link for n in notes} == {f"/feedback/events/{event.id}/rate"}
    assert invite_feedback(event) == 0  # idempotent
    result = runner.invoke(args=["feedback", "invite", "--event", str(event.id)])
    assert result.exit_code == 0 and "invited 0 attendees" in result.output


def test_invite_cli(app, f_world, f_make_event, f_register, runner):
    result = runner.invoke(args=["feedback", "invite", "--event", str(f_world["event"].id)])
    assert result.exit_code == 0, result.output
    assert "invited 1 attendees" in result.output
    draft = f_make_event(f_world["team"], state="published")
    result = runner.invoke(args=["feedback", "invite", "--event", str(draft.id)])
    assert result.exit_code == 1 and "not completed" in result.output
    assert runner.invoke(args=["feedback", "invite", "--event", "99999"]).exit_code == 1
    assert runner.invoke(args=["feedback", "invite"]).exit_code == 2
    other = f_make_event(f_world["team"])
    f_register(other, f_world["stranger"])
    result = runner.invoke(args=["feedback", "invite", "--recent"])
    assert result.exit_code == 0 and "invited 1 attendees of 2 events" in result.output
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 2


def test_invitation_text_in_both_languages(client, login_as, f_world):
    invite_feedback(f_world["event"])
    db.session.commit()
    login_as(f_world["volunteer"])
    page = client.get("/notifications/").get_data(as_text=True)
    assert f"{f_world['event'].title} is over. How was it?" in page
    zh = client.get("/notifications/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "结束了" in zh


def test_home_panel_lists_rateable_events(client, login_as, f_world, f_make_event, f_register):
    old = f_make_event(f_world["team"], ended_days_ago=20, title="太久以前的活动")
    f_register(old, f_world["volunteer"])
    assert [e.id for e in rateable_events(f_world["volunteer"])] == [f_world["event"].id]
    login_as(f_world["volunteer"])
    home = client.get("/").get_data(as_text=True)
    assert "Rate your recent events" in home and f_world["event"].title in home and "太久以前的活动" not in home
    client.post(f"/feedback/events/{f_world['event'].id}/rate", data={"rating": "5"})
    assert "Rate your recent events" not in client.get("/").get_data(as_text=True)
    login_as(f_world["stranger"])
    assert "Rate your recent events" not in client.get("/").get_data(as_text=True)


def _render_slot(app, name, user, **values):
    from flask_login import login_user

    with (
        app.app_context(),
        app.test_request_context("/events/mine", headers={"Accept-Language": "en"}),
    ):  # a request's own `g`
        login_user(user)
        return str(app.jinja_env.globals["slot"](name, **values))


def test_my_events_slot_shows_link_or_rating(app, f_world, f_make_event, f_register):
    event, volunteer = f_world["event"], f_world["volunteer"]
    reg = db.session.scalar(
        sa.select(Registration).where(Registration.event_id == event.id, Registration.user_id == volunteer.id)
    )
    html = _render_slot(app, "my_events.past_row", volunteer, event=event, registration=reg)
    assert "Rate this event" in html and f"/feedback/events/{event.id}/rate" in html
    rate_event(event, volunteer, 3)
    db.session.commit()
    html = _render_slot(app, "my_events.past_row", volunteer, event=event, registration=reg)
    assert "You rated it" in html and "3 of 5 stars" in html
    # someone else's registration, a no-show, or a closed window: nothing
    no_show_reg = db.session.scalar(
        sa.select(Registration).where(Registration.event_id == event.id, Registration.user_id == f_world["no_show"].id)
    )
    for user, ev, reg_ in ((volunteer, event, no_show_reg), (f_world["no_show"], event, no_show_reg)):
        html = _render_slot(app, "my_events.past_row", user, event=ev, registration=reg_)
        assert "fb-slot" not in html
    old = f_make_event(f_world["team"], ended_days_ago=30)
    old_reg = f_register(old, volunteer)
    assert "fb-slot" not in _render_slot(app, "my_events.past_row", volunteer, event=old, registration=old_reg)
