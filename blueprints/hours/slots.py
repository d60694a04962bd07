"""What the hours blueprint adds to other pages: event page pieces, home panels, rows of "my events"."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import g, has_request_context, url_for
from flask_login import current_user
from werkzeug.routing import BuildError

from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today, utcnow
from blueprints.events.models import Event
from blueprints.orgs.models import Org
from blueprints.orgs.services import CHAIN_LEVELS, coordinator_paths, is_coordinator, keep_org_chain, with_org_chain

from .forms import BENEFICIARY_LABELS, CodeForm
from .messages import attendance_closed_text
from .models import CorrectionRequest
from .services import (
    RUNNING_STATES,
    attendance_window,
    can_manage,
    event_summary,
    hours_overview,
    led_team_ids,
    minutes_by_event,
    volunteer_totals_select,
    year_bounds,
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


@dataclass
class HomeHours:
    """What the home page's two hours panels show (see home_hours)."""

    totals: dict[str, int]  # volunteer_totals
    requests: int  # pending correction requests of the events the user looks after
    waiting: list[Event]  # ended events they look after whose hours are not confirmed yet


def looks_after_events(user) -> bool:  # noqa: ANN001
    """Leaders, coordinators and admins: the people the leader panel is for (no statement)."""
    return bool(user.is_admin or led_team_ids(user) or is_coordinator(user))


def _managed_clause(admin: bool, teams: bool, paths: int):
    """managed_events_clause with the led teams' ids and the coordinator's paths as parameters."""
    if admin:
        return sa.true()
    clauses = [
        Org.path.startswith(sa.bindparam(f"hh_path_{i}", type_=sa.String), autoescape=False) for i in range(paths)
    ]
    if teams:
        clauses.append(Event.team_id.in_(sa.bindparam("hh_teams", expanding=True)))
    return sa.or_(*clauses) if clauses else sa.false()


@functools.lru_cache(maxsize=64)
def _home_hours_statement(looks_after: bool, admin: bool, teams: bool, paths: int, has_home: bool):
    """Both hours panels as ONE statement, built once per process and shape (building it costs more
    than running it): the user, the year, "now", the led teams, the coordinator's paths and the home
    org are parameters.

    A one-row head (the user's minutes this year and in all) joined with their home org and the orgs
    above it (the target and the star thresholds: hours_overview then reads none), and for someone
    who looks after events the number of pending correction requests and the ended events still
    waiting for their hours (outer-joined: a row each, or one row when there is none).
    """
    moment = Event.ends_at.type
    head = volunteer_totals_select(
        sa.bindparam("hh_user", type_=sa.Integer),
        sa.bindparam("hh_year_start", type_=moment),
        sa.bindparam("hh_year_end", type_=moment),
    ).subquery("totals")
    stmt = sa.select(head.c.year, head.c.lifetime, head.c.records).select_from(head)
    if looks_after:
        managed = _managed_clause(admin, teams, paths)
        pending = (
            sa.select(sa.func.count().label("requests"))
            .select_from(CorrectionRequest)
            .join(Event, Event.id == CorrectionRequest.event_id)
            .join(Org, Org.id == Event.org_id)
            # the state as a literal: SQLite uses the partial index of pending requests only so
            .where(CorrectionRequest.state == sa.literal_column("'pending'"), managed)
            .subquery("pending")
        )
        waiting = (
            sa.select(Event)
            .join(Org, Org.id == Event.org_id)
            .where(
                managed,
                Event.state.in_(RUNNING_STATES),
                Event.hours_confirmed_at.is_(None),  # the partial index ix_events_hours_unconfirmed
                Event.ends_at <= sa.bindparam("hh_now", type_=moment),
                Event.ends_at >= sa.bindparam("hh_since", type_=moment),
            )
            .order_by(Event.ends_at.desc())
            .limit(5)
            .subquery("waiting")
        )
        waiting_event = sa.orm.aliased(Event, waiting, name="waiting_event")
        stmt = (
            stmt.add_columns(pending.c.requests, waiting_event)
            .join(pending, sa.true())
            .outerjoin(waiting, sa.true())
            .order_by(waiting.c.ends_at.desc())
        )
    if has_home:
        stmt = with_org_chain(stmt, sa.bindparam("hh_home_org", type_=sa.Integer))
    return stmt


def home_hours(user) -> HomeHours:  # noqa: ANN001
    """Both hours panels of the home page from one statement (cached for the request)."""
    cache = g.setdefault("_home_hours", {}) if has_request_context() else {}
    if user.id in cache:
        return cache[user.id]
    looks_after, has_home = looks_after_events(user), user.home_org_id is not None
    admin = bool(user.is_admin)
    # both known without a statement of their own by now (the events panel read the teams; the
    # coordinator's paths are read once for the page)
    teams = led_team_ids(user) if looks_after and not admin else []
    paths = coordinator_paths(user) if looks_after and not admin else []
    year_start, year_end = year_bounds(local_today().year)
    params = {"hh_user": user.id, "hh_year_start": year_start, "hh_year_end": year_end, "hh_home_org": user.home_org_id}
    if looks_after:
        now = utcnow()
        params.update(hh_now=now, hh_since=now - timedelta(days=CONFIRM_REMINDER_DAYS), hh_teams=teams)
        params.update({f"hh_path_{i}": path for i, path in enumerate(paths)})
    statement = _home_hours_statement(looks_after, admin, bool(teams), len(paths), has_home)
    rows = db.session.execute(statement, params).all()
    first = rows[0]
    if has_home:
        keep_org_chain(first[-CHAIN_LEVELS:])
    cache[user.id] = HomeHours(
        totals={"year": int(first.year), "lifetime": int(first.lifetime), "records": int(first.records)},
        requests=int(first.requests) if looks_after else 0,
        waiting=[row.waiting_event for row in rows if row.waiting_event is not None] if looks_after else [],
    )
    return cache[user.id]


def home_hours_panel(user) -> dict | None:
    """Every signed-in volunteer: this year's hours against the org's target."""
    return {"overview": hours_overview(user, totals=home_hours(user).totals)}


def home_leader_panel(user) -> dict | None:
    """Leaders and coordinators: events waiting for hours, and pending correction requests."""
    if not looks_after_events(user):
        return None
    home = home_hours(user)
    if not home.waiting and not home.requests:
        return None
    return {"waiting": home.waiting, "requests": home.requests}
