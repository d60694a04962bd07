"""Check-in and check-out: rotating signed QR tokens and codes, walk-ups, bad input."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import utcnow
from blueprints.events.models import Registration
from blueprints.hours.tokens import (
    TokenError,
    attendance_code,
    check_code,
    parse_scan_token,
    scan_token,
)
from tests.conftest import htmx


def _reg(world) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, world.registration.id)


def _registrations(event) -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Registration).where(Registration.event_id == event.id)))


# --- tokens and codes ---------------------------------------------------------------------------


def test_token_is_valid_for_current_and_previous_window_only(app):
    now = utcnow()
    token = scan_token(7, "in", now)
    assert parse_scan_token(token, now) == (7, "in")
    assert parse_scan_token(token, now + timedelta(seconds=60)) == (7, "in")
    try:
        parse_scan_token(token, now + timedelta(seconds=125))
    except TokenError as exc:
        assert exc.reason == "expired"
    else:
        raise AssertionError("an old token was accepted")


def test_forged_tokens_are_refused(app):
    now = utcnow()
    event_id, action, window, sig = scan_token(7, "in", now).split(".")
    for forged in (
        f"8.{action}.{window}.{sig}",  # another event
        f"{event_id}.out.{window}.{sig}",  # another action
        f"{event_id}.{action}.{int(window) + 1}.{sig}",  # another window
        f"{event_id}.{action}.{window}.{sig[:-1]}{'B' if sig.endswith('A') else 'A'}",
        "garbage",
        "",
    ):
        try:
            parse_scan_token(forged, now)
        except TokenError as exc:
            assert exc.reason == "forged", forged
        else:
            raise AssertionError(f"accepted {forged!r}")


def test_codes_rotate_and_expire(app):
    now = utcnow()
    code = attendance_code(7, "in", now)
    assert len(code) == 6 and code.isdigit()
    check_code(7, "in", code, now)
    check_code(7, "in", code, now + timedelta(seconds=60))
    for later, reason in ((now + timedelta(minutes=5), "expired"),):
        try:
            check_code(7, "in", code, later)
        except TokenError as exc:
            assert exc.reason == reason
        else:
            raise AssertionError("an old code was accepted")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    try:
        check_code(7, "in", wrong, now)
    except TokenError as exc:
        assert exc.reason == "forged"
    else:
        raise AssertionError("a wrong code was accepted")
    assert attendance_code(7, "in", now) != attendance_code(8, "in", now)


def test_tokens_depend_on_the_secret_key(app):
    now = utcnow()
    token = scan_token(7, "in", now)
    app.config["SECRET_KEY"] = "another-secret"
    try:
        parse_scan_token(token, now)
    except TokenError as exc:
        assert exc.reason == "forged"
    else:
        raise AssertionError("a token signed with another key was accepted")


# --- the leader's screen ------------------------------------------------------------------------


def test_leader_screen_shows_qr_code_and_refreshes(client, login_as, h_world):
    login_as(h_world.leader)
    response = client.get(f"/hours/events/{h_world.event.id}/checkin?mode=in")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<svg" in html and 'class="checkin-code"' in html
    assert 'hx-trigger="every 20s"' in html
    assert '<meta http-equiv="refresh"' in html
    assert "style=" not in html and "<script>" not in html
    code = attendance_code(h_world.event.id, "in", utcnow())
    assert code[:3] in html and code[3:] in html
    assert f"/hours/scan/{h_world.event.id}.in." in html
    fragment = client.get(
        f"/hours/events/{h_world.event.id}/checkin?mode=out", headers=htmx(**{"HX-Target": "checkin-screen"})
    )
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text and f"{h_world.event.id}.out." in text
    # htmx following a redirect (after logging in) is told to load the whole page instead
    followed = client.get(
        f"/hours/events/{h_world.event.id}/checkin?mode=out", headers=htmx(**{"HX-Target": "login-form"})
    )
    assert followed.headers["HX-Redirect"] == f"/hours/events/{h_world.event.id}/checkin?mode=out"
    assert followed.get_data(as_text=True) == ""


def test_screen_is_closed_outside_the_window(client, login_as, h_world, h_make_event):
    login_as(h_world.leader)
    later = h_make_event(h_world.team, starts_at=utcnow() + timedelta(hours=3))
    html = client.get(f"/hours/events/{later.id}/checkin").get_data(as_text=True)
    assert "Check-in opens at" in html and "<svg" not in html


def test_screen_is_for_managers_only(client, login_as, h_world):
    for user in (h_world.volunteer, h_world.other_leader):
        login_as(user)
        assert client.get(f"/hours/events/{h_world.event.id}/checkin").status_code == 403
    assert client.get("/hours/events/999999/checkin").status_code == 404


# --- scanning -----------------------------------------------------------------------------------


def test_scan_logs_in_first_then_checks_in_once(client, login_as, h_world):
    token = scan_token(h_world.event.id, "in", utcnow())
    anonymous = client.get(f"/hours/scan/{token}")
    assert anonymous.status_code == 303 and "/account/login" in anonymous.headers["Location"]
    assert f"next=/hours/scan/{token}" in anonymous.headers["Location"].replace("%2F", "/")
    login_as(h_world.volunteer)
    page = client.get(f"/hours/scan/{token}")
    assert page.status_code == 200 and 'hx-trigger="load"' in page.get_data(as_text=True)
    first = client.post(f"/hours/scan/{token}", headers=htmx())
    assert first.status_code == 200 and "You are checked in" in first.get_data(as_text=True)
    registration = _reg(h_world)
    assert registration.checked_in_at is not None and registration.state == "attended"
    when = registration.checked_in_at
    again = client.post(f"/hours/scan/{token}", headers=htmx())
    assert "already checked in" in again.get_data(as_text=True)
    assert _reg(h_world).checked_in_at == when
    assert len(_registrations(h_world.event)) == 1
    audits = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "attendance.check_in")).all()
    assert len(audits) == 1


def test_scan_without_htmx_redirects_to_the_attendance_page(client, login_as, h_world):
    login_as(h_world.volunteer)
    token = scan_token(h_world.event.id, "in", utcnow())
    response = client.post(f"/hours/scan/{token}")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/events/{h_world.event.id}/attend")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You are checked in" in page


def test_expired_and_forged_tokens_write_nothing(client, login_as, h_world):
    login_as(h_world.volunteer)
    old = scan_token(h_world.event.id, "in", utcnow() - timedelta(minutes=5))
    for method in (client.get, client.post):
        response = method(f"/hours/scan/{old}")
        assert response.status_code == 400 and "has expired" in response.get_data(as_text=True)
    event_id, action, window, sig = scan_token(h_world.event.id, "in", utcnow()).split(".")
    forged = f"{event_id}.{action}.{window}.{'A' * len(sig)}"
    response = client.post(f"/hours/scan/{forged}")
    assert response.status_code == 400 and "is not valid" in response.get_data(as_text=True)
    assert _reg(h_world).checked_in_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0


def test_login_in_between_keeps_the_scan_usable(client, login_as, h_world, monkeypatch):
    """A token valid when the signed-out volunteer opened it still works after logging in."""
    import blueprints.hours.routes as routes

    opened = utcnow()
    token = scan_token(h_world.event.id, "in", opened)
    assert client.get(f"/hours/scan/{token}").status_code == 303  # to the login page
    login_as(h_world.volunteer)
    monkeypatch.setattr(routes, "utcnow", lambda: opened + timedelta(minutes=4))
    response = client.post(f"/hours/scan/{token}", headers=htmx())
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _reg(h_world).checked_in_at is not None


def test_check_out_by_scan_and_before_check_in(client, login_as, h_world):
    login_as(h_world.volunteer)
    out = scan_token(h_world.event.id, "out", utcnow())
    refused = client.post(f"/hours/scan/{out}", headers=htmx())
    assert refused.status_code == 409 and "check in first" in refused.get_data(as_text=True)
    assert _reg(h_world).checked_out_at is None
    client.post(f"/hours/scan/{scan_token(h_world.event.id, 'in', utcnow())}", headers=htmx())
    done = client.post(f"/hours/scan/{out}", headers=htmx())
    assert done.status_code == 200 and "You are checked out" in done.get_data(as_text=True)
    registration = _reg(h_world)
    assert registration.checked_out_at >= registration.checked_in_at


# --- typing the code ----------------------------------------------------------------------------


def test_code_check_in_and_out(client, login_as, h_world):
    login_as(h_world.volunteer)
    event = h_world.event
    page = client.get(f"/hours/events/{event.id}/attend").get_data(as_text=True)
    assert f'action="/hours/events/{event.id}/check-in"' in page
    code = attendance_code(event.id, "in", utcnow())
    response = client.post(f"/hours/events/{event.id}/check-in", data={"code": f"{code[:3]} {code[3:]}"})
    assert response.status_code == 303
    assert _reg(h_world).checked_in_at is not None
    # the check-in code does not check anyone out
    wrong = client.post(f"/hours/events/{event.id}/check-out", data={"code": code}, headers=htmx())
    assert wrong.status_code == 422 and "is not valid" in wrong.get_data(as_text=True)
    assert _reg(h_world).checked_out_at is None
    out = attendance_code(event.id, "out", utcnow())
    response = client.post(f"/hours/events/{event.id}/check-out", data={"code": out}, headers=htmx())
    assert response.status_code == 200 and "You are checked out" in response.get_data(as_text=True)
    assert _reg(h_world).checked_out_at is not None


def test_bad_codes_are_refused(client, login_as, h_world):
    login_as(h_world.volunteer)
    event = h_world.event
    expired = attendance_code(event.id, "in", utcnow() - timedelta(minutes=10))
    for code, message in (
        ("", "Enter the 6-digit code"),
        ("12345", "Enter the 6 digits"),
        ("abcdef", "Enter the 6 digits"),
        (expired, "has expired"),
        (f"{(int(attendance_code(event.id, 'in', utcnow())) + 7) % 1_000_000:06d}", "is not valid"),
    ):
        response = client.post(f"/hours/events/{event.id}/check-in", data={"code": code})
        assert response.status_code == 422, code
        assert message in response.get_data(as_text=True), code
    out = attendance_code(event.id, "out", utcnow())
    response = client.post(f"/hours/events/{event.id}/check-out", data={"code": out})
    assert response.status_code == 422 and "check in first" in response.get_data(as_text=True)
    assert _reg(h_world).checked_in_at is None


# --- walk-ups and states ------------------------------------------------------------------------


def test_walk_up_is_admitted_when_the_event_allows(client, login_as, h_world, make_user):
    event = h_world.event
    stranger = make_user(name="路人")
    login_as(stranger)
    token = scan_token(event.id, "in", utcnow())
    refused = client.post(f"/hours/scan/{token}", headers=htmx())
    assert refused.status_code == 409 and "does not admit walk-ins" in refused.get_data(as_text=True)
    assert len(_registrations(event)) == 1
    event.allow_walk_ins = True
    db.session.commit()
    admitted = client.post(f"/hours/scan/{token}", headers=htmx())
    assert admitted.status_code == 200, admitted.get_data(as_text=True)
    registration = db.session.scalar(sa.select(Registration).where(Registration.user_id == stranger.id))
    assert registration.walk_in and registration.state == "attended" and registration.checked_in_at is not None
    db.session.expire_all()
    assert event.confirmed_count == 2  # the seat was counted by the events service


def test_waitlisted_and_cancelled_events(client, login_as, h_world, make_user, h_make_registration):
    event = h_world.event
    waiting = make_user(name="候补")
    h_make_registration(event, waiting, state="waitlisted", waitlist_position=1)
    login_as(waiting)
    code = attendance_code(event.id, "in", utcnow())
    response = client.post(f"/hours/events/{event.id}/check-in", data={"code": code})
    assert response.status_code == 422 and "waitlist" in response.get_data(as_text=True)
    event.state = "cancelled"
    event.cancel_reason = "下雨"
    db.session.commit()
    login_as(h_world.volunteer)
    response = client.post(f"/hours/events/{event.id}/check-in", data={"code": code})
    assert response.status_code == 422 and "not running" in response.get_data(as_text=True)
    assert _reg(h_world).checked_in_at is None


def test_check_in_closes_two_hours_after_the_end(client, login_as, h_world, h_make_event, h_make_registration):
    old = h_make_event(h_world.team, starts_at=utcnow() - timedelta(hours=6))
    h_make_registration(old, h_world.volunteer)
    login_as(h_world.volunteer)
    code = attendance_code(old.id, "in", utcnow())
    response = client.post(f"/hours/events/{old.id}/check-in", data={"code": code})
    assert response.status_code == 422 and "has closed" in response.get_data(as_text=True)


def test_every_refusal_has_words():
    """Each HoursError code raised anywhere in the blueprint has a message in both languages."""
    import re
    from pathlib import Path

    from blueprints.hours.messages import ERRORS

    root = Path(__file__).resolve().parents[2] / "blueprints" / "hours"
    codes = set()
    for path in root.glob("*.py"):
        codes |= set(re.findall(r'HoursError\(\s*"(\w+)"', path.read_text(encoding="utf-8")))
    assert codes and codes <= set(ERRORS), codes - set(ERRORS)
