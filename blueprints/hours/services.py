"""Attendance, the hour ledger (append-only), correction requests, beneficiaries and certificates.

Services flush; the view commits once. Service records are only ever INSERTed: a correction is a
new record that supersedes the old one (the database refuses UPDATE and DELETE on the table).
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import g, has_request_context, url_for
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload

from blueprints.auth.models import User
from blueprints.core.audit import record_audit
from blueprints.core.db import fetch
from blueprints.core.extensions import db
from blueprints.core.timeutil import local_day_bounds, local_today, to_local, utcnow
from blueprints.events.models import Event, Registration
from blueprints.notifications.services import notify
from blueprints.orgs.models import Org
from blueprints.orgs.services import (
    can_coordinate,
    can_coordinate_path,
    org_scope,
    round_minutes,
    scope_clause,
)
from blueprints.orgs.services import effective_settings as _effective_settings
from blueprints.teams.models import Membership

from .models import (
    BENEFICIARY_CATEGORIES,
    CERTIFICATE_EVENTS,
    MAX_RECORD_MINUTES,
    BeneficiaryCount,
    Certificate,
    CorrectionRequest,
    ServiceRecord,
    is_effective_clause,
)

#: the check-in screen opens this long before the start and closes this long after the end
OPENS_BEFORE = timedelta(minutes=60)
CLOSES_AFTER = timedelta(minutes=120)
#: states of an event in which people can check in and hours can be confirmed
RUNNING_STATES = ("published", "completed")
#: registration states shown on the attendance roster
ROSTER_STATES = ("confirmed", "attended", "no_show")


class HoursError(Exception):
    """A request that cannot be carried out; `code` picks the message shown to the user."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


def effective_settings(org: Org | None):
    """The org's inherited settings, read once per request and org."""
    if not has_request_context():
        return _effective_settings(org)
    cache = g.setdefault("_hours_settings", {})
    key = org.id if org is not None else None
    if key not in cache:
        cache[key] = _effective_settings(org)
    return cache[key]


def org_settings_for(org_id: int | None):
    """Settings of the org with this id (one flat statement, kept for the request)."""
    scope = org_scope(org_id)
    return scope.settings if scope is not None else effective_settings(None)


# --- who may do what --------------------------------------------------------------------------


def can_manage(user, event: Event) -> bool:
    """Leader of the event's team, coordinator of its org's subtree, or admin."""
    if not getattr(user, "is_authenticated", False):
        return False
    from blueprints.events.services import can_manage_event

    return bool(can_manage_event(user, event))


def led_team_ids(user) -> list[int]:
    if not getattr(user, "is_authenticated", False):
        return []
    from blueprints.teams.services import led_team_ids as _led

    return list(_led(user))


def managed_events_clause(user):
    """WHERE clause over Event (joined with Org) for the events `user` manages."""
    if getattr(user, "is_admin", False):
        return sa.true()
    teams = led_team_ids(user)
    clauses = [scope_clause(user, Org.path)]
    if teams:
        clauses.append(Event.team_id.in_(teams))
    return sa.or_(*clauses)


# --- check-in and check-out -------------------------------------------------------------------


def attendance_window(event: Event) -> tuple[datetime, datetime]:
    return event.starts_at - OPENS_BEFORE, event.ends_at + CLOSES_AFTER


def check_attendance_open(event: Event, now: datetime) -> None:
    """HoursError unless people can check in or out of `event` at `now`."""
    if event.state not in RUNNING_STATES:
        raise HoursError("event_not_running")
    if event.hours_confirmed_at is not None:
        raise HoursError("hours_confirmed")
    opens, closes = attendance_window(event)
    if now < opens:
        raise HoursError("not_open_yet", opens=opens)
    if now > closes:
        raise HoursError("closed")


def active_registration(event: Event, user) -> Registration | None:
    return db.session.scalar(
        sa.select(Registration).where(
            Registration.event_id == event.id, Registration.user_id == user.id, Registration.state != "cancelled"
        )
    )


def _admit_walk_in(event: Event, user, now: datetime) -> Registration:
    """Register a walk-up through the events service (the one seat-counting path), in a savepoint."""
    from blueprints.events.services import RegistrationError, register

    try:
        with db.session.begin_nested():
            registration = register(event, user, walk_in=True, now=now)
    except RegistrationError as exc:
        # a parallel scan of the same person may have registered them a moment ago
        registration = active_registration(event, user)
        if registration is None:
            raise HoursError("walk_in_refused", message=getattr(exc, "message", str(exc))) from exc
    except IntegrityError:
        registration = active_registration(event, user)
        if registration is None:
            raise
    return registration


def check_in(event: Event, user, now: datetime | None = None) -> tuple[Registration, bool]:
    """Check `user` in: (registration, True) the first time, (registration, False) when already in.

    The write is a conditional UPDATE (... WHERE checked_in_at IS NULL): however many scans of the
    same person arrive at once, exactly one sets the time.
    """
    now = now or utcnow()
    check_attendance_open(event, now)
    registration = active_registration(event, user)
    walk_in = False
    if registration is None:
        if not event.allow_walk_ins:
            raise HoursError("not_registered")
        registration = _admit_walk_in(event, user, now)
        walk_in = True
    if registration.state == "waitlisted":
        raise HoursError("waitlisted")
    result = db.session.execute(
        sa.update(Registration)
        .where(Registration.id == registration.id, Registration.checked_in_at.is_(None))
        .values(
            checked_in_at=now,
            state=sa.case((Registration.state.in_(("confirmed", "no_show")), "attended"), else_=Registration.state),
            attendance_by_id=user.id,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(registration)
    if result.rowcount == 0:
        return registration, False
    record_audit(
        user, "attendance.check_in", registration, org_id=event.org_id, event_id=event.id, walk_in=walk_in or None
    )
    return registration, True


def check_out(event: Event, user, now: datetime | None = None) -> tuple[Registration, bool]:
    """Check `user` out; refused before a check-in. (registration, False) when already out."""
    now = now or utcnow()
    check_attendance_open(event, now)
    registration = active_registration(event, user)
    if registration is None or registration.checked_in_at is None:
        raise HoursError("not_checked_in")
    result = db.session.execute(
        sa.update(Registration)
        .where(
            Registration.id == registration.id,
            Registration.checked_in_at.is_not(None),
            Registration.checked_in_at <= now,
            Registration.checked_out_at.is_(None),
        )
        .values(checked_out_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(registration)
    if result.rowcount == 0:
        if registration.checked_out_at is None:
            raise HoursError("not_checked_in")
        return registration, False
    record_audit(user, "attendance.check_out", registration, org_id=event.org_id, event_id=event.id)
    return registration, True


def attendance_counts(event: Event) -> dict[str, int]:
    """How many of the roster have checked in and out (one query)."""
    row = db.session.execute(
        sa.select(
            sa.func.count(Registration.checked_in_at),
            sa.func.count(Registration.checked_out_at),
            sa.func.count(),
        ).where(Registration.event_id == event.id, Registration.state.in_(ROSTER_STATES))
    ).one()
    return {"checked_in": row[0], "checked_out": row[1], "roster": row[2]}


# --- roster attendance ------------------------------------------------------------------------


def _check_roster_editable(registration: Registration) -> None:
    if registration.event.hours_confirmed_at is not None:
        raise HoursError("hours_confirmed")
    if registration.state not in ROSTER_STATES:
        raise HoursError("not_on_roster")


def set_attendance(actor, registration: Registration, state: str) -> None:
    """The leader marks someone attended or no-show."""
    if state not in ("attended", "no_show"):
        raise HoursError("bad_state")
    _check_roster_editable(registration)
    old = registration.state
    registration.state = state
    registration.attendance_by_id = actor.id
    db.session.flush()
    record_audit(
        actor,
        "attendance.mark",
        registration,
        org_id=registration.event.org_id,
        event_id=registration.event_id,
        old=old,
        new=state,
    )


def mark_all_attended(actor, event: Event) -> int:
    """Every confirmed (not yet marked) person becomes attended; they get the planned hours."""
    if event.hours_confirmed_at is not None:
        raise HoursError("hours_confirmed")
    result = db.session.execute(
        sa.update(Registration)
        .where(Registration.event_id == event.id, Registration.state == "confirmed")
        .values(state="attended", attendance_by_id=actor.id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    if result.rowcount:
        record_audit(actor, "attendance.mark_all", event, org_id=event.org_id, count=result.rowcount)
    return result.rowcount


def fix_times(actor, registration: Registration, checked_in_at: datetime, checked_out_at: datetime | None) -> None:
    """The leader sets the check-in/out times of someone who forgot (marks them attended)."""
    _check_roster_editable(registration)
    event = registration.event
    earliest, latest = event.starts_at - timedelta(days=1), event.ends_at + timedelta(days=1)
    if not (earliest <= checked_in_at <= latest) or (checked_out_at and not (earliest <= checked_out_at <= latest)):
        raise HoursError("times_outside_event")
    if checked_out_at is not None and checked_out_at < checked_in_at:
        raise HoursError("checkout_before_checkin")
    if checked_out_at is not None and checked_out_at - checked_in_at > timedelta(minutes=MAX_RECORD_MINUTES):
        raise HoursError("too_long")
    old = [_iso(registration.checked_in_at), _iso(registration.checked_out_at)]
    registration.checked_in_at = checked_in_at
    registration.checked_out_at = checked_out_at
    registration.state = "attended"
    registration.attendance_by_id = actor.id
    db.session.flush()
    record_audit(
        actor,
        "attendance.times",
        registration,
        org_id=event.org_id,
        event_id=event.id,
        old=old,
        new=[_iso(checked_in_at), _iso(checked_out_at)],
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="minutes") if value else None


# --- hours ------------------------------------------------------------------------------------


@dataclass
class HourLine:
    """What one roster entry earns: minutes to record, or a flag saying why not."""

    registration: Registration
    minutes: int | None
    measured: int | None
    source: str
    #: None, or "missing_checkout" | "below_minimum" | "no_show" | "not_marked" | "zero"
    flag: str | None = None


def event_minutes(event: Event) -> int:
    return int((event.ends_at - event.starts_at).total_seconds() // 60)


def hour_line(registration: Registration, event: Event, settings) -> HourLine:  # noqa: ANN001
    """Minutes for one person: check-in to check-out, capped at the event's length (or planned
    time), counted only above the org's minimum attendance share, rounded by the org's rule."""
    cap = event.planned_minutes if event.planned_minutes else event_minutes(event)
    cap = min(cap, MAX_RECORD_MINUTES)
    if registration.state == "no_show":
        return HourLine(registration, None, None, "leader", "no_show")
    if registration.checked_in_at is not None:
        if registration.checked_out_at is None:
            return HourLine(registration, None, None, "checkin", "missing_checkout")
        measured = int((registration.checked_out_at - registration.checked_in_at).total_seconds() // 60)
        by_self = registration.attendance_by_id in (None, registration.user_id)
        source = "checkin" if by_self else "leader"
    elif registration.state == "attended":
        measured, source = cap, "leader"  # marked attended without times: the planned hours
    else:
        return HourLine(registration, None, None, "leader", "not_marked")
    minutes = counted_minutes(measured, cap, settings.rounding_rule, settings.min_attendance_percent)
    if minutes is None:
        return HourLine(registration, 0, measured, source, "below_minimum")
    return HourLine(registration, minutes, measured, source, None if minutes > 0 else "zero")


def counted_minutes(measured: int, cap: int, rule: str, min_attendance_percent: int) -> int | None:
    """The minutes that count: None below the minimum attendance share, else capped and rounded."""
    if min_attendance_percent and measured * 100 < cap * min_attendance_percent:
        return None
    return round_minutes(min(measured, cap), rule)


def roster(event: Event, states=ROSTER_STATES, limit: int | None = None, offset: int = 0) -> list[Registration]:
    stmt = (
        sa.select(Registration)
        .join(User, User.id == Registration.user_id)
        .where(Registration.event_id == event.id, Registration.state.in_(states))
        .options(joinedload(Registration.user))
        .order_by(User.name, Registration.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return list(db.session.scalars(stmt))


def compute_hours(event: Event) -> list[HourLine]:
    settings = effective_settings(event.org)
    return [hour_line(r, event, settings) for r in roster(event)]


def confirm_hours(actor, event: Event, now: datetime | None = None) -> list[ServiceRecord]:
    """Write the service records of `event` from its attendance; once only.

    Refused while someone has checked in without checking out (never counted silently).
    """
    now = now or utcnow()
    if event.state not in RUNNING_STATES:
        raise HoursError("event_not_running")
    if now < event.starts_at:
        raise HoursError("not_started")
    if event.hours_confirmed_at is not None:
        raise HoursError("already_confirmed")
    lines = compute_hours(event)
    missing = [line.registration.user.name for line in lines if line.flag == "missing_checkout"]
    if missing:
        raise HoursError("missing_checkout", names="、".join(missing[:10]), count=len(missing))
    claimed = db.session.execute(
        sa.update(Event)
        .where(Event.id == event.id, Event.hours_confirmed_at.is_(None))
        .values(hours_confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount == 0:
        raise HoursError("already_confirmed")
    db.session.refresh(event)
    already = set(
        db.session.scalars(
            sa.select(ServiceRecord.volunteer_id).where(ServiceRecord.event_id == event.id, is_effective_clause())
        )
    )
    records = []
    for line in lines:
        if not line.minutes or line.registration.user_id in already:
            continue
        record = ServiceRecord(
            volunteer_id=line.registration.user_id,
            event_id=event.id,
            registration_id=line.registration.id,
            minutes=line.minutes,
            source=line.source,
            recorded_by_id=actor.id,
            served_at=event.starts_at,
            org_id=event.org_id,
            created_at=now,
        )
        db.session.add(record)
        records.append(record)
    db.session.flush()
    link = url_for("hours.mine")
    for record in records:
        notify(record.volunteer, "hours_recorded", link=link, event=event.title, hours=_hours_text(record.minutes))
    record_audit(
        actor,
        "hours.confirm",
        event,
        org_id=event.org_id,
        records=len(records),
        minutes=sum(r.minutes for r in records),
    )
    return records


def _hours_text(minutes: int) -> str:
    value = minutes / 60
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


# --- the ledger -------------------------------------------------------------------------------


def is_effective(record: ServiceRecord) -> bool:
    newer = db.session.scalar(sa.select(ServiceRecord.id).where(ServiceRecord.supersedes_id == record.id).limit(1))
    return newer is None


def effective_record_for(volunteer_id: int, event_id: int) -> ServiceRecord | None:
    return db.session.scalar(
        sa.select(ServiceRecord)
        .where(ServiceRecord.volunteer_id == volunteer_id, ServiceRecord.event_id == event_id, is_effective_clause())
        .order_by(ServiceRecord.id.desc())
        .limit(1)
    )


def _check_minutes(minutes: int) -> None:
    if not isinstance(minutes, int) or minutes < 0 or minutes > MAX_RECORD_MINUTES:
        raise HoursError("bad_minutes")


def _insert_record(record: ServiceRecord) -> ServiceRecord:
    """INSERT in a savepoint: a record superseded twice at once becomes a message, not a 500."""
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError as exc:
        raise HoursError("already_corrected") from exc
    return record


def correct_record(actor, record: ServiceRecord, minutes: int, reason: str) -> ServiceRecord:
    """A leader's or coordinator's correction: a new record superseding `record`, with a reason."""
    _check_minutes(minutes)
    reason = (reason or "").strip()
    if not reason:
        raise HoursError("reason_required")
    if not is_effective(record):
        raise HoursError("already_corrected")
    new = _insert_record(
        ServiceRecord(
            volunteer_id=record.volunteer_id,
            event_id=record.event_id,
            registration_id=record.registration_id,
            minutes=minutes,
            source="correction",
            recorded_by_id=actor.id,
            reason=reason[:500],
            supersedes_id=record.id,
            served_at=record.served_at,
            org_id=record.org_id,
        )
    )
    record_audit(
        actor,
        "hours.correct",
        new,
        org_id=record.org_id,
        event_id=record.event_id,
        volunteer_id=record.volunteer_id,
        supersedes=record.id,
        old_minutes=record.minutes,
        new_minutes=minutes,
        reason=reason[:500],
    )
    notify(
        record.volunteer,
        "hours_corrected",
        link=url_for("hours.mine"),
        event=record.event.title,
        hours=_hours_text(minutes),
        reason=reason[:200],
    )
    return new


def add_record(actor, event: Event, volunteer, minutes: int, reason: str) -> ServiceRecord:
    """A leader records hours for someone who has none at this event (补录), with a reason."""
    _check_minutes(minutes)
    reason = (reason or "").strip()
    if not reason:
        raise HoursError("reason_required")
    if effective_record_for(volunteer.id, event.id) is not None:
        raise HoursError("record_exists")
    registration = db.session.scalar(
        sa.select(Registration)
        .where(Registration.event_id == event.id, Registration.user_id == volunteer.id)
        .order_by(Registration.id.desc())
        .limit(1)
    )
    record = _insert_record(
        ServiceRecord(
            volunteer_id=volunteer.id,
            event_id=event.id,
            registration_id=registration.id if registration else None,
            minutes=minutes,
            source="backfill",
            recorded_by_id=actor.id,
            reason=reason[:500],
            served_at=event.starts_at,
            org_id=event.org_id,
        )
    )
    record_audit(
        actor,
        "hours.backfill",
        record,
        org_id=event.org_id,
        event_id=event.id,
        volunteer_id=volunteer.id,
        minutes=minutes,
        reason=reason[:500],
    )
    notify(volunteer, "hours_recorded", link=url_for("hours.mine"), event=event.title, hours=_hours_text(minutes))
    return record


def event_records(event: Event) -> list[tuple[ServiceRecord, bool]]:
    """Every record of `event` (corrections included) with whether it is effective, newest first per person."""
    newer = aliased(ServiceRecord)
    effective = ~sa.exists(sa.select(newer.id).where(newer.supersedes_id == ServiceRecord.id))
    rows = db.session.execute(
        sa.select(ServiceRecord, effective.label("effective"))
        .join(User, User.id == ServiceRecord.volunteer_id)
        .where(ServiceRecord.event_id == event.id)
        .options(joinedload(ServiceRecord.volunteer), joinedload(ServiceRecord.recorded_by))
        .order_by(User.name, ServiceRecord.volunteer_id, ServiceRecord.id.desc())
    ).all()
    return [(record, bool(eff)) for record, eff in rows]


# --- correction requests (补录申请) -------------------------------------------------------------


def _team_leaders(event: Event) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.team_id == event.team_id, Membership.role == "leader", Membership.state == "active")
        )
    )


def request_correction(
    volunteer, event: Event, record: ServiceRecord | None, minutes: int, message: str, now: datetime | None = None
) -> CorrectionRequest:
    """A volunteer asks for a correction of `record`, or for a missing record when `record` is None."""
    now = now or utcnow()
    _check_minutes(minutes)
    message = (message or "").strip()
    if not message:
        raise HoursError("message_required")
    if event.state not in RUNNING_STATES or event.starts_at > now:
        raise HoursError("event_not_past")
    if record is not None:
        if record.volunteer_id != volunteer.id or record.event_id != event.id:
            raise HoursError("not_your_record")
        if not is_effective(record):
            raise HoursError("already_corrected")
    else:
        if effective_record_for(volunteer.id, event.id) is not None:
            raise HoursError("record_exists")
        took_part = db.session.scalar(
            sa.select(Registration.id)
            .where(Registration.event_id == event.id, Registration.user_id == volunteer.id)
            .limit(1)
        )
        if took_part is None:
            raise HoursError("not_registered_for_event")
    request = CorrectionRequest(
        volunteer_id=volunteer.id,
        event_id=event.id,
        record_id=record.id if record else None,
        requested_minutes=minutes,
        message=message[:500],
        state="pending",
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(request)
            db.session.flush()
    except IntegrityError as exc:
        raise HoursError("request_pending") from exc
    record_audit(
        volunteer,
        "hours.request",
        request,
        org_id=event.org_id,
        event_id=event.id,
        record_id=request.record_id,
        minutes=minutes,
    )
    link = url_for("hours.requests")
    for leader in _team_leaders(event):
        notify(leader, "hours_request_new", link=link, name=volunteer.name, event=event.title)
    return request


def _decide(request: CorrectionRequest, actor, state: str, note: str | None, now: datetime) -> None:
    """Move a pending request to `state` with a conditional UPDATE (two deciders: one wins)."""
    result = db.session.execute(
        sa.update(CorrectionRequest)
        .where(CorrectionRequest.id == request.id, CorrectionRequest.state == "pending")
        .values(state=state, decided_by_id=actor.id, decided_at=now, decision_note=note)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:
        raise HoursError("already_decided")
    db.session.refresh(request)


def approve_request(
    actor, request: CorrectionRequest, minutes: int | None = None, note: str | None = None, now=None
) -> ServiceRecord:
    """Approve: write the record the volunteer asked for (a correction or a backfill)."""
    now = now or utcnow()
    minutes = request.requested_minutes if minutes is None else minutes
    _check_minutes(minutes)
    note = (note or "").strip() or None
    if request.state != "pending":
        raise HoursError("already_decided")
    event = request.event
    reason = note or request.message
    if request.record_id is not None:
        old = db.session.get(ServiceRecord, request.record_id)
        if not is_effective(old):
            raise HoursError("already_corrected")
        new = ServiceRecord(
            volunteer_id=old.volunteer_id,
            event_id=old.event_id,
            registration_id=old.registration_id,
            minutes=minutes,
            source="correction",
            recorded_by_id=actor.id,
            reason=reason[:500],
            supersedes_id=old.id,
            served_at=old.served_at,
            org_id=old.org_id,
        )
    else:
        if effective_record_for(request.volunteer_id, event.id) is not None:
            raise HoursError("record_exists")
        registration = db.session.scalar(
            sa.select(Registration.id)
            .where(Registration.event_id == event.id, Registration.user_id == request.volunteer_id)
            .order_by(Registration.id.desc())
            .limit(1)
        )
        new = ServiceRecord(
            volunteer_id=request.volunteer_id,
            event_id=event.id,
            registration_id=registration,
            minutes=minutes,
            source="backfill",
            recorded_by_id=actor.id,
            reason=reason[:500],
            served_at=event.starts_at,
            org_id=event.org_id,
        )
    _decide(request, actor, "approved", note, now)
    _insert_record(new)
    request.result_record_id = new.id
    db.session.flush()
    record_audit(
        actor,
        "hours.request_approve",
        request,
        org_id=event.org_id,
        event_id=event.id,
        volunteer_id=request.volunteer_id,
        record_id=new.id,
        supersedes=new.supersedes_id,
        minutes=minutes,
    )
    notify(
        request.volunteer,
        "hours_request_approved",
        link=url_for("hours.mine"),
        event=event.title,
        hours=_hours_text(minutes),
    )
    return new


def reject_request(actor, request: CorrectionRequest, note: str, now=None) -> None:
    """Reject with a reason the volunteer will read."""
    now = now or utcnow()
    note = (note or "").strip()
    if not note:
        raise HoursError("reason_required")
    _decide(request, actor, "rejected", note[:500], now)
    record_audit(
        actor,
        "hours.request_reject",
        request,
        org_id=request.event.org_id,
        event_id=request.event_id,
        volunteer_id=request.volunteer_id,
        reason=note[:500],
    )
    notify(
        request.volunteer, "hours_request_rejected", link=url_for("hours.mine"), event=request.event.title, reason=note
    )


def pending_requests_for(user, limit: int = 50, offset: int = 0) -> list[CorrectionRequest]:
    """Pending requests on events `user` manages, oldest first."""
    return list(
        db.session.scalars(
            sa.select(CorrectionRequest)
            .join(Event, Event.id == CorrectionRequest.event_id)
            .join(Org, Org.id == Event.org_id)
            .where(CorrectionRequest.state == "pending", managed_events_clause(user))
            .options(joinedload(CorrectionRequest.volunteer), joinedload(CorrectionRequest.event))
            .order_by(CorrectionRequest.created_at, CorrectionRequest.id)
            .limit(limit)
            .offset(offset)
        )
    )


# --- beneficiaries ----------------------------------------------------------------------------


def beneficiaries_of(event: Event) -> dict[str, BeneficiaryCount]:
    rows = db.session.scalars(sa.select(BeneficiaryCount).where(BeneficiaryCount.event_id == event.id))
    return {row.category: row for row in rows}


def save_beneficiaries(actor, event: Event, values: dict[str, tuple[int | None, str | None]]) -> None:
    """Set the people served per category (an empty count removes the category)."""
    if event.state not in RUNNING_STATES:
        raise HoursError("event_not_running")
    if event.starts_at > utcnow():
        raise HoursError("not_started")
    existing = beneficiaries_of(event)
    changed = {}
    for category in BENEFICIARY_CATEGORIES:
        count, note = values.get(category, (None, None))
        note = (note or "").strip()[:300] or None
        served = existing.get(category)
        if count is None or (count == 0 and not note):
            if served is not None:
                changed[category] = [served.count, None]
                db.session.delete(served)
            continue
        if count < 0 or count > 1_000_000:
            raise HoursError("bad_count")
        if served is None:
            db.session.add(
                BeneficiaryCount(event_id=event.id, category=category, count=count, note=note, recorded_by_id=actor.id)
            )
            changed[category] = [None, count]
        elif served.count != count or served.note != note:
            changed[category] = [served.count, count]
            served.count, served.note, served.recorded_by_id = count, note, actor.id
    db.session.flush()
    if changed:
        record_audit(actor, "beneficiaries.update", event, org_id=event.org_id, changed=changed)


def event_summary(event: Event) -> dict:
    """Volunteers, participations (人次), minutes and people served of one event (two queries)."""
    row = db.session.execute(
        sa.select(
            sa.func.count(sa.distinct(ServiceRecord.volunteer_id)),
            sa.func.count(ServiceRecord.id),
            sa.func.coalesce(sa.func.sum(ServiceRecord.minutes), 0),
        ).where(ServiceRecord.event_id == event.id, is_effective_clause())
    ).one()
    served = dict(
        db.session.execute(
            sa.select(BeneficiaryCount.category, BeneficiaryCount.count).where(BeneficiaryCount.event_id == event.id)
        ).all()
    )
    return {
        "volunteers": row[0],
        "participations": row[1],
        "minutes": int(row[2] or 0),
        "beneficiaries": served,
        "beneficiaries_total": sum(served.values()),
    }


# --- my hours ---------------------------------------------------------------------------------


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return local_day_bounds(date(year, 1, 1))[0], local_day_bounds(date(year, 12, 31))[1]


def _totals_columns(start, end, *, window: bool = False) -> list:  # noqa: ANN001 - values or bind parameters
    """year (minutes served in [start, end)), lifetime (minutes) and records of the service records selected:
    aggregates, or with `window` the same over the whole result before LIMIT (every row carries them)."""
    in_year = sa.and_(ServiceRecord.served_at >= start, ServiceRecord.served_at < end)
    totals = {
        "year": sa.func.sum(sa.case((in_year, ServiceRecord.minutes), else_=0)),
        "lifetime": sa.func.sum(ServiceRecord.minutes),
        "records": sa.func.count(ServiceRecord.id),
    }
    if window:
        return [total.over().label(name) for name, total in totals.items()]
    return [(total if name == "records" else sa.func.coalesce(total, 0)).label(name) for name, total in totals.items()]


def _totals_of(row) -> dict[str, int]:  # noqa: ANN001 - a row with _totals_columns
    return {"year": int(row.year or 0), "lifetime": int(row.lifetime or 0), "records": int(row.records or 0)}


def volunteer_totals_select(user_id, start, end) -> sa.Select:  # noqa: ANN001 - values or bind parameters
    """The one-row SELECT behind volunteer_totals: minutes served in [start, end), lifetime minutes and
    records (the home page reads it with more, in a statement built once per process)."""
    return sa.select(*_totals_columns(start, end)).where(ServiceRecord.volunteer_id == user_id, is_effective_clause())


@functools.cache
def _totals_statement():
    """volunteer_totals_select with bound parameters, built once per process (building a statement and
    its cache key cost more than running it)."""
    return volunteer_totals_select(sa.bindparam("volunteer_id"), sa.bindparam("year_start"), sa.bindparam("year_end"))


def volunteer_totals(user, year: int | None = None) -> dict[str, int]:
    """This year's and lifetime minutes of effective records, in one query."""
    start, end = year_bounds(year or local_today().year)
    [row] = fetch(_totals_statement(), {"volunteer_id": user.id, "year_start": start, "year_end": end})
    return _totals_of(row)


def hours_overview(user, totals: dict[str, int] | None = None) -> dict:
    """What the "my hours" page and the home panel show (`totals`: volunteer_totals, if read already)."""
    settings = org_settings_for(user.home_org_id)
    totals = totals if totals is not None else volunteer_totals(user)
    target_minutes = settings.annual_target_hours * 60
    next_threshold = next((t for t in settings.star_thresholds if totals["lifetime"] < t * 60), None)
    return {
        "settings": settings,
        "totals": totals,
        "target_minutes": target_minutes,
        "progress_value": min(totals["year"], target_minutes) if target_minutes else totals["year"],
        "progress_max": target_minutes or max(totals["year"], 1),
        "percent": int(totals["year"] * 100 / target_minutes) if target_minutes else 100,
        "stars": settings.star_level(totals["lifetime"]),
        "next_threshold": next_threshold,
        "year": local_today().year,
    }


@functools.cache
def _my_records_statement():
    moment = ServiceRecord.served_at.type
    return (
        sa.select(
            ServiceRecord.id,
            ServiceRecord.event_id,
            ServiceRecord.minutes,
            ServiceRecord.source,
            ServiceRecord.reason,
            ServiceRecord.served_at,
            Event.title,
            # volunteer_totals over all the volunteer's effective records (window aggregates, computed
            # before LIMIT / OFFSET cut the page): every row of the page carries them
            *_totals_columns(
                sa.bindparam("year_start", type_=moment), sa.bindparam("year_end", type_=moment), window=True
            ),
        )
        .join(Event, Event.id == ServiceRecord.event_id)
        .where(ServiceRecord.volunteer_id == sa.bindparam("volunteer_id"), is_effective_clause())
        .order_by(ServiceRecord.served_at.desc(), ServiceRecord.id.desc())
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )


def my_records(user, limit: int, offset: int = 0) -> tuple[list, dict[str, int] | None]:
    """A page of the volunteer's effective records, newest first (rows with the record's id, event_id,
    minutes, source, reason, served_at and the event's title), and their volunteer_totals for this year
    from the same statement (one round trip less on "my hours"); the totals are None for an empty page
    past the first, where no row carries them."""
    start, end = year_bounds(local_today().year)
    rows = fetch(
        _my_records_statement(),
        {"volunteer_id": user.id, "limit": limit, "offset": offset, "year_start": start, "year_end": end},
    )
    if not rows:
        return rows, ({"year": 0, "lifetime": 0, "records": 0} if offset == 0 else None)
    return rows, _totals_of(rows[0])


@functools.cache
def _my_requests_statement():
    return (
        sa.select(
            CorrectionRequest.id,
            CorrectionRequest.state,
            CorrectionRequest.requested_minutes,
            CorrectionRequest.decision_note,
            Event.title,
        )
        .join(Event, Event.id == CorrectionRequest.event_id)
        .where(
            CorrectionRequest.volunteer_id == sa.bindparam("volunteer_id"),
            sa.or_(CorrectionRequest.state == "pending", CorrectionRequest.decided_at >= sa.bindparam("since")),
        )
        .order_by(CorrectionRequest.created_at.desc())
        .limit(20)
    )


def my_pending_requests(user) -> list:
    """The volunteer's pending requests and those decided in the last 30 days (rows with the event's title)."""
    return fetch(_my_requests_statement(), {"volunteer_id": user.id, "since": utcnow() - timedelta(days=30)})


def my_record_rows(user):
    """All effective records of `user` for the CSV download, oldest first.

    One person's records are a few hundred rows at most, so they are fetched at once (a server-side
    cursor would not outlive the request's transaction on PostgreSQL while the response streams).
    """
    stmt = (
        sa.select(
            ServiceRecord.served_at,
            Event.title,
            Org.name,
            ServiceRecord.minutes,
            ServiceRecord.source,
            ServiceRecord.reason,
        )
        .join(Event, Event.id == ServiceRecord.event_id)
        .join(Org, Org.id == ServiceRecord.org_id)
        .where(ServiceRecord.volunteer_id == user.id, is_effective_clause())
        .order_by(ServiceRecord.served_at, ServiceRecord.id)
    )
    return db.session.execute(stmt).all()


def minutes_by_event(user) -> dict[int, int]:
    """Effective minutes per event for `user` (for rows of the "my events" list)."""
    return dict(
        db.session.execute(
            sa.select(ServiceRecord.event_id, ServiceRecord.minutes).where(
                ServiceRecord.volunteer_id == user.id, is_effective_clause()
            )
        ).all()
    )


@functools.cache
def _requestable_statement():
    volunteer = sa.bindparam("volunteer_id")
    has_record = sa.exists(
        sa.select(ServiceRecord.id).where(
            ServiceRecord.event_id == Event.id, ServiceRecord.volunteer_id == volunteer, is_effective_clause()
        )
    )
    return (
        sa.select(Event.id, Event.title, Event.starts_at)
        .distinct()
        .join(Registration, Registration.event_id == Event.id)
        .where(
            Registration.user_id == volunteer,
            Registration.state.in_(ROSTER_STATES),
            Event.state.in_(RUNNING_STATES),
            Event.starts_at <= sa.bindparam("now"),
            ~has_record,
        )
        .order_by(Event.starts_at.desc())
        .limit(sa.bindparam("limit"))
    )


def requestable_events(user, limit: int = 50) -> list:
    """Past events `user` registered for that have no effective record of theirs (for 补录): rows with
    the event's id, title and starts_at."""
    return fetch(_requestable_statement(), {"volunteer_id": user.id, "now": utcnow(), "limit": limit})


# --- certificates -----------------------------------------------------------------------------


def issuer_setting(org: Org | None) -> str:
    return effective_settings(org).certificate_issuer


def self_service_org_id(user) -> int | None:
    """The org a volunteer's own certificate is issued in: their home org, else their latest record's."""
    if user.home_org_id:
        return user.home_org_id
    return db.session.scalar(
        sa.select(ServiceRecord.org_id)
        .where(ServiceRecord.volunteer_id == user.id)
        .order_by(ServiceRecord.served_at.desc())
        .limit(1)
    )


def can_issue_self(user, org_id: int | None) -> bool:
    """May `user` print their own certificate in this org (its setting says so, or they coordinate it)?"""
    scope = org_scope(org_id)
    return scope is not None and (
        user.is_admin or scope.settings.certificate_issuer == "self" or can_coordinate_path(user, scope.path)
    )


def can_issue_for(actor, volunteer, event: Event) -> bool:
    """May `actor` issue `volunteer` a certificate in the name of `event`'s org?"""
    if not getattr(actor, "is_authenticated", False):
        return False
    if actor.is_admin or can_coordinate(actor, event.org):
        return True
    setting = issuer_setting(event.org)
    if setting == "coordinator":
        return False
    return can_manage(actor, event) and effective_record_for(volunteer.id, event.id) is not None


def certificate_figures(volunteer, start: date, end: date) -> tuple[int, list[dict]]:
    """(minutes, events) of `volunteer`'s effective records served between two local dates."""
    lo, hi = local_day_bounds(start)[0], local_day_bounds(end)[1]
    rows = db.session.execute(
        sa.select(ServiceRecord.minutes, ServiceRecord.served_at, Event.title, Org.name)
        .join(Event, Event.id == ServiceRecord.event_id)
        .join(Org, Org.id == ServiceRecord.org_id)
        .where(
            ServiceRecord.volunteer_id == volunteer.id,
            ServiceRecord.served_at >= lo,
            ServiceRecord.served_at < hi,
            is_effective_clause(),
        )
        .order_by(ServiceRecord.served_at, ServiceRecord.id)
    ).all()
    minutes = sum(r.minutes for r in rows)
    events = [
        {"title": r.title, "date": to_local(r.served_at).date().isoformat(), "minutes": r.minutes, "org": r.name}
        for r in rows
        if r.minutes > 0
    ]
    return minutes, events


def issue_certificate(actor, volunteer, org: Org, start: date, end: date, now: datetime | None = None) -> Certificate:
    """Record an issued certificate (figures frozen now) and audit it."""
    now = now or utcnow()
    if end < start:
        raise HoursError("bad_period")
    if end > to_local(now).date():
        raise HoursError("period_in_future")
    minutes, events = certificate_figures(volunteer, start, end)
    if minutes <= 0:
        raise HoursError("no_hours")
    certificate = Certificate(
        number=f"tmp-{secrets.token_hex(8)}",
        volunteer_id=volunteer.id,
        issued_by_id=actor.id,
        org_id=org.id,
        period_start=start,
        period_end=end,
        minutes=minutes,
        events_count=len(events),
        events_detail=events[-CERTIFICATE_EVENTS:],
        issued_at=now,
    )
    db.session.add(certificate)
    db.session.flush()
    certificate.number = f"QY-{to_local(now).year}-{certificate.id:06d}"
    db.session.flush()
    record_audit(
        actor,
        "certificate.issue",
        certificate,
        org_id=org.id,
        volunteer_id=volunteer.id,
        number=certificate.number,
        minutes=minutes,
        period=[start.isoformat(), end.isoformat()],
    )
    if actor.id != volunteer.id:
        notify(
            volunteer,
            "certificate_issued",
            link=url_for("hours.certificate", certificate_id=certificate.id),
            number=certificate.number,
        )
    return certificate


def can_view_certificate(user, certificate: Certificate) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return (
        user.is_admin
        or user.id in (certificate.volunteer_id, certificate.issued_by_id)
        or can_coordinate(user, certificate.org)
    )


@functools.cache
def _my_certificates_statement():
    return (
        sa.select(
            Certificate.id, Certificate.number, Certificate.period_start, Certificate.period_end, Certificate.minutes
        )
        .where(Certificate.volunteer_id == sa.bindparam("volunteer_id"))
        .order_by(Certificate.issued_at.desc())
        .limit(sa.bindparam("limit"))
    )


def my_certificates(user, limit: int = 10) -> list:
    """The volunteer's latest certificates: rows with id, number, period_start, period_end, minutes."""
    return fetch(_my_certificates_statement(), {"volunteer_id": user.id, "limit": limit})


def mask_name(name: str) -> str:
    """李小青 -> 李*青, 王伟 -> 王*: enough for a verifier, not a full name."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
