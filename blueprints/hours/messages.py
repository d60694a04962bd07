"""Words shown when a check-in or an hours change is refused (one place for both languages)."""

from __future__ import annotations

from datetime import datetime

from flask_babel import format_datetime

from blueprints.core.translate import lazy_gettext as _l

from .services import HoursError

TOKEN_ERRORS = {
    "forged": _l(
        "This check-in code is not valid. Scan the QR code on the leader's screen again, or type the 6 digits shown there."
    ),
    "expired": _l("This check-in code has expired (codes change every minute). Scan or type the code shown now."),
}
ERRORS = {
    "event_not_running": _l("This event is not running: it is a draft or was cancelled."),
    "hours_confirmed": _l("The hours of this event are already confirmed. Ask the leader for a correction instead."),
    "not_open_yet": _l("Check-in opens at %(opens)s."),
    "closed": _l("Check-in for this event has closed. Ask the team leader to record your attendance."),
    "not_registered": _l("You are not registered for this event, and it does not admit walk-ins. Ask the team leader."),
    "walk_in_refused": _l("You could not be admitted: %(message)s"),
    "waitlisted": _l("You are on the waitlist for this event. Ask the team leader to admit you first."),
    "not_checked_in": _l("You have not checked in yet: check in first, then check out."),
    "not_on_roster": _l("This person is not on the roster of the event."),
    "bad_state": _l("Choose attended or no-show."),
    "times_outside_event": _l("The times must be within a day of the event."),
    "checkout_before_checkin": _l("The check-out cannot be before the check-in."),
    "too_long": _l("More than 24 hours between check-in and check-out cannot be right."),
    "not_started": _l("The event has not started yet."),
    "not_confirmed": _l("Confirm the event's hours first; then add what is missing."),
    "already_confirmed": _l("The hours of this event were already confirmed. Nothing new was written."),
    "missing_checkout": _l(
        "%(count)s people checked in but not out (%(names)s). Set their check-out time or mark them no-show first."
    ),
    "bad_minutes": _l("Enter between 0 and 24 hours."),
    "reason_required": _l("A reason is required."),
    "message_required": _l("Tell the leader what is wrong or missing."),
    "already_corrected": _l("This record was already corrected. Correct the newest record instead."),
    "record_exists": _l("There is already a record for this person at this event. Ask for a correction of it instead."),
    "event_not_past": _l("Hours can be requested only for events that have taken place."),
    "not_your_record": _l("That record is not yours."),
    "not_registered_for_event": _l("You were not registered for this event. Ask the team leader to add you."),
    "request_pending": _l("You already have a pending request for this event. Wait for the leader's answer."),
    "already_decided": _l("This request was already decided."),
    "bad_count": _l("Enter a number from 0 to 1000000."),
    "bad_period": _l("The end cannot be before the start."),
    "period_in_future": _l("The period cannot end in the future."),
    "no_hours": _l("There are no recorded hours in this period, so there is nothing to certify."),
}


def error_text(exc: HoursError) -> str:
    params = {}
    for key, value in exc.params.items():
        params[key] = format_datetime(value, "short") if isinstance(value, datetime) else value
    text = str(ERRORS[exc.code])  # every code a service raises has its words here (a test checks)
    return text % params if params else text


def attendance_closed_text(event, now: datetime) -> str | None:
    """Why nobody can check in or out of `event` now, or None when they can."""
    from .services import check_attendance_open

    try:
        check_attendance_open(event, now)
    except HoursError as exc:
        return error_text(exc)
    return None
