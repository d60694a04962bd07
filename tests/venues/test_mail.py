"""Notifications go out by email too when MAIL_SERVER is set; an email failure loses nothing in-app."""

from __future__ import annotations

import email
import time as clock
from datetime import time

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from blueprints.core.extensions import db
from blueprints.notifications.models import Notification
from blueprints.venues.models import Booking
from tests.fixtures.venues import future_day
from tests.support.live import free_port


class Inbox:
    def __init__(self, refuse: bool = False):
        self.messages: list[email.message.Message] = []
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refuse:
            return "550 mailbox unavailable"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _smtp(refuse: bool = False):
    inbox = Inbox(refuse)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp():
    controller, inbox = _smtp()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def mail_mode() -> str:
    return "ok"


@pytest.fixture
def app_config(request, mail_mode):
    """MAIL_SERVER pointing at the test's SMTP server (or at a closed port for the failure test)."""
    mode = mail_mode
    if mode == "down":
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": free_port()}
    controller, inbox = request.getfixturevalue("smtp_refusing" if mode == "refuse" else "smtp")
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": controller.port}


@pytest.fixture
def smtp_refusing():
    controller, inbox = _smtp(refuse=True)
    yield controller, inbox
    controller.stop()


def _request(client, venue):
    data = {"day": future_day().isoformat(), "start": "09:00", "end": "11:00", "purpose": "读书会", "attendees": "8"}
    return client.post(f"/venues/{venue.id}/book", data=data)


def _wait_for(inbox, n: int) -> None:
    deadline = clock.monotonic() + 5
    while len(inbox.messages) < n and clock.monotonic() < deadline:
        clock.sleep(0.05)


def test_request_and_decision_are_emailed(client, login_as, smtp, make_venue, make_manager, make_user):
    _controller, inbox = smtp
    venue = make_venue(name="白沙青年之家")
    manager = make_manager(venue, email="manager@example.com", locale="en")
    leader = login_as(make_user(name="队长", email="leader@example.com"))
    assert _request(client, venue).status_code == 303
    _wait_for(inbox, 1)
    assert [m["To"] for m in inbox.messages] == ["manager@example.com"]
    assert "白沙青年之家" in inbox.messages[0].get_payload(decode=True).decode()
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == manager.id))
    assert note.emailed_at is not None
    booking = db.session.scalar(sa.select(Booking))
    login_as(manager)
    assert client.post(f"/venues/bookings/{booking.id}/approve").status_code == 303
    _wait_for(inbox, 2)
    assert inbox.messages[1]["To"] == "leader@example.com"
    body = inbox.messages[1].get_payload(decode=True).decode()
    assert "白沙青年之家" in body and "批准" in body  # the leader reads it in Chinese (default locale)
    assert db.session.scalar(sa.select(Notification).where(Notification.user_id == leader.id)).emailed_at


@pytest.mark.parametrize("mail_mode", ["down"])
def test_mail_server_down_keeps_the_in_app_notification(client, login_as, make_venue, make_manager, make_user):
    venue = make_venue()
    manager = make_manager(venue, email="manager@example.com")
    login_as(make_user(email="leader@example.com"))
    assert _request(client, venue).status_code == 303
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == manager.id))
    assert note.kind == "booking_requested" and note.emailed_at is None
    assert db.session.scalar(sa.select(Booking)).state == "pending"


@pytest.mark.parametrize("mail_mode", ["refuse"])
def test_mail_refused_keeps_the_in_app_notification(
    client, login_as, smtp_refusing, make_venue, make_manager, make_user, make_booking
):
    venue = make_venue()
    manager = make_manager(venue, email="manager@example.com")
    requester = make_user(email="leader@example.com")
    booking = make_booking(venue, requester, start=time(9), end=time(10))
    login_as(manager)
    assert client.post(f"/venues/bookings/{booking.id}/reject", data={"reason": "另有安排"}).status_code == 303
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == requester.id))
    assert note.kind == "booking_rejected" and note.emailed_at is None
    assert smtp_refusing[1].messages == []
    login_as(requester)
    assert "另有安排" in client.get("/notifications/").get_data(as_text=True)
