"""Booking requests: every rule answered with a message beside the field (422, nothing written)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import local_to_utc, local_today
from blueprints.notifications.models import Notification
from blueprints.venues.models import Booking
from tests.conftest import htmx
from tests.fixtures.venues import future_day


def _count(model=Booking) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _form(day=None, start="09:00", end="11:00", purpose="读书会", attendees="12") -> dict:
    return {
        "day": (day or future_day()).isoformat(),
        "start": start,
        "end": end,
        "purpose": purpose,
        "attendees": attendees,
    }


@pytest.fixture
def setup(make_venue, make_user, make_manager, login_as):
    venue = make_venue(capacity=30)
    manager = make_manager(venue, email="manager@example.com")
    leader = login_as(make_user(name="队长小王"))
    return venue, manager, leader


def test_valid_request_is_written_audited_and_told_to_managers(client, setup):
    venue, manager, leader = setup
    response = client.post(f"/venues/{venue.id}/book", data=_form())
    assert response.status_code == 303 and response.headers["Location"].endswith("/venues/bookings/mine")
    booking = db.session.scalar(sa.select(Booking))
    assert (booking.state, booking.requester_id, booking.attendees) == ("pending", leader.id, 12)
    assert booking.starts_at == local_to_utc(future_day(), time(9))
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "booking.request"))
    assert audit.object_id == booking.id and audit.actor_id == leader.id and audit.org_id == venue.org_id
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == manager.id))
    assert note.kind == "booking_requested" and note.params["requester"] == "队长小王"
    page = client.get("/venues/bookings/mine").get_data(as_text=True)
    assert "Waiting for a decision" in page and "读书会" in page


@pytest.mark.parametrize(
    ("case", "data", "field", "message"),
    [
        ("end before start", {"start": "11:00", "end": "10:00"}, "end", "The end must be after the start."),
        ("end equals start", {"start": "10:00", "end": "10:00"}, "end", "The end must be after the start."),
        ("zero attendees", {"attendees": "0"}, "attendees", "Expect at least one person."),
        ("negative attendees", {"attendees": "-5"}, "attendees", "Expect at least one person."),
        ("over capacity", {"attendees": "31"}, "attendees", "At most 30 people fit in this youth home."),
        ("in the past", {"day": "past"}, "start", "That time has already passed."),
        ("too long", {"start": "13:00", "end": "18:00"}, "end", "A booking lasts at most 4 h here."),
        ("too short", {"start": "09:00", "end": "09:15"}, "end", "A booking lasts at least 30 min."),
        ("outside opening hours", {"start": "11:30", "end": "13:30"}, "start", "Outside opening hours."),
        ("too far ahead", {"day": "far"}, "day", "Bookings open at most 30 days ahead"),
        ("no purpose", {"purpose": "  "}, "purpose", "Say what the booking is for."),
        ("no end", {"end": ""}, "end", "Enter the end time."),
        ("bad time", {"start": "9 o'clock"}, "start", "Enter a time like 09:30."),
        ("no attendees", {"attendees": ""}, "attendees", "Enter how many people will come."),
    ],
)
def test_bad_input_422_message_beside_field_nothing_written(client, setup, case, data, field, message):
    venue, manager, _leader = setup
    if data.get("day") == "past":
        data = {**data, "day": local_today() - timedelta(days=1)}
    elif data.get("day") == "far":
        data = {**data, "day": local_today() + timedelta(days=31)}
    response = client.post(f"/venues/{venue.id}/book", data=_form(**data))
    html = response.get_data(as_text=True)
    assert response.status_code == 422, case
    # the message sits in the error paragraph of that field
    assert f'id="{field}-error"' in html, case
    error = html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message.replace("'", "&#39;") in error, (case, error)
    assert _count() == 0
    assert _count(Notification) == 0
    assert _count(AuditLog) == 0


def test_in_a_closure_refused(client, setup, make_closure):
    venue, _manager, _leader = setup
    make_closure(venue, future_day(), future_day() + timedelta(days=1), reason="设备检修")
    response = client.post(f"/venues/{venue.id}/book", data=_form())
    assert response.status_code == 422
    assert "Closed on this day: 设备检修." in response.get_data(as_text=True)
    assert _count() == 0


def test_closed_weekday_refused(client, make_venue, make_user, login_as):
    day = future_day()
    venue = make_venue(hours={d: [(time(8), time(20))] for d in range(7) if d != day.weekday()})
    login_as(make_user())
    response = client.post(f"/venues/{venue.id}/book", data=_form(day=day))
    assert response.status_code == 422 and "Closed on that weekday" in response.get_data(as_text=True)
    assert _count() == 0


def test_overlap_with_approved_refused_but_pending_allowed(client, setup, make_booking):
    venue, _manager, _leader = setup
    make_booking(venue, start=time(9), end=time(10), state="pending")
    response = client.post(f"/venues/{venue.id}/book", data=_form(start="09:30", end="11:00"))
    assert response.status_code == 303  # overlapping a pending request is allowed
    make_booking(venue, start=time(13), end=time(15), state="approved")
    response = client.post(f"/venues/{venue.id}/book", data=_form(start="14:00", end="16:00"))
    assert response.status_code == 422
    assert "overlaps an approved booking (13:00–15:00)" in response.get_data(as_text=True)
    assert _count() == 3


def test_notice_rule(client, setup):
    venue, _manager, _leader = setup
    venue.min_notice_hours = 72
    db.session.commit()
    response = client.post(f"/venues/{venue.id}/book", data=_form(day=local_today() + timedelta(days=1)))
    assert response.status_code == 422 and "at least 72 hours&#39; notice" in response.get_data(as_text=True)
    assert _count() == 0


def test_inactive_venue_refused(client, setup):
    venue, _manager, _leader = setup
    venue.active = False
    db.session.commit()
    response = client.post(f"/venues/{venue.id}/book", data=_form())
    assert response.status_code == 422 and "not taking bookings" in response.get_data(as_text=True)
    assert _count() == 0


def test_htmx_invalid_form_is_a_fragment_and_valid_one_redirects(client, setup):
    venue, _manager, _leader = setup
    response = client.post(f"/venues/{venue.id}/book", data=_form(attendees="0"), headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in html and 'id="booking-form"' in html
    response = client.post(f"/venues/{venue.id}/book", data=_form(), headers=htmx())
    assert response.status_code == 200 and response.headers["HX-Redirect"].endswith("/venues/bookings/mine")
    assert _count() == 1


def test_form_shows_the_days_schedule_and_htmx_swaps_it(client, setup, make_booking, make_user):
    venue, _manager, _leader = setup
    make_booking(venue, start=time(9), end=time(10), state="approved", purpose="已批准的活动")
    make_booking(venue, start=time(15), end=time(16), state="pending", purpose="待审批的活动")
    make_booking(venue, start=time(17), end=time(18), state="rejected", purpose="被拒绝的", decision_note="不行")
    page = client.get(f"/venues/{venue.id}/book?day={future_day().isoformat()}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    assert "已批准的活动" in html and "待审批的活动" in html and "被拒绝的" not in html
    assert "Free:" in html and "10:00–12:00" in html
    fragment = client.get(f"/venues/{venue.id}/book?day={future_day().isoformat()}", headers=htmx())
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and 'id="day-schedule"' in body and "已批准的活动" in body
    other = client.get(f"/venues/{venue.id}/book?day={future_day(3).isoformat()}", headers=htmx())
    assert "No bookings or requests yet on this day." in other.get_data(as_text=True)


def test_show_day_button_works_without_javascript(client, setup, make_booking):
    venue, _manager, _leader = setup
    make_booking(venue, start=time(9), end=time(10), state="approved", purpose="已批准的活动")
    response = client.post(f"/venues/{venue.id}/book", data={**_form(), "action": "show_day", "purpose": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "已批准的活动" in html and 'class="error"' not in html
    assert _count() == 1


def test_anonymous_is_sent_to_login_and_unknown_venue_404(client, make_venue, make_user, login_as):
    venue = make_venue()
    response = client.get(f"/venues/{venue.id}/book")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    login_as(make_user())
    assert client.get("/venues/9999/book").status_code == 404
    assert client.post("/venues/9999/book", data=_form()).status_code == 404
