"""What the hours blueprint adds to other pages: event page pieces, home panels, rows of "my events"."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import g, url_for
from flask_login import current_user
from werkzeug.routing import BuildError

from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow
from blueprints.events.models import Event
from blueprints.orgs.models import Org
from blueprints.orgs.services import is_coordinator

from .forms import BENEFICIARY_LABELS, CodeForm
from .messages import attendance_closed_text
from .services import (
    RUNNING_STATES,
    attendance_window,
    can_manage,
    event_summary,
    hours_overview,
    led_team_ids,
    managed_events_clause,
    minutes_by_event,
    pending_request_count,
)

#: ended events still waiting for the leader to confirm hours are listed this long
CONFIRM_REMINDER_DAYS = 60


def event_url(event: Event) -> str:
    """The event's own page (the events blueprint), else the attendance page."""
    try:
        return url_for("events.show", event_id=event.id)
    except BuildError:
        return url_for("hours.attend", event_id=event.id)


def volunteer_slot(event: Event, registration=None, **_values) -> dict | None:
    """Check in / out with the code, on the event page, while the check-in window is open."""
    if not current_user.is_authenticated or event.state not in RUNNING_STATES:
        return None
    now = utcnow()
    opens, closes = attendance_window(event)
    window_open = opens <= now <= closes and event.hours_confirmed_at is None
    checked_in = registration is not None and registration.checked_in_at is not None
    if not window_open and not checked_in:
        return None
    if registration is None and not event.allow_walk_ins:
        return None
    # the page passes `registration` itself; the slot adds only what it needs besides
    return {"code_form": CodeForm(formdata=None), "closed": attendance_closed_text(event, now)}


def leader_slot(event: Event, **_values) -> dict | None:
    """Links for the leader: check-in screen, attendance, hours, people served."""
    if event.state not in RUNNING_STATES or not can_manage(current_user, event):
        return None
    return {"now": utcnow()}


def summary_slot(event: Event, **_values) -> dict | None:
    """Volunteers, participations (人次), hours and people served, once the event has started."""
    if event.state not in RUNNING_STATES or event.starts_at > utcnow():
        return None
    summary = event_summary(event)
    if not summary["participations"] and not summary["beneficiaries"] and event.hours_confirmed_at is None:
        return None
    return {"summary": summary, "beneficiary_labels": BENEFICIARY_LABELS}


def past_row_slot(event: Event, registration=None, **_values) -> dict | None:
    """A past event in "my events": its hours, or a link to request the missing record."""
    if not current_user.is_authenticated:
        return None
    cache = g.setdefault("_hours_by_event", {})
    if current_user.id not in cache:
        cache[current_user.id] = minutes_by_event(current_user)
    minutes = cache[current_user.id].get(event.id)
    can_request = (
        minutes is None
        and event.state in RUNNING_STATES
        and event.starts_at <= utcnow()
        and registration is not None
        and registration.state in ("confirmed", "attended", "no_show")
    )
    if minutes is None and not can_request:
        return None
    return {"minutes": minutes, "can_request": can_request}


def home_hours_panel(user) -> dict | None:
    """Every signed-in volunteer: this year's hours against the org's target."""
    return {"overview": hours_overview(user)}


def home_leader_panel(user) -> dict | None:
    """Leaders and coordinators: events waiting for hours, and pending correction requests."""
    if not (user.is_admin or led_team_ids(user) or is_coordinator(user)):
        return None
    now = utcnow()
    waiting = list(
        db.session.scalars(
            sa.select(Event)
            .join(Org, Org.id == Event.org_id)
            .where(
                managed_events_clause(user),
                Event.state.in_(RUNNING_STATES),
                Event.hours_confirmed_at.is_(None),
                Event.ends_at <= now,
                Event.ends_at >= now - timedelta(days=CONFIRM_REMINDER_DAYS),
            )
            .order_by(Event.ends_at.desc())
            .limit(5)
        )
    )
    requests = pending_request_count(user)
    if not waiting and not requests:
        return None
    return {"waiting": waiting, "requests": requests}
