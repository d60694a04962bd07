"""Youth homes: who may manage them, booking rules, requests, approval, cancellation, availability.

Every state change of a booking takes the venue's row lock first (PostgreSQL `SELECT … FOR UPDATE`;
SQLite writers are already serialised by `BEGIN IMMEDIATE`), so two approvals of overlapping requests
queue instead of deadlocking; the database's exclusion constraint / trigger stays the last word on
"two approved bookings never overlap", and its violation becomes a message, never a 500.
Services flush; the view commits once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import g, has_request_context, url_for
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload

from blueprints.auth.models import User
from blueprints.core.audit import record_audit
from blueprints.core.db import fetch
from blueprints.core.extensions import db
from blueprints.core.registry import BADGE_COUNT_CAP
from blueprints.core.timeutil import local_day_bounds, local_to_utc, local_today, to_local, utcnow
from blueprints.core.translate import gettext as _
from blueprints.core.translate import lazy_gettext as _l
from blueprints.notifications.services import notify
from blueprints.orgs.models import CoordinatorGrant, Org
from blueprints.orgs.services import can_coordinate, coordinator_paths, fact_says_none, scope_clause

from .models import Booking, Closure, OpeningHours, Venue, VenueManager

#: stored as the decision note of requests rejected because another one was approved; shown translated
SLOT_TAKEN_NOTE = "time slot taken"
SLOT_TAKEN_LABEL = _l("time slot taken")
SLOT_JUST_TAKEN = _l("That time slot was just taken by another approved booking. Nothing was changed.")
QUEUE_PAGE = 10
#: the approval queue's filter is a list of youth homes up to this many homes with requests, a name
#: search beyond (a city's 200 homes made a 11 KB select)
QUEUE_FILTER_LIST = 40


class BookingRefused(ValueError):
    """A request that breaks the venue's rules: `problems` maps form fields to messages."""

    def __init__(self, problems: dict[str, list[str]]):
        super().__init__("; ".join(str(m) for ms in problems.values() for m in ms))
        self.problems = problems


class BookingStateError(ValueError):
    """A decision or cancellation that does not fit the booking's state; the message is for the user."""

    def __init__(self, message):  # noqa: ANN001 - str or lazy string
        super().__init__(str(message))
        self.message = str(message)


class VenueError(ValueError):
    """A venue admin change that is not allowed; `field` says where to show the message."""

    def __init__(self, message, field: str | None = None):  # noqa: ANN001
        super().__init__(str(message))
        self.message = str(message)
        self.field = field


# --- roles --------------------------------------------------------------------------------------


def managed_venue_ids(user) -> list[int]:
    """Ids of the youth homes `user` manages (granted as manager; cached for the request)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    cache = g.setdefault("_managed_venues", {}) if has_request_context() else {}
    if user.id not in cache and fact_says_none(user, "manages_venues"):
        cache[user.id] = []  # the layout's facts (read anyway, once per request) say: manages none
    if user.id not in cache:
        cache[user.id] = sorted(
            db.session.scalars(sa.select(VenueManager.venue_id).where(VenueManager.user_id == user.id))
        )
    return cache[user.id]


def is_manager(user, venue: Venue) -> bool:
    """True when `user` holds the manager role on `venue` itself."""
    return venue is not None and venue.id in managed_venue_ids(user)


def can_administer_venue(user, venue: Venue | None = None, org: Org | None = None) -> bool:
    """Create venues, grant managers: coordinators in scope of the venue's org, and admins."""
    if not getattr(user, "is_authenticated", False):
        return False
    return can_coordinate(user, org if org is not None else venue.org)


def can_manage_venue(user, venue: Venue) -> bool:
    """Opening hours, closures, rules, approvals: the venue's managers, coordinators in scope, admins."""
    if venue is None or not getattr(user, "is_authenticated", False):
        return False
    return user.is_admin or is_manager(user, venue) or can_coordinate(user, venue.org)


def is_approver(user) -> bool:
    """Someone who may see an approval queue: a manager of some venue, a coordinator, or an admin."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_admin:
        return True
    if has_request_context():
        from blueprints.core.registry import user_fact

        return user_fact(user, "manages_venues") > 0 or user_fact(user, "coordinates") > 0
    return bool(managed_venue_ids(user) or coordinator_paths(user))


def manages_venues_fact(user):
    """How many youth homes the user manages (a layout fact, read with the others in one statement)."""
    return sa.select(sa.func.count()).select_from(VenueManager).where(VenueManager.user_id == user.id).scalar_subquery()


def decidable_venue_ids(user_id, *, homes_first: bool = False):  # noqa: ANN001 - an int or a bound parameter
    """SELECT of the youth homes a (non-admin) user may decide: the ones they manage, and those below
    their coordinator grants (for most users none, found from their grants without scanning).

    Two shapes of the same set. Grants first (the queue's statements: their plans for managers were
    measured best, bench/RESULTS.md). homes_first (the layout's approvals badge, on every page): the
    homes (500 in a city) checked against the grants, behind a one-time test that the user has a grant
    at all — grants first made PostgreSQL walk every org under a city grant and probe venues for each
    (2,014 index probes, ~3 ms of every page of a city coordinator)."""
    venue_org = sa.orm.aliased(Org)
    grant_org = sa.orm.aliased(Org)
    managed = sa.select(VenueManager.venue_id).where(VenueManager.user_id == user_id)
    if not homes_first:
        coordinated = (
            sa.select(Venue.id)
            .join(venue_org, venue_org.id == Venue.org_id)
            .join(grant_org, venue_org.path.startswith(grant_org.path, autoescape=False))
            .join(CoordinatorGrant, CoordinatorGrant.org_id == grant_org.id)
            .where(CoordinatorGrant.user_id == user_id)
        )
        return sa.union(managed, coordinated)
    has_grant = sa.select(CoordinatorGrant.id).where(CoordinatorGrant.user_id == user_id).exists()
    homes = (
        sa.select(Venue.id, venue_org.path)
        .join(venue_org, venue_org.id == Venue.org_id)
        .where(has_grant)
        .cte("homes")
        .prefix_with("MATERIALIZED")
    )
    within_grant = (
        sa.select(CoordinatorGrant.id)
        .join(grant_org, grant_org.id == CoordinatorGrant.org_id)
        .where(CoordinatorGrant.user_id == user_id, homes.c.path.startswith(grant_org.path, autoescape=False))
        .exists()
    )
    return sa.union(managed, sa.select(homes.c.id).where(within_grant))


#: the state as a literal: SQLite (and a generic PostgreSQL plan) use the partial index ix_bookings_pending
#: only when the query names the state itself, not a parameter
PENDING = Booking.state == sa.literal_column("'pending'")


def approvals_fact(user):
    """The approvals badge as one scalar subquery: pending requests, not yet started, the user may decide:
    the homes they may decide first, then their pending bookings by (venue, start)."""
    # "now" at each execution: the layout builds this statement once per process (core/registry.py)
    now = sa.bindparam("approvals_now", callable_=utcnow, type_=Booking.starts_at.type)
    stmt = sa.select(Booking.id).where(PENDING, Booking.starts_at > now)
    if not user.is_admin:
        stmt = stmt.where(Booking.venue_id.in_(decidable_venue_ids(user.id, homes_first=True)))
    # counted up to BADGE_COUNT_CAP (a badge shows "99+"): a city coordinator's thousands of requests
    # are not counted on every page
    return sa.select(sa.func.count()).select_from(stmt.limit(BADGE_COUNT_CAP).subquery()).scalar_subquery()


def manageable_venues_query(user):
    """Venues `user` may manage (managers: their own; coordinators: in scope; admins: all)."""
    stmt = sa.select(Venue).join(Org, Org.id == Venue.org_id)
    if user.is_admin:
        return stmt
    clauses = []
    ids = managed_venue_ids(user)
    if ids:
        clauses.append(Venue.id.in_(ids))
    if coordinator_paths(user):
        clauses.append(scope_clause(user, Org.path))
    return stmt.where(sa.or_(*clauses) if clauses else sa.false())


def pending_count(user) -> int:
    """Pending requests (not yet started) that `user` may decide, up to BADGE_COUNT_CAP: the nav badge
    (the layout's fact read on its own, for the badge a decision swaps out of band)."""
    if not is_approver(user):
        return 0
    return db.session.scalar(sa.select(approvals_fact(user))) or 0


@functools.lru_cache(maxsize=64)
def _home_queue_statement(admin: bool, paths: int, limit: int):
    """The rule of decidable_venue_ids as a statement built once per process and shape (building it costs more
    than running it): the user, "now" and the coordinator's paths are parameters; the homes the user
    manages are read by the statement itself.

    The ids first, from a partial index of pending requests alone (the state as a literal: a bound
    parameter hides the index from SQLite), then only those rows with their home and requester:
    sorting every pending request of a city with its joins took 20-50 ms, this about 1 ms.
    """
    ids = (
        sa.select(Booking.id)
        .join(Venue, Venue.id == Booking.venue_id)
        .join(Org, Org.id == Venue.org_id)
        .where(
            PENDING,
            Booking.starts_at > sa.bindparam("queue_now", type_=Booking.starts_at.type),
        )
    )
    if not admin:
        managed = sa.select(VenueManager.venue_id).where(
            VenueManager.user_id == sa.bindparam("queue_user", type_=sa.Integer)
        )
        scope = [
            Org.path.startswith(sa.bindparam(f"queue_path_{i}", type_=sa.String), autoescape=False)
            for i in range(paths)
        ]
        ids = ids.where(sa.or_(Booking.venue_id.in_(managed), *scope))
    ids = ids.order_by(Booking.starts_at, Booking.id).limit(limit)
    return (
        sa.select(Booking)
        .where(Booking.id.in_(ids.scalar_subquery()))
        .options(joinedload(Booking.venue), joinedload(Booking.requester))
        .order_by(Booking.starts_at, Booking.id)
    )


def home_queue(user, limit: int) -> list[Booking]:
    """The first pending requests (not yet started) `user` may decide, soonest first: the home panel."""
    paths = [] if user.is_admin else coordinator_paths(user)
    params = {"queue_now": utcnow(), "queue_user": user.id, **{f"queue_path_{i}": p for i, p in enumerate(paths)}}
    return list(db.session.scalars(_home_queue_statement(bool(user.is_admin), len(paths), limit), params))


def approved_bookings_of(user, start: datetime | None = None) -> list[Booking]:
    """The user's approved bookings that start at or after `start` (default now), earliest first.

    For other blueprints: an event may be held in one of these (events.booking_id).
    """
    start = start or utcnow()
    return list(
        db.session.scalars(
            sa.select(Booking)
            .where(Booking.requester_id == user.id, Booking.state == "approved", Booking.starts_at >= start)
            .options(joinedload(Booking.venue))
            .order_by(Booking.starts_at)
        )
    )


def venue_recipients(venue: Venue) -> list[User]:
    """Who hears about new requests and cancellations: the managers, else the nearest coordinators."""
    managers = list(
        db.session.scalars(
            sa.select(User).join(VenueManager, VenueManager.user_id == User.id).where(VenueManager.venue_id == venue.id)
        )
    )
    if managers:
        return managers
    org = venue.org
    rows = db.session.execute(
        sa.select(User, Org.depth)
        .join(CoordinatorGrant, CoordinatorGrant.user_id == User.id)
        .join(Org, Org.id == CoordinatorGrant.org_id)
        .where(CoordinatorGrant.org_id.in_(org.ancestor_ids))
        .order_by(Org.depth.desc())
    ).all()
    if not rows:
        return []
    deepest = rows[0][1]
    return [u for u, depth in rows if depth == deepest]


# --- opening hours, closures, availability ----------------------------------------------------


def closure_on(venue: Venue, day: date) -> Closure | None:
    return db.session.scalar(
        sa.select(Closure)
        .where(Closure.venue_id == venue.id, Closure.starts_on <= day, Closure.ends_on >= day)
        .limit(1)
    )


def fits_opening(venue: Venue, day: date, start: time, end: time) -> bool:
    """True when [start, end) lies inside one opening interval of that weekday."""
    return any(opens <= start and end <= closes for opens, closes in venue.intervals_on(day.weekday()))


def hm(value: time) -> str:
    return value.strftime("%H:%M")


def intervals_text(intervals: list[tuple[time, time]]) -> str:
    return ", ".join(f"{hm(a)}–{hm(b)}" for a, b in intervals)


def duration_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not rest:
        return _("%(n)s h", n=hours)
    if not hours:
        return _("%(n)s min", n=rest)
    return _("%(h)s h %(m)s min", h=hours, m=rest)


def when_text(booking: Booking) -> str:
    """'2026-05-04 09:00–11:00' in the configured zone (language-neutral, for notifications)."""
    start, end = to_local(booking.starts_at), to_local(booking.ends_at)
    text = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    if end.date() != start.date():
        text = f"{start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M}"
    return text


def approved_overlapping(venue_id: int, starts_at: datetime, ends_at: datetime, exclude_id: int | None = None):
    stmt = sa.select(Booking).where(
        Booking.venue_id == venue_id,
        Booking.state == "approved",
        Booking.starts_at < ends_at,
        Booking.ends_at > starts_at,
    )
    if exclude_id is not None:
        stmt = stmt.where(Booking.id != exclude_id)
    return list(db.session.scalars(stmt.order_by(Booking.starts_at)))


def booking_problems(
    venue: Venue, day: date, start: time, end: time, attendees: int | None, now: datetime | None = None
) -> dict[str, list[str]]:
    """Every rule a request breaks, as {form field: [messages]}; empty when it may be requested."""
    now = now or utcnow()
    problems: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    if not venue.active:
        add("day", _("This youth home is not taking bookings at the moment."))
    if attendees is not None:
        if attendees < 1:
            add("attendees", _("Expect at least one person."))
        elif attendees > venue.capacity:
            add("attendees", _("At most %(n)s people fit in this youth home.", n=venue.capacity))
    starts_at, ends_at = local_to_utc(day, start), local_to_utc(day, end)
    today = local_today()
    if day < today or starts_at <= now:
        add("start", _("That time has already passed. Choose a time in the future."))
    elif starts_at < now + timedelta(hours=venue.min_notice_hours):
        add("start", _("Requests need at least %(n)s hours' notice.", n=venue.min_notice_hours))
    if day > today + timedelta(days=venue.max_days_ahead):
        last = today + timedelta(days=venue.max_days_ahead)
        add("day", _("Bookings open at most %(n)s days ahead (until %(date)s).", n=venue.max_days_ahead, date=last))
    if end <= start:
        add("end", _("The end must be after the start."))
        return problems
    minutes = int((ends_at - starts_at).total_seconds() // 60)
    if minutes < venue.min_duration_minutes:
        add("end", _("A booking lasts at least %(d)s.", d=duration_text(venue.min_duration_minutes)))
    elif minutes > venue.max_duration_minutes:
        add("end", _("A booking lasts at most %(d)s here.", d=duration_text(venue.max_duration_minutes)))
    closure = closure_on(venue, day)
    if closure is not None:
        add("day", _("Closed on this day: %(reason)s.", reason=closure.reason))
        return problems
    if not fits_opening(venue, day, start, end):
        intervals = venue.intervals_on(day.weekday())
        if intervals:
            add("start", _("Outside opening hours. Open that day: %(hours)s.", hours=intervals_text(intervals)))
        else:
            add("day", _("Closed on that weekday. Choose another day."))
        return problems
    taken = approved_overlapping(venue.id, starts_at, ends_at)
    if taken:
        add(
            "start",
            _(
                "That time overlaps an approved booking (%(time)s). Choose a free time from the day's schedule.",
                time=", ".join(f"{to_local(b.starts_at):%H:%M}–{to_local(b.ends_at):%H:%M}" for b in taken),
            ),
        )
    return problems


@dataclass
class DaySchedule:
    day: date
    intervals: list[tuple[time, time]]
    closure: Closure | None
    bookings: list[Booking] = field(default_factory=list)
    free: list[tuple[time, time]] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return self.closure is not None or not self.intervals


def _local_time(value: datetime, day: date) -> time:
    """The wall-clock time of `value` on `day`, clamped to the day's bounds."""
    local = to_local(value)
    if local.date() < day:
        return time.min
    if local.date() > day:
        return time.max
    return local.time().replace(tzinfo=None)


def free_intervals(intervals, busy, day: date, earliest: datetime | None = None) -> list[tuple[time, time]]:
    """Opening intervals minus busy [start, end) pairs (local times), from `earliest` on (rounded up to
    the quarter hour): what could still be requested."""
    result = []
    cutoff = None
    if earliest is not None:
        local = to_local(earliest)
        if local.date() > day:
            return []
        if local.date() == day:
            minutes = -(-(local.hour * 60 + local.minute + (1 if local.second or local.microsecond else 0)) // 15) * 15
            if minutes >= 24 * 60:
                return []
            cutoff = time(minutes // 60, minutes % 60)
    for opens, closes in intervals:
        cursor = opens if cutoff is None else max(opens, cutoff)
        for b_start, b_end in sorted(busy):
            if b_end <= cursor or b_start >= closes:
                continue
            if b_start > cursor:
                result.append((cursor, b_start))
            cursor = max(cursor, b_end)
        if cursor < closes:
            result.append((cursor, closes))
    return [(a, b) for a, b in result if a < b]


def schedule(
    venue: Venue,
    first: date,
    days: int,
    states=("approved",),
    now: datetime | None = None,
    closures: list[Closure] | None = None,
) -> list[DaySchedule]:
    """Per day from `first`: opening intervals, closure, bookings in `states`, free intervals.

    Two queries (bookings, closures); pass `closures` when the caller has them already.
    """
    start_utc, _end = local_day_bounds(first)
    end_utc = local_day_bounds(first + timedelta(days=days - 1))[1]
    bookings = list(
        db.session.scalars(
            sa.select(Booking)
            .where(
                Booking.venue_id == venue.id,
                Booking.state.in_(states),
                Booking.starts_at < end_utc,
                Booking.ends_at > start_utc,
            )
            .order_by(Booking.starts_at)
        )
    )
    if closures is None:
        closures = list(
            db.session.scalars(
                sa.select(Closure).where(
                    Closure.venue_id == venue.id,
                    Closure.starts_on <= first + timedelta(days=days - 1),
                    Closure.ends_on >= first,
                )
            )
        )
    result = []
    for i in range(days):
        day = first + timedelta(days=i)
        bounds = local_day_bounds(day)
        closure = next((c for c in closures if c.starts_on <= day <= c.ends_on), None)
        todays = [b for b in bookings if b.starts_at < bounds[1] and b.ends_at > bounds[0]]
        intervals = [] if closure else venue.intervals_on(day.weekday())
        busy = [(_local_time(b.starts_at, day), _local_time(b.ends_at, day)) for b in todays if b.state == "approved"]
        earliest = None if now is None else now + timedelta(hours=venue.min_notice_hours)
        free = free_intervals(intervals, busy, day, earliest)
        result.append(DaySchedule(day, intervals, closure, todays, free))
    return result


@functools.cache
def _collisions_statement():
    """The pending requests and approved bookings of the same home overlapping each of some bookings:
    only the collisions themselves, found from the home's (venue, start) index."""
    mine, other = sa.orm.aliased(Booking), sa.orm.aliased(Booking)
    return (
        sa.select(
            mine.id.label("for_id"),
            other.id,
            other.starts_at,
            other.ends_at,
            other.state,
            other.purpose,
            User.name.label("requester_name"),
        )
        .join(
            other,
            sa.and_(
                other.venue_id == mine.venue_id,
                other.id != mine.id,
                other.state.in_(("pending", "approved")),
                other.starts_at < mine.ends_at,
                other.ends_at > mine.starts_at,
            ),
        )
        .join(User, User.id == other.requester_id)
        .where(mine.id.in_(sa.bindparam("ids", expanding=True)))
        .order_by(other.starts_at, other.id)
    )


def collisions(bookings) -> dict[int, dict[str, list]]:  # noqa: ANN001
    """For each booking (a Booking or a queue row): the other pending requests and approved bookings
    overlapping it, as rows with id, starts_at, ends_at, state, purpose and requester_name (one query)."""
    result = {b.id: {"approved": [], "pending": []} for b in bookings}
    if result:
        for o in fetch(_collisions_statement(), {"ids": sorted(result)}):
            result[o.for_id]["approved" if o.state == "approved" else "pending"].append(o)
    return result


def _queue_columns():
    return (
        sa.select(
            Booking.id,
            Booking.venue_id,
            Booking.starts_at,
            Booking.ends_at,
            Booking.state,
            Booking.purpose,
            Booking.attendees,
            Booking.decision_note,
            Venue.name.label("venue_name"),
            Booking.requester_id,
            User.name.label("requester_name"),
            User.phone.label("requester_phone"),
        )
        .select_from(Booking)
        .join(Venue, Venue.id == Booking.venue_id)
        .join(User, User.id == Booking.requester_id)
    )


@functools.cache
def _queue_statement(admin: bool, one_venue: bool, by_name: bool = False):
    """A page of the pending requests (not yet started) a user may decide, soonest first (built once per
    process for each kind of user and filter)."""
    stmt = _queue_columns().where(PENDING, Booking.starts_at > sa.bindparam("now"))
    if not admin:
        stmt = stmt.where(Booking.venue_id.in_(decidable_venue_ids(sa.bindparam("user_id"))))
    if one_venue:
        stmt = stmt.where(Booking.venue_id == sa.bindparam("venue_id"))
    if by_name:
        stmt = stmt.where(Venue.name.like(sa.bindparam("name_like"), escape="\\"))
    return stmt.order_by(Booking.starts_at, Booking.id).limit(sa.bindparam("limit")).offset(sa.bindparam("offset"))


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def approval_queue(
    user, venue_id: int | None = None, limit: int = QUEUE_PAGE, offset: int = 0, name: str | None = None
) -> list:
    """The approval queue's rows: the booking's id, venue_id, starts_at, ends_at, state, purpose, attendees,
    decision_note, venue_name, requester_id, requester_name and requester_phone. `name`: only youth homes
    whose name contains it."""
    params = {"now": utcnow(), "limit": limit, "offset": offset, "user_id": user.id, "venue_id": venue_id}
    if name:
        params["name_like"] = _like_pattern(name)
    return fetch(_queue_statement(bool(user.is_admin), venue_id is not None, bool(name)), params)


@functools.cache
def _queue_by_venue_statement(admin: bool):
    stmt = (
        sa.select(Venue.id, Venue.name, sa.func.count(Booking.id))
        .join(Booking, Booking.venue_id == Venue.id)
        .where(PENDING, Booking.starts_at > sa.bindparam("now"))
    )
    if not admin:
        stmt = stmt.where(Booking.venue_id.in_(decidable_venue_ids(sa.bindparam("user_id"))))
    return stmt.group_by(Venue.id, Venue.name).order_by(Venue.name).limit(QUEUE_FILTER_LIST + 1)


def approval_queue_by_venue(user) -> list:
    """(venue id, name, pending requests) of the homes with requests `user` may decide: the queue's filter
    (QUEUE_FILTER_LIST of them, and one more when there are more: then the filter is a name search)."""
    return fetch(_queue_by_venue_statement(bool(user.is_admin)), {"now": utcnow(), "user_id": user.id})


@functools.cache
def _queue_items_statement():
    return _queue_columns().where(Booking.id.in_(sa.bindparam("ids", expanding=True)))


def queue_items(ids: list[int]) -> dict:
    """Queue rows of these bookings, whatever their state (the rows a decision answers with)."""
    if not ids:
        return {}
    return {row.id: row for row in fetch(_queue_items_statement(), {"ids": sorted(set(ids))})}


# --- requests and decisions -------------------------------------------------------------------


def lock_venue(venue_id: int) -> None:
    """Take the venue's row lock for the rest of the transaction (a no-op on SQLite, which is serialised)."""
    db.session.execute(sa.select(Venue.id).where(Venue.id == venue_id).with_for_update())


def _booking_link(booking: Booking) -> str:
    return url_for("venues.booking", booking_id=booking.id)


def request_booking(
    requester, venue: Venue, day: date, start: time, end: time, purpose: str, attendees: int
) -> Booking:
    """Add a pending request after checking every rule; tell the venue's managers. Raises BookingRefused."""
    problems = booking_problems(venue, day, start, end, attendees)
    purpose = (purpose or "").strip()
    if not purpose:
        problems.setdefault("purpose", []).append(_("Say what the booking is for."))
    if problems:
        raise BookingRefused(problems)
    booking = Booking(
        venue_id=venue.id,
        requester_id=requester.id,
        purpose=purpose,
        starts_at=local_to_utc(day, start),
        ends_at=local_to_utc(day, end),
        attendees=attendees,
        state="pending",
    )
    db.session.add(booking)
    db.session.flush()
    record_audit(requester, "booking.request", booking, org_id=venue.org_id, venue_id=venue.id, when=when_text(booking))
    for user in venue_recipients(venue):
        if user.id != requester.id:
            notify(
                user,
                "booking_requested",
                link=url_for("venues.approvals", venue=venue.id),
                requester=requester.name,
                venue=venue.name,
                when=when_text(booking),
            )
    return booking


def state_message(booking: Booking) -> str:
    """Why a decided/cancelled booking can no longer be decided, in words."""
    if booking.state == "approved":
        return _("This request was already approved.")
    if booking.state == "rejected":
        reason = note_text(booking.decision_note)
        return _("This request was already rejected: %(reason)s.", reason=reason)
    if booking.state == "cancelled":
        return _("This request was cancelled by the person who made it.")
    return _("This request is still waiting for a decision.")


def note_text(note: str | None) -> str:
    """A decision note for display: the automatic 'time slot taken' in the reader's language."""
    if note == SLOT_TAKEN_NOTE:
        return str(SLOT_TAKEN_LABEL)
    return note or ""


def _settle(booking: Booking) -> None:
    """Lock the venue, then re-read the booking: a concurrent decision is seen before we act."""
    lock_venue(booking.venue_id)
    db.session.refresh(booking)


def is_overlap_violation(exc: IntegrityError) -> bool:
    text = str(getattr(exc, "orig", exc))
    return "booking_overlap" in text or "ex_bookings_no_overlap" in text


def approve_booking(actor, booking: Booking) -> list[Booking]:
    """Approve a pending request and reject the pending ones it now overlaps ("time slot taken").

    Returns the requests rejected along the way. Raises BookingStateError (already decided, started,
    or the slot was just taken — the database refused the overlap).
    """
    _settle(booking)
    if booking.state != "pending":
        raise BookingStateError(state_message(booking))
    now = utcnow()
    if booking.starts_at <= now:
        raise BookingStateError(_("This request's time has already begun; it can no longer be approved."))
    try:
        with db.session.begin_nested():
            booking.approve(actor, now)
            db.session.flush()
    except IntegrityError as exc:
        if not is_overlap_violation(exc):
            raise
        db.session.refresh(booking)
        raise BookingStateError(SLOT_JUST_TAKEN) from None
    except OperationalError as exc:
        # PostgreSQL ends two overlap checks that wait on each other with a deadlock error (40P01);
        # the venue lock above prevents it for approvals made here, this covers writers that skip it
        if getattr(exc.orig, "sqlstate", None) != "40P01":
            raise
        db.session.refresh(booking)
        raise BookingStateError(SLOT_JUST_TAKEN) from None
    venue = booking.venue
    record_audit(actor, "booking.approve", booking, org_id=venue.org_id, venue_id=venue.id, when=when_text(booking))
    notify(
        booking.requester,
        "booking_approved",
        link=_booking_link(booking),
        venue=venue.name,
        when=when_text(booking),
    )
    losers = list(
        db.session.scalars(
            sa.select(Booking)
            .where(
                Booking.venue_id == booking.venue_id,
                Booking.state == "pending",
                Booking.id != booking.id,
                Booking.starts_at < booking.ends_at,
                Booking.ends_at > booking.starts_at,
            )
            .options(joinedload(Booking.requester))
            .order_by(Booking.id)
        )
    )
    for other in losers:
        other.reject(actor, SLOT_TAKEN_NOTE, now)
        record_audit(
            actor,
            "booking.reject",
            other,
            org_id=venue.org_id,
            venue_id=venue.id,
            reason=SLOT_TAKEN_NOTE,
            automatic=True,
            because_of=booking.id,
        )
        notify(
            other.requester,
            "booking_slot_taken",
            link=_booking_link(other),
            venue=venue.name,
            when=when_text(other),
        )
    db.session.flush()
    return losers


def reject_booking(actor, booking: Booking, reason: str) -> None:
    """Reject a pending request with a reason the requester will read."""
    reason = (reason or "").strip()
    if not reason:
        raise BookingStateError(_("Give a reason for the rejection."))
    _settle(booking)
    if booking.state != "pending":
        raise BookingStateError(state_message(booking))
    now = utcnow()
    booking.reject(actor, reason[:500], now)
    db.session.flush()
    venue = booking.venue
    record_audit(actor, "booking.reject", booking, org_id=venue.org_id, venue_id=venue.id, reason=reason[:500])
    notify(
        booking.requester,
        "booking_rejected",
        link=_booking_link(booking),
        venue=venue.name,
        when=when_text(booking),
        reason=reason[:500],
    )


def cancel_booking(user, booking: Booking) -> None:
    """The requester cancels before the start; an approved booking's slot becomes free again."""
    _settle(booking)
    if booking.state not in ("pending", "approved"):
        raise BookingStateError(
            _("This booking was already cancelled.")
            if booking.state == "cancelled"
            else _("This request was rejected; there is nothing to cancel.")
        )
    now = utcnow()
    if booking.starts_at <= now:
        raise BookingStateError(_("This booking has already begun; it can no longer be cancelled."))
    was = booking.state
    booking.cancel(now)
    db.session.flush()
    venue = booking.venue
    record_audit(user, "booking.cancel", booking, org_id=venue.org_id, venue_id=venue.id, was=was)
    for manager in venue_recipients(venue):
        if manager.id != user.id:
            notify(
                manager,
                "booking_cancelled",
                link=_booking_link(booking),
                requester=booking.requester.name,
                venue=venue.name,
                when=when_text(booking),
            )


# --- venue admin ------------------------------------------------------------------------------

VENUE_FIELDS = (
    "name",
    "address",
    "description",
    "capacity",
    "facilities",
    "contact_phone",
    "min_duration_minutes",
    "max_duration_minutes",
    "max_days_ahead",
    "min_notice_hours",
    "active",
)


def create_venue(actor, org: Org, **values) -> Venue:
    venue = Venue(org_id=org.id, **{k: v for k, v in values.items() if k in VENUE_FIELDS})
    venue.org = org
    db.session.add(venue)
    db.session.flush()
    record_audit(actor, "venue.create", venue, org_id=org.id, name=venue.name)
    return venue


def update_venue(actor, venue: Venue, **values) -> None:
    changed = {}
    for key, value in values.items():
        if key in VENUE_FIELDS and getattr(venue, key) != value:
            changed[key] = [getattr(venue, key), value]
            setattr(venue, key, value)
    db.session.flush()
    if changed:
        record_audit(actor, "venue.update", venue, org_id=venue.org_id, changed=changed)


def parse_intervals(text: str) -> list[tuple[time, time]]:
    """'09:00-12:00, 14:00-18:00' -> [(09:00, 12:00), (14:00, 18:00)]. Raises ValueError with a reason."""
    text = (text or "").strip()
    if not text:
        return []
    for sep in ("，", ";", "；", "、"):
        text = text.replace(sep, ",")
    for dash in ("–", "—", "~", "～", "至", "到"):
        text = text.replace(dash, "-")
    text = text.replace("：", ":")
    intervals = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        pieces = [p.strip() for p in part.split("-")]
        if len(pieces) != 2:
            raise ValueError("format")
        try:
            opens, closes = (_parse_hm(p) for p in pieces)
        except ValueError:
            raise ValueError("format") from None
        if closes <= opens:
            raise ValueError("order")
        intervals.append((opens, closes))
    intervals.sort()
    for (_a_open, a_close), (b_open, _b_close) in zip(intervals, intervals[1:], strict=False):
        if b_open < a_close:
            raise ValueError("overlap")
    return intervals


def _parse_hm(text: str) -> time:
    if text in ("24:00", "24"):
        return time(23, 59)
    if ":" not in text:
        return time(int(text), 0)
    hours, minutes = text.split(":", 1)
    return time(int(hours), int(minutes))


def set_opening_hours(actor, venue: Venue, week: dict[int, list[tuple[time, time]]]) -> None:
    """Replace the weekly opening hours with `week` {weekday: [(opens, closes), …]}."""
    before = {d: intervals_text(venue.intervals_on(d)) for d in range(7)}
    venue.opening_hours.clear()
    db.session.flush()
    for weekday in range(7):
        for opens, closes in week.get(weekday, []):
            venue.opening_hours.append(OpeningHours(weekday=weekday, opens=opens, closes=closes))
    db.session.flush()
    after = {d: intervals_text(week.get(d, [])) for d in range(7)}
    changed = {str(d): [before[d], after[d]] for d in range(7) if before[d] != after[d]}
    if changed:
        record_audit(actor, "venue.hours", venue, org_id=venue.org_id, changed=changed)


def add_closure(actor, venue: Venue, starts_on: date, ends_on: date, reason: str) -> tuple[Closure, list[Booking]]:
    """Close the venue on [starts_on, ends_on]; returns the approved bookings that fall inside."""
    reason = (reason or "").strip()
    if ends_on < starts_on:
        raise VenueError(_("The last day must not be before the first."), "ends_on")
    if not reason:
        raise VenueError(_("Give a reason (holiday, repairs…)."), "reason")
    closure = Closure(venue_id=venue.id, starts_on=starts_on, ends_on=ends_on, reason=reason[:200])
    db.session.add(closure)
    db.session.flush()
    record_audit(
        actor,
        "venue.closure_add",
        venue,
        org_id=venue.org_id,
        starts_on=starts_on.isoformat(),
        ends_on=ends_on.isoformat(),
        reason=reason[:200],
    )
    lo, hi = local_day_bounds(starts_on)[0], local_day_bounds(ends_on)[1]
    affected = list(
        db.session.scalars(
            sa.select(Booking)
            .where(
                Booking.venue_id == venue.id,
                Booking.state == "approved",
                Booking.starts_at < hi,
                Booking.ends_at > lo,
            )
            .order_by(Booking.starts_at)
        )
    )
    return closure, affected


def remove_closure(actor, closure: Closure) -> None:
    venue = closure.venue
    record_audit(
        actor,
        "venue.closure_remove",
        venue,
        org_id=venue.org_id,
        starts_on=closure.starts_on.isoformat(),
        ends_on=closure.ends_on.isoformat(),
    )
    db.session.delete(closure)
    db.session.flush()


def grant_manager(actor, venue: Venue, user: User) -> VenueManager:
    """Make `user` a manager of `venue` (audited; the new manager is told)."""
    exists = db.session.scalar(
        sa.select(VenueManager.id).where(VenueManager.venue_id == venue.id, VenueManager.user_id == user.id)
    )
    if exists is not None:
        raise VenueError(_("%(name)s already manages this youth home.", name=user.name), "phone")
    grant = VenueManager(venue_id=venue.id, user_id=user.id, granted_by_id=actor.id)
    db.session.add(grant)
    db.session.flush()
    record_audit(actor, "venue.manager_grant", venue, org_id=venue.org_id, user_id=user.id, user_name=user.name)
    notify(user, "venue_manager_granted", link=url_for("venues.approvals"), venue=venue.name)
    if has_request_context():
        g.pop("_managed_venues", None)
    return grant


def revoke_manager(actor, grant: VenueManager) -> None:
    venue = grant.venue
    record_audit(
        actor, "venue.manager_revoke", venue, org_id=venue.org_id, user_id=grant.user_id, user_name=grant.user.name
    )
    db.session.delete(grant)
    db.session.flush()
    if has_request_context():
        g.pop("_managed_venues", None)


# --- catalogue --------------------------------------------------------------------------------


@dataclass
class CatalogueFilter:
    q: str = ""
    org: Org | None = None
    facilities: list[str] = field(default_factory=list)
    day: date | None = None
    start: time | None = None
    end: time | None = None


def catalogue_query(flt: CatalogueFilter):
    """Active venues matching the filter, ordered by place and name (one statement)."""
    stmt = sa.select(Venue).join(Org, Org.id == Venue.org_id).where(Venue.active.is_(True))
    if flt.q:
        like = "%" + flt.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            sa.or_(Venue.name.ilike(like, escape="\\"), Venue.address.ilike(like, escape="\\"), Org.name.ilike(like))
        )
    if flt.org is not None:
        stmt = stmt.where(Org.path.startswith(flt.org.path, autoescape=False))
    for key in flt.facilities:
        stmt = stmt.where(("," + Venue.facilities + ",").like(f"%,{key},%"))
    if flt.day is not None:
        weekday = flt.day.weekday()
        stmt = stmt.where(
            ~sa.exists().where(Closure.venue_id == Venue.id, Closure.starts_on <= flt.day, Closure.ends_on >= flt.day)
        )
        if flt.start is not None and flt.end is not None and flt.end > flt.start:
            starts_at, ends_at = local_to_utc(flt.day, flt.start), local_to_utc(flt.day, flt.end)
            stmt = stmt.where(
                sa.exists().where(
                    OpeningHours.venue_id == Venue.id,
                    OpeningHours.weekday == weekday,
                    OpeningHours.opens <= flt.start,
                    OpeningHours.closes >= flt.end,
                ),
                ~sa.exists().where(
                    Booking.venue_id == Venue.id,
                    Booking.state == "approved",
                    Booking.starts_at < ends_at,
                    Booking.ends_at > starts_at,
                ),
            )
        else:
            stmt = stmt.where(sa.exists().where(OpeningHours.venue_id == Venue.id, OpeningHours.weekday == weekday))
    return stmt.options(sa.orm.contains_eager(Venue.org)).order_by(Org.path, Venue.name, Venue.id)


def area_choices() -> list[Org]:
    """Orgs to filter the catalogue by: the top three levels of the tree (city, districts, towns) and schools."""
    return list(
        db.session.scalars(
            sa.select(Org).where(sa.or_(Org.depth <= 2, Org.kind == "school")).order_by(Org.path).limit(400)
        )
    )
