"""Events and registration: publishing, one-tap registration with a waitlist, promotion, cancellation.

Seats and waitlist positions are kept right by the database under any concurrency:

- every change to an event's seats or waitlist first locks the event row (`SELECT ... FOR NO KEY
  UPDATE` on PostgreSQL; on SQLite a writing transaction holds the database write lock from
  `BEGIN IMMEDIATE`), so they happen one after another per event;
- a seat is taken only by the conditional `UPDATE events SET confirmed_count = confirmed_count + 1
  WHERE id = :id AND confirmed_count < capacity`, and the CHECK `confirmed_count <= capacity`
  refuses overbooking even from code that forgets;
- the waitlist is numbered 1..n: a new entry gets `waitlist_count + 1` (the counter is bumped in
  the same locked transaction); a cancellation at position p moves everyone behind it up by one;
  promoting k people takes positions 1..k and moves the rest up by k. Each step keeps 1..n gap-free,
  and the lock means no two steps interleave;
- "one active registration per volunteer and event" is a partial unique index; a double tap that
  slips past the check hits it and becomes a message, inside a SAVEPOINT.
"""

from __future__ import annotations

import collections
import contextlib
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import has_request_context, url_for
from flask_babel import force_locale
from sqlalchemy.orm.attributes import set_committed_value

from blueprints.core.audit import record_audit
from blueprints.core.db import adopt, begin_writing, fetch, fetch_beginning
from blueprints.core.extensions import db
from blueprints.core.timeutil import to_local, utcnow
from blueprints.core.translate import lazy_gettext as _l
from blueprints.notifications.services import notify
from blueprints.orgs.services import can_coordinate, coordinator_paths
from blueprints.teams.models import Membership, Team
from blueprints.teams.services import is_leader, is_member, led_team_ids

from .models import DEFAULT_CATEGORIES, Event, EventCategory, Registration

ACTIVE_STATES = ("confirmed", "waitlisted")


def render_message(message) -> str:
    """A lazy message as text: in the request's language, or Chinese outside a request (CLI, jobs)."""
    if has_request_context():
        return str(message)
    with force_locale("zh_CN"):
        return str(message)


class RegistrationError(Exception):
    """Registration refused or cancellation not possible; `.message` is translated for the user."""

    def __init__(self, code: str, message):  # noqa: ANN001 - a lazy_gettext string
        super().__init__(code)
        self.code = code
        self._message = message

    @property
    def message(self) -> str:
        return render_message(self._message)

    def __str__(self) -> str:
        return self.message


class EventError(ValueError):
    """A change to an event that is not allowed; `.field` names the form field it belongs to."""

    def __init__(self, code: str, message, field: str | None = None):  # noqa: ANN001
        super().__init__(code)
        self.code = code
        self._message = message
        self.field = field

    @property
    def message(self) -> str:
        return render_message(self._message)


# --- formatting for notifications (stored, so language-neutral) --------------------------------


def when_text(event: Event) -> str:
    """'2026-11-25 14:00–17:00' in local time (stored in notifications; reads the same in both languages)."""
    start, end = to_local(event.starts_at), to_local(event.ends_at)
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"


def place_text(event: Event) -> str:
    if event.booking_id and event.booking is not None:
        venue = event.booking.venue
        return f"{venue.name}{(' · ' + venue.address) if venue.address else ''}"
    return event.address or ""


def _event_link(event: Event) -> str:
    """The event page's path (also outside a request: CLI, demo data, other blueprints' jobs)."""
    if has_request_context():
        return url_for("events.show", event_id=event.id)
    return f"/events/{event.id}"


# --- permissions --------------------------------------------------------------------------------


def can_manage_event(user, event: Event) -> bool:
    """Leaders of the event's team, coordinators of its org (or above), admins."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_admin:
        return True
    if event.team_id in led_team_ids(user):  # no query for someone who leads no team (the layout's facts)
        return True
    # the event's org is loaded only for someone who coordinates somewhere
    return bool(coordinator_paths(user)) and can_coordinate(user, event.org)


def can_create_event(user, team: Team) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_admin or is_leader(user, team) or can_coordinate(user, team.org))


# --- categories ---------------------------------------------------------------------------------


def ensure_categories() -> None:
    """Create the default service categories when the table is empty (a fresh database)."""
    if db.session.scalar(sa.select(EventCategory.id).limit(1)) is not None:
        return
    try:
        with db.session.begin_nested():
            for position, (code, zh, en) in enumerate(DEFAULT_CATEGORIES):
                db.session.add(EventCategory(code=code, name_zh=zh, name_en=en, position=position, active=True))
            db.session.flush()
    except sa.exc.IntegrityError:
        pass  # another process created them at the same moment


def categories(include_inactive: bool = False) -> list[EventCategory]:
    """The service categories in their order (one query; the defaults are created on first use)."""
    stmt = sa.select(EventCategory).order_by(EventCategory.position, EventCategory.id)
    rows = list(db.session.scalars(stmt))
    if not rows:
        ensure_categories()
        rows = list(db.session.scalars(stmt))
    return rows if include_inactive else [c for c in rows if c.active]


def add_category(actor, code: str, name_zh: str, name_en: str) -> EventCategory:
    if db.session.scalar(sa.select(EventCategory.id).where(EventCategory.code == code)) is not None:
        raise EventError("code_taken", _l("Another category already has this code."), "code")
    position = (db.session.scalar(sa.select(sa.func.max(EventCategory.position))) or 0) + 1
    category = EventCategory(code=code, name_zh=name_zh.strip(), name_en=name_en.strip(), position=position)
    db.session.add(category)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise EventError("code_taken", _l("Another category already has this code."), "code") from exc
    record_audit(actor, "category.create", category, code=code)
    return category


def update_category(actor, category: EventCategory, name_zh: str, name_en: str, position: int | None) -> None:
    changed = {}
    for key, value in (("name_zh", name_zh.strip()), ("name_en", name_en.strip()), ("position", position)):
        if value is not None and getattr(category, key) != value:
            changed[key] = [getattr(category, key), value]
            setattr(category, key, value)
    db.session.flush()
    if changed:
        record_audit(actor, "category.update", category, changed=changed)


def set_category_active(actor, category: EventCategory, active: bool) -> None:
    """Deactivated categories keep their events but are not offered for new ones."""
    category.active = active
    db.session.flush()
    record_audit(actor, "category.activate" if active else "category.deactivate", category)


# --- locations ----------------------------------------------------------------------------------


def bookable_bookings(team: Team, keep_id: int | None = None, now: datetime | None = None) -> list:
    """Approved youth-home bookings a leader of `team` made that end in the future and no other
    live event uses (plus `keep_id`, the booking the event already has)."""
    from blueprints.venues.models import Booking

    now = now or utcnow()
    leaders = sa.select(Membership.user_id).where(
        Membership.team_id == team.id, Membership.role == "leader", Membership.state == "active"
    )
    used = sa.select(Event.booking_id).where(
        Event.booking_id.is_not(None), Event.state.in_(("draft", "published", "completed"))
    )
    if keep_id is not None:
        used = used.where(Event.booking_id != keep_id)
    stmt = (
        sa.select(Booking)
        .where(
            Booking.state == "approved",
            Booking.requester_id.in_(leaders),
            Booking.id.not_in(used),
            sa.or_(Booking.ends_at > now, Booking.id == keep_id) if keep_id else Booking.ends_at > now,
        )
        .options(sa.orm.joinedload(Booking.venue))
        .order_by(Booking.starts_at)
        .limit(100)
    )
    return list(db.session.scalars(stmt))


def _check_booking(team: Team, booking_id: int | None, starts_at: datetime, ends_at: datetime, keep_id=None):
    if not booking_id:
        return None
    booking = next((b for b in bookable_bookings(team, keep_id=keep_id) if b.id == booking_id), None)
    if booking is None:
        raise EventError(
            "booking", _l("Choose one of the team's approved youth-home bookings that is still free."), "booking_id"
        )
    if starts_at < booking.starts_at or ends_at > booking.ends_at:
        start, end = to_local(booking.starts_at), to_local(booking.ends_at)
        raise EventError(
            "booking_time",
            _l("The event must take place within the booking: %(when)s.", when=f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"),
            "starts_at",
        )
    return booking


# --- events -------------------------------------------------------------------------------------


@dataclass
class EventData:
    """What a leader sets on an event (already validated by the form)."""

    title: str
    description: str
    category_id: int
    starts_at: datetime
    ends_at: datetime
    booking_id: int | None
    address: str
    capacity: int
    reg_opens_at: datetime | None
    reg_closes_at: datetime | None
    members_only: bool
    allow_walk_ins: bool
    planned_minutes: int | None


def _check_category(category_id: int, current: int | None = None) -> None:
    category = db.session.get(EventCategory, category_id)
    if category is None or (not category.active and category_id != current):
        raise EventError("category", _l("Choose a service category from the list."), "category_id")


def create_event(actor, team: Team, data: EventData, publish: bool = False) -> Event:
    """A new event of `team` (a draft, or published at once). Flushes; the caller commits."""
    _check_category(data.category_id)
    booking = _check_booking(team, data.booking_id, data.starts_at, data.ends_at)
    event = Event(
        team_id=team.id,
        org_id=team.org_id,
        category_id=data.category_id,
        title=data.title,
        description=data.description or "",
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        booking_id=booking.id if booking else None,
        address=data.address or "",
        capacity=data.capacity,
        reg_opens_at=data.reg_opens_at,
        reg_closes_at=data.reg_closes_at,
        members_only=data.members_only,
        allow_walk_ins=data.allow_walk_ins,
        planned_minutes=data.planned_minutes,
        state="draft",
        created_by_id=actor.id,
    )
    event.team = team
    db.session.add(event)
    db.session.flush()
    record_audit(actor, "event.create", event, org_id=event.org_id, title=event.title)
    if publish:
        publish_event(actor, event)
    return event


def update_event(actor, event: Event, data: EventData) -> list[Registration]:
    """Change an event; registrants of a published event hear about a new time or place.

    Returns the registrations promoted from the waitlist when the capacity was raised.
    """
    if event.state in ("cancelled", "completed"):
        raise EventError("closed", _l("A cancelled or completed event cannot be changed."))
    _check_category(data.category_id, current=event.category_id)
    booking = _check_booking(event.team, data.booking_id, data.starts_at, data.ends_at, keep_id=event.booking_id)
    moved = (
        event.starts_at != data.starts_at
        or event.ends_at != data.ends_at
        or (event.booking_id or None) != (booking.id if booking else None)
        or (not booking and event.address != (data.address or ""))
    )
    changed = {}
    for key in (
        "title",
        "description",
        "category_id",
        "starts_at",
        "ends_at",
        "address",
        "reg_opens_at",
        "reg_closes_at",
        "members_only",
        "allow_walk_ins",
        "planned_minutes",
    ):
        value = getattr(data, key)
        if key == "description":
            value = value or ""
        if getattr(event, key) != value:
            old = getattr(event, key)
            changed[key] = [_audit_value(old), _audit_value(value)]
            setattr(event, key, value)
    new_booking_id = booking.id if booking else None
    if event.booking_id != new_booking_id:
        changed["booking_id"] = [event.booking_id, new_booking_id]
        event.booking_id = new_booking_id
        event.booking = booking
    if not booking:
        event.address = data.address or ""
    promoted: list[Registration] = []
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise EventError("invalid", _l("These dates do not fit together. Check the times.")) from exc
    if data.capacity != event.capacity:
        promoted = change_capacity(actor, event, data.capacity)
    if changed:
        record_audit(actor, "event.update", event, org_id=event.org_id, changed=changed)
    if moved and event.state == "published":
        link = _event_link(event)
        for user in _registrants(event):
            notify(user, "event_changed", link=link, title=event.title, when=when_text(event), place=place_text(event))
    return promoted


def _audit_value(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _registrants(event: Event) -> Iterable:
    from blueprints.auth.models import User

    return db.session.scalars(
        sa.select(User)
        .join(Registration, Registration.user_id == User.id)
        .where(Registration.event_id == event.id, Registration.state.in_(ACTIVE_STATES))
    )


def publish_event(actor, event: Event, now: datetime | None = None) -> None:
    now = now or utcnow()
    if event.state != "draft":
        raise EventError("not_draft", _l("Only a draft can be published."))
    if event.ends_at <= now:
        raise EventError("past", _l("This event is over; it cannot be published any more."))
    event.state = "published"
    db.session.flush()
    record_audit(actor, "event.publish", event, org_id=event.org_id)


def complete_event(actor, event: Event, now: datetime | None = None) -> None:
    """Mark a published event that has started as completed (hours can then be recorded)."""
    now = now or utcnow()
    if event.state != "published":
        raise EventError("not_published", _l("Only a published event can be completed."))
    if event.starts_at > now:
        raise EventError("not_started", _l("The event has not started yet."))
    event.state = "completed"
    db.session.flush()
    record_audit(actor, "event.complete", event, org_id=event.org_id)


def cancel_event(actor, event: Event, reason: str, now: datetime | None = None) -> int:
    """Cancel with a reason; every active registration ends and its volunteer is told why.

    Returns how many volunteers were notified.
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise EventError("reason", _l("Give a reason; registered volunteers will read it."), "reason")
    event = lock_event(event)
    if event.state not in ("draft", "published"):
        raise EventError("closed", _l("Only a draft or published event can be cancelled."))
    was_published = event.state == "published"
    users = list(_registrants(event))
    db.session.execute(
        sa.update(Registration)
        .where(Registration.event_id == event.id, Registration.state.in_(ACTIVE_STATES))
        .values(state="cancelled", waitlist_position=None, cancelled_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(Event)
        .where(Event.id == event.id)
        .values(state="cancelled", cancel_reason=reason[:500], confirmed_count=0, waitlist_count=0, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    _expire_event(event)
    record_audit(actor, "event.cancel", event, org_id=event.org_id, reason=reason, registrations=len(users))
    if was_published:
        link = _event_link(event)
        for user in users:
            notify(user, "event_cancelled", link=link, title=event.title, when=when_text(event), reason=reason)
    return len(users) if was_published else 0


def change_capacity(actor, event: Event, capacity: int) -> list[Registration]:
    """Set the number of places: never below the confirmed count; raising it promotes from the waitlist."""
    if capacity < 1:
        raise EventError("capacity", _l("Enter a number of places from 1 to 10000."), "capacity")
    event = lock_event(event)
    if event.state in ("cancelled", "completed"):
        raise EventError("closed", _l("A cancelled or completed event cannot be changed."))
    if capacity < event.confirmed_count:
        raise EventError(
            "below_confirmed",
            _l(
                "%(n)s volunteers are already confirmed. Cancel some registrations first, or keep at least %(n)s places.",
                n=event.confirmed_count,
            ),
            "capacity",
        )
    old = event.capacity
    if old == capacity:
        return []
    db.session.execute(
        sa.update(Event)
        .where(Event.id == event.id, Event.confirmed_count <= capacity)
        .values(capacity=capacity)
        .execution_options(synchronize_session=False)
    )
    _expire_event(event)
    record_audit(actor, "event.capacity", event, org_id=event.org_id, old=old, new=capacity)
    return promote_waitlist(event) if capacity > old else []


# --- registration -------------------------------------------------------------------------------


_LOCKED = "qingyi_locked_events"


@functools.cache
def _locked_event_statement(with_volunteer: bool = False):
    statement = sa.select(*Event.__table__.columns).where(Event.id == sa.bindparam("event_id"))
    if with_volunteer:
        # PostgreSQL runs the uncorrelated EXISTS once, as an InitPlan, before it reads the event's row:
        # the volunteer's row is locked first, as lock_volunteer() would, in the same round trip
        from blueprints.auth.models import User

        volunteer = sa.select(User.id).where(User.id == sa.bindparam("volunteer_id")).with_for_update(key_share=True)
        statement = statement.where(volunteer.exists())
    return statement.with_for_update(key_share=True, of=Event.__table__)


@functools.cache
def _seat_statements():
    """register's and cancel's writes, built once (Core statements on the session's connection). Each
    returns the row it leaves, which the object in the session takes as loaded (adopt with refresh): the
    answer renders without reading the event or the registration again. Every value is in the statement (the
    timestamps from `now`, not from the columns' Python defaults), so fetch() runs them on the driver's cursor."""
    event_id = sa.bindparam("event")
    now = sa.bindparam("now", type_=Event.updated_at.type)
    event_row = Event.__table__.columns
    registration_row = Registration.__table__.columns
    return {
        "take_seat": sa.update(Event)
        .where(Event.id == event_id, Event.state == "published", Event.confirmed_count < Event.capacity)
        .values(confirmed_count=Event.confirmed_count + 1, updated_at=now)
        .returning(*event_row),
        "join_waitlist": sa.update(Event)
        .where(Event.id == event_id)
        .values(waitlist_count=Event.waitlist_count + 1, updated_at=now)
        .returning(*event_row),
        "free_seat": sa.update(Event)
        .where(Event.id == event_id)
        .values(confirmed_count=Event.confirmed_count - 1, updated_at=now)
        .returning(*event_row),
        "leave_waitlist": sa.update(Event)
        .where(Event.id == event_id)
        .values(waitlist_count=Event.waitlist_count - 1, updated_at=now)
        .returning(*event_row),
        "add_registration": sa.insert(Registration)
        .values(
            event_id=sa.bindparam("event_id"),
            user_id=sa.bindparam("user_id"),
            state=sa.bindparam("state"),
            waitlist_position=sa.bindparam("waitlist_position"),
            walk_in=sa.bindparam("walk_in"),
            created_at=now,
            updated_at=now,
        )
        .returning(*registration_row),
        "cancel_registration": sa.update(Registration)
        .where(Registration.id == sa.bindparam("registration"))
        .values(state="cancelled", waitlist_position=None, cancelled_at=now, updated_at=now)
        .returning(*registration_row),
        "close_gap": sa.update(Registration)
        .where(
            Registration.event_id == event_id,
            Registration.state == "waitlisted",
            Registration.waitlist_position > sa.bindparam("after_position"),
        )
        .values(waitlist_position=Registration.waitlist_position - 1, updated_at=now),
    }


@functools.cache
def _combined_statements():
    """PostgreSQL: two of the writes above as one statement (data-modifying CTEs), one round trip instead of
    two while the event's lock is held. Each row holds the event's columns as e_<column> and the
    registration's as r_<column> (see _parts)."""
    writes = _seat_statements()
    now = sa.bindparam("now", type_=Event.updated_at.type)

    def joined(event_cte, registration_cte):  # noqa: ANN001, ANN202
        return sa.select(
            *(event_cte.c[c.key].label(f"e_{c.key}") for c in Event.__table__.columns),
            *(registration_cte.c[c.key].label(f"r_{c.key}") for c in Registration.__table__.columns),
        ).select_from(event_cte.join(registration_cte, registration_cte.c.event_id == event_cte.c.id))

    seat = writes["take_seat"].cte("seat")
    # the registration is inserted only when the seat was taken (its row comes from the seat's)
    added = (
        sa.insert(Registration)
        .from_select(
            ["event_id", "user_id", "state", "waitlist_position", "walk_in", "created_at", "updated_at"],
            sa.select(
                seat.c.id,
                sa.bindparam("user_id", type_=sa.Integer),
                sa.literal("confirmed", sa.String),
                sa.null(),
                sa.bindparam("walk_in", type_=sa.Boolean),
                now,
                now,
            ),
        )
        .returning(*Registration.__table__.columns)
        .cte("added")
    )
    cancelled = writes["cancel_registration"].cte("cancelled")
    freed = writes["free_seat"].cte("freed")
    return {"seat_and_register": joined(seat, added), "cancel_and_free_seat": joined(freed, cancelled)}


def _parts(row) -> tuple:  # noqa: ANN001 - a row of _combined_statements
    """(the event's row, the registration's row) of a combined statement's row, for adopt()."""
    return _EventRow(*row[: len(_EventRow._fields)]), _RegistrationRow(*row[len(_EventRow._fields) :])


_EventRow = collections.namedtuple("_EventRow", [c.key for c in Event.__table__.columns])
_RegistrationRow = collections.namedtuple("_RegistrationRow", [c.key for c in Registration.__table__.columns])


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _run(name: str, **params) -> list:  # noqa: ANN003
    """The rows a write of _seat_statements returns (none for close_gap)."""
    statement = _seat_statements()[name]
    if statement._returning:
        return fetch(statement, params)
    db.session.connection().execute(statement, params)
    return []


def locked_event(event_id: int, volunteer=None) -> Event | None:  # noqa: ANN001 - a User
    """Read the event row and lock it for this transaction (None when there is no such event).

    PostgreSQL: FOR NO KEY UPDATE (registrations referencing the event can still be inserted).
    SQLite: the statement needs no lock clause; a writing transaction already holds the database
    write lock from BEGIN IMMEDIATE. The row is read afresh (populate_existing): its counters are the
    ones the lock protects. volunteer: lock_volunteer(volunteer) first (on PostgreSQL by the same statement).
    """
    begin_writing()
    db.session.flush()  # as a query's autoflush would (nothing to do for a clean session)
    locked_volunteers = db.session.info.setdefault(_LOCKED_VOLUNTEERS, set())
    if volunteer is not None and volunteer.id in locked_volunteers:
        volunteer = None
    if volunteer is not None and not _postgresql():
        lock_volunteer(volunteer)
        volunteer = None
    if volunteer is None:
        rows = fetch_beginning(_locked_event_statement(), {"event_id": event_id})
    else:
        rows = fetch_beginning(_locked_event_statement(True), {"event_id": event_id, "volunteer_id": volunteer.id})
    if not rows:
        return None
    if volunteer is not None:
        locked_volunteers.add(volunteer.id)
    db.session.info.setdefault(_LOCKED, set()).add(event_id)
    return adopt(Event, rows[0], refresh=True)


def lock_event(event: Event) -> Event:
    """Lock the event row for this transaction and reload its counters — once a transaction: after that
    the lock is held, and what the transaction's own UPDATEs changed is expired (reloaded when read)."""
    if event.id in db.session.info.get(_LOCKED, ()):
        return event
    return locked_event(event.id)


@sa.event.listens_for(sa.orm.Session, "after_commit")
@sa.event.listens_for(sa.orm.Session, "after_rollback")
@sa.event.listens_for(sa.orm.Session, "after_soft_rollback")
def _locks_released(session, *args) -> None:  # noqa: ANN001 - a savepoint rolled back releases its locks too
    session.info.pop(_LOCKED, None)
    session.info.pop(_LOCKED_VOLUNTEERS, None)


_LOCKED_VOLUNTEERS = "qingyi_locked_volunteers"


def lock_volunteer(user) -> None:
    """Serialise one volunteer's registrations, so two taps at overlapping events cannot both win — once a
    transaction. Taken before the event's lock, always (one order for every path: no deadlock)."""
    from blueprints.auth.models import User

    begin_writing()
    locked = db.session.info.setdefault(_LOCKED_VOLUNTEERS, set())
    if user.id in locked:
        return
    if _postgresql():
        db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update(key_share=True))
    locked.add(user.id)


def _expire_event(event: Event) -> None:
    db.session.expire(event, ["confirmed_count", "waitlist_count", "capacity", "state", "cancel_reason"])


def _expire_registrations(event_id: int) -> None:
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Registration) and obj.event_id == event_id:
            db.session.expire(obj, ["state", "waitlist_position", "cancelled_at", "updated_at"])


@functools.cache
def _active_statement():
    return sa.select(*Registration.__table__.columns).where(
        Registration.event_id == sa.bindparam("event_id"),
        Registration.user_id == sa.bindparam("user_id"),
        Registration.state != "cancelled",
    )


def active_registration(event: Event, user) -> Registration | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    db.session.flush()  # as a query's autoflush would (nothing to do for a clean session)
    rows = fetch(_active_statement(), {"event_id": event.id, "user_id": user.id})
    return adopt(Registration, rows[0]) if rows else None


def registration_closes_at(event: Event) -> datetime:
    """Registration ends at the window's end, or at the start of the event, whichever comes first."""
    if event.reg_closes_at is not None and event.reg_closes_at < event.starts_at:
        return event.reg_closes_at
    return event.starts_at


def registration_status(event: Event, now: datetime | None = None) -> str:
    """'open', 'not_yet', 'closed', 'over', 'cancelled' or 'draft' (for showing the right button)."""
    now = now or utcnow()
    if event.state == "cancelled":
        return "cancelled"
    if event.state == "draft":
        return "draft"
    if event.state == "completed" or event.ends_at <= now:
        return "over"
    if event.reg_opens_at is not None and now < event.reg_opens_at:
        return "not_yet"
    if now >= registration_closes_at(event):
        return "closed"
    return "open"


def _local_text(value: datetime) -> str:
    return f"{to_local(value):%Y-%m-%d %H:%M}"


def _check_registrable(event: Event, user, walk_in: bool, now: datetime) -> None:
    if event.state == "cancelled":
        raise RegistrationError("cancelled", _l("This event was cancelled."))
    if event.state == "completed" or event.ends_at <= now:
        raise RegistrationError("past", _l("This event has already taken place."))
    if event.state != "published":
        raise RegistrationError("not_published", _l("This event is not open for registration."))
    if walk_in:
        if not event.allow_walk_ins:
            raise RegistrationError("no_walk_ins", _l("This event does not admit walk-ins."))
    else:
        if event.reg_opens_at is not None and now < event.reg_opens_at:
            raise RegistrationError(
                "not_open_yet", _l("Registration opens on %(when)s.", when=_local_text(event.reg_opens_at))
            )
        if now >= registration_closes_at(event):
            raise RegistrationError("closed", _l("Registration for this event has closed."))
    if event.members_only and not is_member(user, event.team):
        raise RegistrationError(
            "members_only",
            _l("Only members of %(team)s can register. Join the team first.", team=event.team.name),
        )


def _already(registration: Registration) -> RegistrationError:
    if registration.state == "waitlisted":
        return RegistrationError(
            "already_registered",
            _l("You are already on the waitlist, at position %(n)s.", n=registration.waitlist_position),
        )
    return RegistrationError("already_registered", _l("You are already registered for this event."))


@functools.cache
def _place_statement():
    """The user's place at the event (any state but cancelled) and, ordered after it, their first confirmed or
    waitlisted place at another live event overlapping it: register's two checks in one round trip."""
    here = Registration.event_id == sa.bindparam("event_id")
    return (
        sa.select(*Registration.__table__.columns, here.label("here"))
        .join(Event, Event.id == Registration.event_id)
        .where(
            Registration.user_id == sa.bindparam("user_id"),
            sa.or_(
                sa.and_(here, Registration.state != "cancelled"),
                sa.and_(
                    Registration.event_id != sa.bindparam("event_id"),
                    Registration.state.in_(ACTIVE_STATES),
                    Event.state == "published",
                    Event.starts_at < sa.bindparam("ends_at", type_=Event.starts_at.type),
                    Event.ends_at > sa.bindparam("starts_at", type_=Event.ends_at.type),
                ),
            ),
        )
        .order_by(here.desc(), Event.starts_at)
        .limit(1)
    )


def _check_no_place(event: Event, user) -> None:
    """Raise when the user already has a place at `event`, or one at another event that overlaps it."""
    db.session.flush()  # as a query's autoflush would (nothing to do for a clean session)
    rows = fetch(
        _place_statement(),
        {"user_id": user.id, "event_id": event.id, "starts_at": event.starts_at, "ends_at": event.ends_at},
    )
    if not rows:
        return
    if rows[0].here:
        raise _already(adopt(Registration, rows[0]))
    other = db.session.get(Event, rows[0].event_id)
    raise RegistrationError(
        "overlap",
        _l(
            "You already have a place at “%(title)s” (%(when)s), which overlaps this event. "
            "Cancel that one first if you would rather come to this one.",
            title=other.title,
            when=when_text(other),
        ),
    )


def _undo_on_error():  # noqa: ANN202 - a context manager
    """What register() writes, undone if it fails: a savepoint on SQLite, where a failed statement leaves the
    transaction open with the seat already counted. On PostgreSQL a failed statement aborts the transaction,
    and nothing of it can be committed any more (COMMIT becomes ROLLBACK), so a savepoint's two round trips
    (SAVEPOINT, RELEASE: ~0.3 ms inside the event's lock) buy nothing; the caller rolls back, as it does for
    every RegistrationError (the register view; a walk-in runs in a savepoint of its own)."""
    if _postgresql():
        return contextlib.nullcontext()
    return db.session.begin_nested()


def register(event: Event, user, *, walk_in: bool = False, now: datetime | None = None) -> Registration:
    """Register `user` for `event`: a confirmed seat if one is free, else a place on the waitlist.

    walk_in=True admits someone at the door: confirmed even outside the registration window, when
    the event allows walk-ins and a seat is free (no waitlist at the door).
    Raises RegistrationError when registration is not possible: nothing written, but after a write the
    database refused (a second active registration, which the locks taken here leave to writers that bypass
    them) the caller must roll back, as it does for a refusal anyway. Flushes; the caller commits.
    """
    now = now or utcnow()
    lock_volunteer(user)
    event = lock_event(event)
    _check_registrable(event, user, walk_in, now)
    _check_no_place(event, user)
    db.session.flush()  # the Core statements below do not autoflush (nothing to do for a clean session)
    try:
        with _undo_on_error():
            combined = None
            # PostgreSQL: the seat and the registration by one statement (the counters were read under the
            # event's lock: a free seat is there to take)
            if _postgresql() and event.state == "published" and event.confirmed_count < event.capacity:
                combined = fetch(
                    _combined_statements()["seat_and_register"],
                    {"event": event.id, "user_id": user.id, "walk_in": walk_in, "now": now},
                )
            if combined:
                seated, row = _parts(combined[0])
            else:
                if rows := _run("take_seat", event=event.id, now=now):
                    seated = rows[0]
                    state, position = "confirmed", None
                elif walk_in:
                    raise RegistrationError("full", _l("All places are taken; walk-ins cannot be admitted."))
                else:
                    seated = _run("join_waitlist", event=event.id, now=now)[0]
                    state, position = "waitlisted", seated.waitlist_count
                row = _run(
                    "add_registration",
                    event_id=event.id,
                    user_id=user.id,
                    state=state,
                    waitlist_position=position,
                    walk_in=walk_in,
                    now=now,
                )[0]
            registration = adopt(Registration, row, refresh=True)
    except sa.exc.IntegrityError as exc:
        _expire_event(event)
        raise RegistrationError("already_registered", _l("You are already registered for this event.")) from exc
    adopt(Event, seated, refresh=True)  # the counters as the UPDATE left them
    # loaded state, as a query would leave it (assigning would mark the registration changed: a flush at commit)
    set_committed_value(registration, "event", event)
    return registration


def cancel_registration(
    registration: Registration, by, *, now: datetime | None = None, read_after_lock: bool = False
) -> list[Registration]:
    """Give up a place (the volunteer, or a manager of the event). A freed seat goes at once to the
    first on the waitlist, who is notified. Returns the registrations promoted. read_after_lock: the
    caller read `registration` after locking its event in this transaction (no second read needed)."""
    now = now or utcnow()
    event = lock_event(registration.event)
    if not (read_after_lock and event.id in db.session.info.get(_LOCKED, ())):
        db.session.refresh(registration)
    manager = can_manage_event(by, event)
    if by.id != registration.user_id and not manager:
        raise RegistrationError("forbidden", _l("You cannot change someone else's registration."))
    if registration.state == "cancelled":
        raise RegistrationError("already_cancelled", _l("This registration is already cancelled."))
    if registration.state not in ACTIVE_STATES:
        raise RegistrationError("attendance", _l("Attendance is already recorded; this place cannot be cancelled."))
    if event.state in ("completed", "cancelled"):
        raise RegistrationError("closed", _l("This event is over; its registrations cannot change."))
    if registration.state == "confirmed" and not manager and event.starts_at <= now:
        raise RegistrationError("started", _l("The event has started. Ask the team leader to change your place."))
    promoted: list[Registration] = []
    db.session.flush()  # the Core statements below do not autoflush (nothing to do for a clean session)
    confirmed, position = registration.state == "confirmed", registration.waitlist_position
    if confirmed and _postgresql():  # the place and its seat given up by one statement
        freed, cancelled = _parts(
            fetch(
                _combined_statements()["cancel_and_free_seat"],
                {"registration": registration.id, "event": event.id, "now": now},
            )[0]
        )
        adopt(Registration, cancelled, refresh=True)
        adopt(Event, freed, refresh=True)
    else:
        adopt(Registration, _run("cancel_registration", registration=registration.id, now=now)[0], refresh=True)
        if confirmed:
            adopt(Event, _run("free_seat", event=event.id, now=now)[0], refresh=True)
        else:
            _run("close_gap", event=event.id, after_position=position, now=now)
            adopt(Event, _run("leave_waitlist", event=event.id, now=now)[0], refresh=True)
            _expire_registrations(event.id)
    if confirmed:  # its seat goes to the first on the waitlist
        promoted = promote_waitlist(event)
    if by.id != registration.user_id:
        notify(
            registration.user,
            "registration_cancelled",
            link=_event_link(event),
            title=event.title,
            when=when_text(event),
        )
        record_audit(by, "registration.cancel", registration, org_id=event.org_id, user_id=registration.user_id)
    return promoted


def promote_waitlist(event: Event) -> list[Registration]:
    """Fill free seats from the head of the waitlist, at once; each promoted volunteer is notified."""
    event = lock_event(event)
    free = event.capacity - event.confirmed_count
    # the waitlist's count is kept under the same lock as the seats: none waiting, nothing to read
    if free <= 0 or event.state != "published" or event.waitlist_count <= 0:
        return []
    batch = list(
        db.session.scalars(
            sa.select(Registration)
            .where(Registration.event_id == event.id, Registration.state == "waitlisted")
            .order_by(Registration.waitlist_position, Registration.id)
            .limit(free)
        )
    )
    k = len(batch)
    if not k:
        return []
    taken = db.session.execute(
        sa.update(Event)
        .where(Event.id == event.id, Event.confirmed_count + k <= Event.capacity)
        .values(confirmed_count=Event.confirmed_count + k, waitlist_count=Event.waitlist_count - k)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # cannot happen while the row is locked; never overbook if it does
        return []
    for registration in batch:
        registration.state = "confirmed"
        registration.waitlist_position = None
    db.session.flush()
    db.session.execute(
        sa.update(Registration)
        .where(Registration.event_id == event.id, Registration.state == "waitlisted")
        .values(waitlist_position=Registration.waitlist_position - k)
        .execution_options(synchronize_session=False)
    )
    _expire_event(event)
    _expire_registrations(event.id)
    link = _event_link(event)
    users = {u.id: u for u in _users([r.user_id for r in batch])}
    for registration in batch:
        notify(users[registration.user_id], "waitlist_promoted", link=link, title=event.title, when=when_text(event))
    return batch


def _users(ids: list[int]) -> list:
    from blueprints.auth.models import User

    return list(db.session.scalars(sa.select(User).where(User.id.in_(ids))))
