"""Figures for coordinators: the dashboard, hour tallies, annual targets, events and youth-home reports.

Every figure is defined once here and the dashboard, the lists, the exports and the CLI all use
these definitions, so a total on the dashboard is the sum of the rows of the list behind it.

- **Ledger in scope**: effective service records (not superseded by a correction) with more than
  0 minutes, served (the event's start) in the period, at an event of an org in the subtree.
- **Service hours**: the sum of the minutes of the ledger in scope.
- **Participations (人次)**: one volunteer at one event of the ledger in scope, counted once per
  volunteer and event. The tally's "events attended" column sums to it, and so does the events
  report's "volunteers" column (for the events held).
- **Volunteers**: distinct volunteers in the ledger in scope (the rows of the hour tally).
- **Events held**: completed events that started in the period, of orgs in the subtree.
- **People served**: beneficiary counts of the events held.
- **Youth homes**: active youth homes of orgs in the subtree. Utilisation = approved booked time
  inside the period ÷ opening time in the period (weekly opening hours on every day of the period,
  less the days of closures).
- **Active teams**: teams that held at least one event in the period.
- **New volunteers**: accounts created in the period whose home org is in the subtree.
- **Annual target**: the home org's effective target (inherited down the tree); met when the
  volunteer's effective hours in that calendar year, wherever served, reach it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app, g, has_request_context
from sqlalchemy.orm import aliased

from blueprints.auth.models import User, mask_phone
from blueprints.core.db import fetch
from blueprints.core.extensions import db
from blueprints.core.models import UTCDateTime
from blueprints.events.models import Event, EventCategory
from blueprints.feedback.models import Feedback
from blueprints.feedback.services import note_latest_rating_id
from blueprints.hours.models import BENEFICIARY_CATEGORIES, BeneficiaryCount, ServiceRecord
from blueprints.orgs.models import DEFAULT_TARGET_HOURS, Org
from blueprints.orgs.services import subtree_clause
from blueprints.teams.models import Membership, Team
from blueprints.venues.models import Booking, Closure, OpeningHours, Venue

from .periods import Period

PAGE_SIZE = 30  # rows per page: a page of the longest list stays under 30 KB of HTML
TALLY_SORTS = ("hours", "events", "name", "org")
TARGET_STATUSES = ("all", "met", "not_met")
EXPORT_FORMATS = ("csv", "xlsx")


class ReportError(ValueError):
    """Input a report cannot use (unknown format, unknown org); the message is shown as is."""


# --- building blocks ---------------------------------------------------------------------------


def effective(record=ServiceRecord, as_of: int | None = None, per_record: bool = False):
    """The record is not superseded: same meaning as hours.models.is_effective_clause().

    Written as NOT IN over the (few) superseded ids: both databases compute that list once, where
    the correlated NOT EXISTS probes an index for every record (about twice as slow at city scale).
    With `as_of`, only corrections up to that record id count (the ledger as it was then).
    per_record: the NOT EXISTS probe instead, for a statement that reads a few records (with
    `as_of`, SQLite builds the NOT IN list by walking the whole ledger up to that id).
    """
    if per_record:
        later = aliased(ServiceRecord, name="correction")
        probe = sa.select(later.id).where(later.supersedes_id == record.id)
        if as_of is not None:
            probe = probe.where(later.id <= as_of)
        return ~sa.exists(probe)
    superseded = sa.select(ServiceRecord.supersedes_id).where(ServiceRecord.supersedes_id.is_not(None))
    if as_of is not None:
        superseded = superseded.where(ServiceRecord.id <= as_of)
    return record.id.not_in(superseded.scalar_subquery())


def subtree_ids(org: Org):
    """SELECT of the ids of `org` and every org below it."""
    return sa.select(Org.id).where(subtree_clause(org))


def ledger_filter(
    org: Org,
    period: Period,
    team_id: int | None = None,
    record=ServiceRecord,
    as_of: int | None = None,
    per_record: bool = False,
) -> list:
    """WHERE clauses of the ledger in scope (see the module docstring); with `as_of`, the ledger
    as it stood when `as_of` was the last record id. per_record: see `effective`."""
    start, end = period.bounds
    clauses = [
        record.served_at >= start,
        record.served_at < end,
        record.minutes > 0,
        effective(record, as_of, per_record),
        record.org_id.in_(subtree_ids(org)),
    ]
    if as_of is not None:
        clauses.append(record.id <= as_of)
    if team_id is not None:
        clauses.append(record.event_id.in_(sa.select(Event.id).where(Event.team_id == team_id)))
    return clauses


def events_held_filter(org: Org, period: Period, team_id: int | None = None, event=Event) -> list:
    start, end = period.bounds
    clauses = [
        event.state == "completed",
        event.starts_at >= start,
        event.starts_at < end,
        event.org_id.in_(subtree_ids(org)),
    ]
    if team_id is not None:
        clauses.append(event.team_id == team_id)
    return clauses


def target_hours_expr(path_column):
    """The effective annual target (hours) of the org whose path is `path_column`, as SQL.

    The orgs that set a target are few; the deepest one whose path prefixes the org's wins, which is
    what orgs.services.effective_settings() does one org at a time.
    """
    cache = g.setdefault("_report_target_setters", {}) if has_request_context() else {}
    if "rows" not in cache:
        cache["rows"] = db.session.execute(
            sa.select(Org.path, Org.annual_target_hours).where(Org.annual_target_hours.is_not(None))
        ).all()
    setters = sorted(cache["rows"], key=lambda row: len(row.path), reverse=True)
    if not setters:
        return sa.literal(DEFAULT_TARGET_HOURS)
    return sa.case(
        *[(path_column.startswith(path, autoescape=False), hours) for path, hours in setters],
        else_=DEFAULT_TARGET_HOURS,
    )


def hours_value(minutes: int | None) -> float:
    """Minutes as hours with two decimals (for exports)."""
    return round((minutes or 0) / 60, 2)


def _whole_tree(org: Org) -> bool:
    """True when `org` is the only root: its subtree is every org."""
    if org.parent_id is not None:
        return False
    return db.session.scalar(sa.select(sa.func.count()).where(Org.parent_id.is_(None))) == 1


def teams_of_user_expr(user_id_column):
    """The names of the teams a user is an active member of, joined with '、' (one SQL subquery)."""
    return (
        sa.select(sa.func.aggregate_strings(Team.name, "、"))
        .join(Membership, Membership.team_id == Team.id)
        .where(Membership.user_id == user_id_column, Membership.state == "active")
        .scalar_subquery()
    )


def _clipped_minutes(start_col, end_col, lo: datetime, hi: datetime):
    """SQL minutes of [start_col, end_col) that fall inside [lo, hi)."""
    lo_lit, hi_lit = sa.literal(lo, UTCDateTime()), sa.literal(hi, UTCDateTime())
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.extract("epoch", sa.func.least(end_col, hi_lit) - sa.func.greatest(start_col, lo_lit)) / 60
    return (sa.func.julianday(sa.func.min(end_col, hi_lit)) - sa.func.julianday(sa.func.max(start_col, lo_lit))) * 1440


def _span_minutes(opens, closes):
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.extract("epoch", closes - opens) / 60
    return (sa.func.strftime("%s", closes) - sa.func.strftime("%s", opens)) / 60


def weekday_counts(period: Period) -> list[int]:
    """How many Mondays … Sundays the period has."""
    counts = [period.days // 7] * 7
    for i in range(period.days % 7):
        counts[(period.start.weekday() + i) % 7] += 1
    return counts


# --- hour tallies ------------------------------------------------------------------------------


@dataclass
class TallyRow:
    volunteer_id: int
    name: str
    phone: str
    home_org: str
    teams: str
    events: int
    minutes: int
    year_minutes: int
    target_hours: int
    #: teams not named in `teams` (the tally page names a few; the exports name them all)
    more_teams: int = 0

    @property
    def target_met(self) -> bool:
        return self.year_minutes >= self.target_hours * 60


def tally_query(
    org: Org, period: Period, team_id: int | None = None, sort: str = "hours", descending: bool = True
) -> sa.Select:
    """One aggregate query: a row per volunteer of the ledger in scope."""
    sr = ServiceRecord
    agg = (
        sa.select(
            sr.volunteer_id.label("vid"),
            sa.func.count(sa.distinct(sr.event_id)).label("events"),
            sa.func.sum(sr.minutes).label("minutes"),
        )
        .where(*ledger_filter(org, period, team_id))
        .group_by(sr.volunteer_id)
        .subquery("agg")
    )
    home = aliased(Org, name="home")
    year = Period.year_of(period.year)
    if period == year and team_id is None and _whole_tree(org):
        year_minutes = agg.c.minutes  # the period is the year and the subtree is everything: same sum
    else:
        y = aliased(ServiceRecord, name="y")
        ys, ye = year.bounds
        year_minutes = (
            sa.select(sa.func.coalesce(sa.func.sum(y.minutes), 0))
            .where(y.volunteer_id == User.id, y.served_at >= ys, y.served_at < ye, y.minutes > 0, effective(y))
            .scalar_subquery()
        )
    order = {
        "hours": agg.c.minutes,
        "events": agg.c.events,
        "name": User.name,
        "org": home.name,
    }[sort if sort in TALLY_SORTS else "hours"]
    return (
        sa.select(
            User.id,
            User.name,
            User.phone,
            home.name.label("home_org"),
            teams_of_user_expr(User.id).label("teams"),
            agg.c.events,
            agg.c.minutes,
            year_minutes.label("year_minutes"),
            target_hours_expr(home.path).label("target_hours"),
        )
        .select_from(agg)
        .join(User, User.id == agg.c.vid)
        .outerjoin(home, home.id == User.home_org_id)
        .order_by(order.desc() if descending else order.asc(), User.id)
    )


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")  # as blueprints.core.exports.neutralise


def safe_text_sql(column):
    """SQL for a text cell that no spreadsheet reads as a formula: core.exports.neutralise, in the query."""
    return sa.case(
        (sa.func.substr(column, 1, 1).in_(FORMULA_STARTS), sa.literal("'") + column),
        else_=sa.func.coalesce(column, ""),
    )


def masked_phone_sql(column):
    """SQL for auth.models.mask_phone: 138****5678."""
    return sa.case(
        (
            sa.func.length(column) >= 7,
            sa.func.substr(column, 1, 3) + "****" + sa.func.substr(column, sa.func.length(column) - 3),
        ),
        else_="****",
    )


def hours_sql(minutes):
    """SQL: minutes as hours with two decimals, a float on both databases."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.round(sa.cast(minutes, sa.Numeric) / 60, 2), sa.Float)
    return sa.cast(sa.func.round(minutes / sa.literal(60.0), 2), sa.Float)


def tally_export_query(
    org: Org, period: Period, yes: str, no: str, team_id: int | None = None, sort: str = "hours", descending=True
) -> sa.Select:
    """The tally with every export column computed by the database (text made formula-safe,
    phones masked, hours in hours), so the export only streams rows to the file."""
    t = tally_query(org, period, team_id, sort, descending).subquery("t")
    return sa.select(
        safe_text_sql(t.c.name),
        masked_phone_sql(t.c.phone),
        safe_text_sql(t.c.home_org),
        safe_text_sql(t.c.teams),
        t.c.events,
        hours_sql(t.c.minutes),
        t.c.minutes,
        t.c.target_hours,
        hours_sql(t.c.year_minutes),
        sa.case((t.c.year_minutes >= t.c.target_hours * 60, sa.literal(yes)), else_=sa.literal(no)),
    )


def _tally_row(row) -> TallyRow:
    return TallyRow(
        volunteer_id=row.id,
        name=row.name,
        phone=mask_phone(row.phone),
        home_org=row.home_org or "",
        teams=row.teams or "",
        events=row.events,
        minutes=row.minutes or 0,
        year_minutes=row.year_minutes or 0,
        target_hours=row.target_hours,
    )


def iter_tally(org: Org, period: Period, team_id=None, sort="hours", descending=True) -> Iterator[TallyRow]:
    """Every row of the tally, streamed from a server-side cursor (memory stays flat)."""
    result = db.session.execute(
        tally_query(org, period, team_id, sort, descending), execution_options={"yield_per": 2000}
    )
    for row in result:
        yield _tally_row(row)


# --- annual target -----------------------------------------------------------------------------


@dataclass
class TargetRow:
    volunteer_id: int
    name: str
    phone: str
    home_org: str
    minutes: int
    target_hours: int

    @property
    def met(self) -> bool:
        return self.minutes >= self.target_hours * 60

    @property
    def missing_minutes(self) -> int:
        return max(0, self.target_hours * 60 - self.minutes)


def target_query(org: Org, year: int, status: str = "all", sort: str = "missing") -> sa.Select:
    """Everyone whose home org is in the subtree, with this year's hours against their target."""
    home = aliased(Org, name="home")
    y = aliased(ServiceRecord, name="y")
    ys, ye = Period.year_of(year).bounds
    minutes = (
        sa.select(sa.func.coalesce(sa.func.sum(y.minutes), 0))
        .where(y.volunteer_id == User.id, y.served_at >= ys, y.served_at < ye, y.minutes > 0, effective(y))
        .scalar_subquery()
    )
    target = target_hours_expr(home.path)
    inner = (
        sa.select(
            User.id.label("id"),
            User.name.label("name"),
            User.phone.label("phone"),
            home.name.label("home_org"),
            minutes.label("minutes"),
            target.label("target_hours"),
        )
        .join(home, home.id == User.home_org_id)
        .where(subtree_clause(org, home.path), User.active.is_(True), User.is_admin.is_(False))
        .subquery("t")
    )
    missing = inner.c.target_hours * 60 - inner.c.minutes
    stmt = sa.select(inner)
    if status == "met":
        stmt = stmt.where(missing <= 0)
    elif status == "not_met":
        stmt = stmt.where(missing > 0)
    if sort == "name":
        return stmt.order_by(inner.c.name, inner.c.id)
    if sort == "hours":
        return stmt.order_by(inner.c.minutes.desc(), inner.c.id)
    return stmt.order_by(missing.desc(), inner.c.id)


def _target_row(row) -> TargetRow:
    return TargetRow(row.id, row.name, mask_phone(row.phone), row.home_org or "", row.minutes or 0, row.target_hours)


def target_page(org: Org, year: int, status="all", sort="missing", page=1):
    stmt = target_query(org, year, status, sort).limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
    rows = [_target_row(r) for r in db.session.execute(stmt)]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def target_summary(org: Org, year: int) -> dict:
    """{"people", "met", "not_met"} for the subtree (one aggregate query)."""
    inner = target_query(org, year).subquery("s")
    met = sa.func.sum(sa.case((inner.c.minutes >= inner.c.target_hours * 60, 1), else_=0))
    people, met_count = db.session.execute(sa.select(sa.func.count(), met).select_from(inner)).one()
    return {"people": people or 0, "met": met_count or 0, "not_met": (people or 0) - (met_count or 0)}


def iter_targets(org: Org, year: int, status="all", sort="missing") -> Iterator[TargetRow]:
    result = db.session.execute(target_query(org, year, status, sort), execution_options={"yield_per": 2000})
    for row in result:
        yield _target_row(row)


# --- events report -----------------------------------------------------------------------------


@dataclass
class EventRow:
    event_id: int
    starts_at: datetime
    title: str
    team: str
    team_id: int
    category: str
    venue: str
    volunteers: int
    minutes: int
    people: int
    rating: float | None
    ratings: int


def events_query(org: Org, period: Period, team_id: int | None = None, locale: str = "zh_CN") -> sa.Select:
    """Each event held, with its ledger (volunteers, minutes), people served and satisfaction."""
    sr = ServiceRecord
    per_event = (
        sa.select(
            sr.event_id.label("event_id"),
            sa.func.count(sa.distinct(sr.volunteer_id)).label("volunteers"),
            sa.func.sum(sr.minutes).label("minutes"),
        )
        .where(*ledger_filter(org, period, team_id))
        .group_by(sr.event_id)
        .subquery("ledger")
    )
    people = (
        sa.select(sa.func.coalesce(sa.func.sum(BeneficiaryCount.count), 0))
        .where(BeneficiaryCount.event_id == Event.id)
        .scalar_subquery()
    )
    visible = sa.and_(Feedback.event_id == Event.id, Feedback.hidden_at.is_(None))
    rating = sa.select(sa.func.avg(Feedback.rating)).where(visible).scalar_subquery()
    ratings = sa.select(sa.func.count(Feedback.id)).where(visible).scalar_subquery()
    category = EventCategory.name_en if str(locale).startswith("en") else EventCategory.name_zh
    return (
        sa.select(
            Event.id,
            Event.starts_at,
            Event.title,
            Team.name.label("team"),
            Team.id.label("team_id"),
            category.label("category"),
            Venue.name.label("venue"),
            sa.func.coalesce(per_event.c.volunteers, 0).label("volunteers"),
            sa.func.coalesce(per_event.c.minutes, 0).label("minutes"),
            people.label("people"),
            rating.label("rating"),
            ratings.label("ratings"),
        )
        .join(Team, Team.id == Event.team_id)
        .join(EventCategory, EventCategory.id == Event.category_id)
        .outerjoin(Booking, Booking.id == Event.booking_id)
        .outerjoin(Venue, Venue.id == Booking.venue_id)
        .outerjoin(per_event, per_event.c.event_id == Event.id)
        .where(*events_held_filter(org, period, team_id))
        .order_by(Event.starts_at, Event.id)
    )


def _event_row(row) -> EventRow:
    return EventRow(
        event_id=row.id,
        starts_at=row.starts_at,
        title=row.title,
        team=row.team,
        team_id=row.team_id,
        category=row.category,
        venue=row.venue or "",
        volunteers=row.volunteers or 0,
        minutes=row.minutes or 0,
        people=row.people or 0,
        rating=round(float(row.rating), 1) if row.rating is not None else None,
        ratings=row.ratings or 0,
    )


def events_page(org: Org, period: Period, team_id=None, page=1, locale="zh_CN"):
    stmt = events_query(org, period, team_id, locale).limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
    rows = [_event_row(r) for r in db.session.execute(stmt)]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def iter_events(org: Org, period: Period, team_id=None, locale="zh_CN") -> Iterator[EventRow]:
    result = db.session.execute(events_query(org, period, team_id, locale), execution_options={"yield_per": 2000})
    for row in result:
        yield _event_row(row)


def events_totals(org: Org, period: Period, team_id=None) -> dict:
    """Totals of the events report (one query)."""
    inner = events_query(org, period, team_id).order_by(None).subquery("e")
    row = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(inner.c.volunteers), 0),
            sa.func.coalesce(sa.func.sum(inner.c.minutes), 0),
            sa.func.coalesce(sa.func.sum(inner.c.people), 0),
        ).select_from(inner)
    ).one()
    return {"events": row[0], "volunteers": row[1], "minutes": row[2], "people": row[3]}


# --- youth homes -------------------------------------------------------------------------------


@dataclass
class VenueRow:
    venue_id: int
    name: str
    org: str
    open_minutes: int
    booked_minutes: int

    @property
    def utilisation(self) -> float | None:
        """Booked ÷ open, 0-1 (None when the home was never open in the period)."""
        if self.open_minutes <= 0:
            return None
        return self.booked_minutes / self.open_minutes


def venue_rows(org: Org, period: Period) -> list[VenueRow]:
    """Every active youth home of the subtree with its opening and approved booked time (3 queries)."""
    start, end = period.bounds
    counts = weekday_counts(period)
    per_day = _span_minutes(OpeningHours.opens, OpeningHours.closes)
    days = sa.case(*[(OpeningHours.weekday == wd, n) for wd, n in enumerate(counts)], else_=0)
    # the subtree's homes inside each derived table: the bookings of the period are read through
    # (venue_id, starts_at) for these homes only, not aggregated for the whole city first
    in_subtree = sa.select(Venue.id).join(Org, Org.id == Venue.org_id).where(subtree_clause(org))
    opening = (
        sa.select(OpeningHours.venue_id, sa.func.sum(per_day * days).label("open_minutes"))
        .where(OpeningHours.venue_id.in_(in_subtree))
        .group_by(OpeningHours.venue_id)
        .subquery("opening")
    )
    booked = (
        sa.select(
            Booking.venue_id,
            sa.func.sum(_clipped_minutes(Booking.starts_at, Booking.ends_at, start, end)).label("booked_minutes"),
        )
        .where(
            Booking.state == "approved",
            Booking.starts_at < end,
            Booking.ends_at > start,
            Booking.venue_id.in_(in_subtree),
        )
        .group_by(Booking.venue_id)
        .subquery("booked")
    )
    rows = db.session.execute(
        sa.select(Venue.id, Venue.name, Org.name.label("org"), opening.c.open_minutes, booked.c.booked_minutes)
        .join(Org, Org.id == Venue.org_id)
        .outerjoin(opening, opening.c.venue_id == Venue.id)
        .outerjoin(booked, booked.c.venue_id == Venue.id)
        .where(subtree_clause(org), Venue.active.is_(True))
        .order_by(Venue.name, Venue.id)
    ).all()
    result = {
        r.id: VenueRow(r.id, r.name, r.org, int(round(r.open_minutes or 0)), int(round(r.booked_minutes or 0)))
        for r in rows
    }
    if result:
        _subtract_closures(result, period)
    return list(result.values())


def _subtract_closures(venues: dict[int, VenueRow], period: Period) -> None:
    """Take the opening time of closed days out of each youth home's opening minutes."""
    closures = db.session.execute(
        sa.select(Closure.venue_id, Closure.starts_on, Closure.ends_on).where(
            Closure.venue_id.in_(list(venues)), Closure.starts_on <= period.end, Closure.ends_on >= period.start
        )
    ).all()
    if not closures:
        return
    ids = {c.venue_id for c in closures}
    weekly: dict[int, list[float]] = {vid: [0.0] * 7 for vid in ids}
    for vid, weekday, opens, closes in db.session.execute(
        sa.select(OpeningHours.venue_id, OpeningHours.weekday, OpeningHours.opens, OpeningHours.closes).where(
            OpeningHours.venue_id.in_(ids)
        )
    ):
        weekly[vid][weekday] += (closes.hour * 60 + closes.minute) - (opens.hour * 60 + opens.minute)
    closed: dict[int, set[date]] = {}
    for vid, first, last in closures:
        day = max(first, period.start)
        while day <= min(last, period.end):
            closed.setdefault(vid, set()).add(day)
            day += timedelta(days=1)
    for vid, days in closed.items():
        venues[vid].open_minutes = max(0, venues[vid].open_minutes - int(sum(weekly[vid][d.weekday()] for d in days)))


# --- teams and new volunteers ------------------------------------------------------------------


@dataclass
class TeamRow:
    team_id: int
    name: str
    org: str
    events: int
    participations: int
    minutes: int


def team_rows(org: Org, period: Period) -> list[TeamRow]:
    """Teams of the subtree that held events in the period, or have hours in it (busiest first)."""
    held = (
        sa.select(Event.team_id, sa.func.count().label("events"))
        .where(*events_held_filter(org, period))
        .group_by(Event.team_id)
        .subquery("held")
    )
    sr = ServiceRecord
    pairs = (
        sa.select(sr.volunteer_id, sr.event_id, sa.func.sum(sr.minutes).label("minutes"))
        .where(*ledger_filter(org, period))
        .group_by(sr.volunteer_id, sr.event_id)
        .subquery("pairs")
    )
    ledger = (
        sa.select(
            Event.team_id,
            sa.func.count().label("participations"),
            sa.func.sum(pairs.c.minutes).label("minutes"),
        )
        .join(Event, Event.id == pairs.c.event_id)
        .group_by(Event.team_id)
        .subquery("ledger")
    )
    rows = db.session.execute(
        sa.select(
            Team.id,
            Team.name,
            Org.name.label("org"),
            sa.func.coalesce(held.c.events, 0),
            sa.func.coalesce(ledger.c.participations, 0),
            sa.func.coalesce(ledger.c.minutes, 0),
        )
        .join(Org, Org.id == Team.org_id)
        .outerjoin(held, held.c.team_id == Team.id)
        .outerjoin(ledger, ledger.c.team_id == Team.id)
        .where(subtree_clause(org), sa.or_(held.c.events.is_not(None), ledger.c.minutes.is_not(None)))
        .order_by(sa.func.coalesce(ledger.c.minutes, 0).desc(), Team.name, Team.id)
    ).all()
    return [TeamRow(*r) for r in rows]


def new_volunteers_filter(org: Org, period: Period) -> list:
    start, end = period.bounds
    return [User.created_at >= start, User.created_at < end, User.home_org_id.in_(subtree_ids(org))]


def new_volunteers_page(org: Org, period: Period, page: int = 1):
    home = aliased(Org, name="home")
    stmt = (
        sa.select(User.id, User.name, User.phone, User.created_at, home.name.label("home_org"))
        .join(home, home.id == User.home_org_id)
        .where(*new_volunteers_filter(org, period))
        .order_by(User.created_at.desc(), User.id.desc())
        .limit(PAGE_SIZE + 1)
        .offset((page - 1) * PAGE_SIZE)
    )
    rows = [
        {"id": r.id, "name": r.name, "phone": mask_phone(r.phone), "created_at": r.created_at, "home_org": r.home_org}
        for r in db.session.execute(stmt)
    ]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


# --- the dashboard -----------------------------------------------------------------------------


@dataclass
class Breakdown:
    """Figures of one child org (or of the org itself, for what is recorded on it directly)."""

    org_id: int
    name: str
    own: bool = False  # the org itself, not a child
    events: int = 0
    participations: int = 0
    volunteers: int = 0
    minutes: int = 0
    people: int = 0


@dataclass
class Dashboard:
    org_id: int
    period: Period
    events_held: int = 0
    participations: int = 0
    volunteers: int = 0
    minutes: int = 0
    people: int = 0
    people_by_category: dict[str, int] = field(default_factory=dict)
    venues: int = 0
    open_minutes: int = 0
    booked_minutes: int = 0
    active_teams: int = 0
    new_volunteers: int = 0
    minutes_by_month: list[tuple[date, int]] = field(default_factory=list)
    children: list[Breakdown] = field(default_factory=list)
    top_teams: list[TeamRow] = field(default_factory=list)

    @property
    def utilisation(self) -> float | None:
        return self.booked_minutes / self.open_minutes if self.open_minutes else None


def _child_key_expr(org: Org, path_column):
    """SQL: the path of the child of `org` that `path_column` lies under (or org's own path)."""
    n = len(org.path)
    rest = sa.func.substr(path_column, n + 1)
    if db.session.get_bind().dialect.name == "postgresql":
        slash = sa.func.strpos(rest, "/")
    else:
        slash = sa.func.instr(rest, "/")
    return sa.func.substr(path_column, 1, n + slash)


def _month_bucket(period: Period, column):
    """SQL: the index of the chart bucket (month, or year) that `column` falls in."""
    starts = [utc for _day, utc in period.buckets()]
    if len(starts) == 1:
        return sa.literal(0)
    return sa.case(*[(column < b, i - 1) for i, b in enumerate(starts[1:], 1)], else_=len(starts) - 1)


def _ledger_part(org: Org, period: Period, as_of: int | None) -> dict:
    """The figures that read the service-hour ledger (the expensive part, cached), as of record `as_of`."""
    sr = ServiceRecord
    where = ledger_filter(org, period, as_of=as_of)
    per_event = (
        sa.select(
            sr.event_id.label("event_id"),
            sa.func.count(sa.distinct(sr.volunteer_id)).label("volunteers"),
            sa.func.sum(sr.minutes).label("minutes"),
        )
        .where(*where)
        .group_by(sr.event_id)
        .subquery("per_event")
    )
    child = _child_key_expr(org, Org.path)
    month_starts = period.buckets()
    bucket = _month_bucket(period, Event.starts_at)
    # grouped in an outer query: PostgreSQL cannot match GROUP BY expressions that carry parameters
    inner = (
        sa.select(
            child.label("child"),
            Event.team_id.label("team_id"),
            bucket.label("bucket"),
            per_event.c.volunteers,
            per_event.c.minutes,
        )
        .select_from(per_event)
        # the subtree filter is implied (a record's org is its event's), but without it PostgreSQL
        # expects ten times the events it gets and hash-joins every event of every year
        .join(Event, sa.and_(Event.id == per_event.c.event_id, Event.org_id.in_(subtree_ids(org))))
        .join(Org, Org.id == Event.org_id)
        .subquery("by_event")
    )
    rows = db.session.execute(
        sa.select(
            inner.c.child,
            inner.c.team_id,
            inner.c.bucket,
            sa.func.sum(inner.c.volunteers),
            sa.func.sum(inner.c.minutes),
        ).group_by(inner.c.child, inner.c.team_id, inner.c.bucket)
    ).all()
    by_child: dict[str, list[int]] = {}
    by_team: dict[int, list[int]] = {}
    months = [0] * len(month_starts)
    for child_path, team_id, b, participations, minutes in rows:
        for target in (by_child.setdefault(child_path, [0, 0, 0]), by_team.setdefault(team_id, [0, 0])):
            target[0] += participations or 0
            target[1] += minutes or 0
        months[b] += minutes or 0
    volunteers = db.session.scalar(sa.select(sa.func.count(sa.distinct(sr.volunteer_id))).where(*where)) or 0
    pairs = (
        sa.select(child.label("child"), sr.volunteer_id.label("vid"))
        .join(Org, Org.id == sr.org_id)
        .where(*where)
        .subquery("child_volunteers")
    )
    child_volunteers = dict(
        db.session.execute(
            sa.select(pairs.c.child, sa.func.count(sa.distinct(pairs.c.vid))).group_by(pairs.c.child)
        ).all()
    )
    for path, values in by_child.items():
        values[2] = child_volunteers.get(path, 0)
    return {
        "by_child": by_child,
        "by_team": by_team,
        "months": months,
        "volunteers": volunteers,
        "team_names": _team_names(by_team, {}),
        "as_of": as_of,
    }


def _team_names(by_team: dict, known: dict) -> dict:
    """Names of the ten busiest teams (one query for those not known yet)."""
    top = _top(by_team, 10)
    missing = [tid for tid in top if tid not in known]
    names = {tid: known[tid] for tid in top if tid in known}
    if missing:
        names.update(db.session.execute(sa.select(Team.id, Team.name).where(Team.id.in_(missing))).all())
    return names


#: a refresh reads the records of the volunteers concerned; past this many new records, recompute
MAX_INCREMENT = 2000


def _refresh_ledger(org: Org, period: Period, old: dict, as_of: int) -> dict | None:
    """The ledger part brought from old["as_of"] to `as_of` by reading only what changed.

    The ledger is append-only: the records after the old watermark, and the records they
    supersede, are all that changed. For the volunteers concerned, every record in scope is read
    (through the (volunteer_id, served_at) index) with the id of the record that supersedes it,
    and each volunteer-and-event pair is counted as it was and as it is; the differences are
    added to the cached figures. None when there is too much to catch up on.
    """
    sr = ServiceRecord
    before_id = old["as_of"]
    if before_id is None or as_of - before_id > MAX_INCREMENT:
        return None
    newer = sa.select(sr.volunteer_id).where(sr.id > before_id, sr.id <= as_of)
    replaced = sa.select(sr.volunteer_id).where(
        sr.id.in_(sa.select(sr.supersedes_id).where(sr.id > before_id, sr.id <= as_of))
    )
    volunteers = set(db.session.scalars(newer.union(replaced)))
    if not volunteers:
        return {**old, "as_of": as_of}
    start, end = period.bounds
    later = aliased(ServiceRecord, name="later")
    superseded_by = sa.select(later.id).where(later.supersedes_id == sr.id).scalar_subquery()
    child = _child_key_expr(org, Org.path)
    rows = db.session.execute(
        sa.select(
            sr.id,
            sr.volunteer_id,
            sr.event_id,
            sr.minutes,
            superseded_by,
            child,
            Event.team_id,
            _month_bucket(period, Event.starts_at),
        )
        .join(Event, Event.id == sr.event_id)
        .join(Org, Org.id == sr.org_id)
        .where(
            sr.volunteer_id.in_(sorted(volunteers)),
            sr.served_at >= start,
            sr.served_at < end,
            sr.minutes > 0,
            sr.id <= as_of,
            sr.org_id.in_(subtree_ids(org)),
        )
    ).all()
    pairs: dict[tuple[int, int], list] = {}  # (volunteer, event) -> [before, after, child, team, bucket]
    for rid, vid, eid, minutes, by, child_path, team_id, b in rows:
        pair = pairs.setdefault((vid, eid), [0, 0, child_path, team_id, b])
        if rid <= before_id and (by is None or by > before_id):
            pair[0] += minutes
        if by is None or by > as_of:
            pair[1] += minutes
    by_child = {k: list(v) for k, v in old["by_child"].items()}
    by_team = {k: list(v) for k, v in old["by_team"].items()}
    months = list(old["months"])
    seen: dict[int, tuple[set, set]] = {}
    for (vid, _eid), (before, after, child_path, team_id, b) in pairs.items():
        served = (after > 0) - (before > 0)
        for target in (by_child.setdefault(child_path, [0, 0, 0]), by_team.setdefault(team_id, [0, 0])):
            target[0] += served
            target[1] += after - before
        months[b] += after - before
        was, now = seen.setdefault(vid, (set(), set()))
        if before > 0:
            was.add(child_path)
        if after > 0:
            now.add(child_path)
    total = old["volunteers"]
    for was, now in seen.values():
        total += bool(now) - bool(was)
        for child_path in now - was:
            by_child.setdefault(child_path, [0, 0, 0])[2] += 1
        for child_path in was - now:
            by_child[child_path][2] -= 1
    by_team = {k: v for k, v in by_team.items() if v != [0, 0]}
    by_child = {k: v for k, v in by_child.items() if v != [0, 0, 0]}
    return {
        "by_child": by_child,
        "by_team": by_team,
        "months": months,
        "volunteers": total,
        "team_names": _team_names(by_team, old["team_names"]),
        "as_of": as_of,
    }


def _rest_part(org: Org, period: Period) -> dict:
    """Events held, people served, youth homes, teams, new volunteers (cheap; cached separately)."""
    child = _child_key_expr(org, Org.path)
    held = (
        sa.select(child.label("child"), Event.team_id.label("team_id"))
        .join(Org, Org.id == Event.org_id)
        .where(*events_held_filter(org, period))
        .subquery("held")
    )
    held_rows = db.session.execute(
        sa.select(held.c.child, held.c.team_id, sa.func.count()).group_by(held.c.child, held.c.team_id)
    ).all()
    held_by_child: dict[str, int] = {}
    held_by_team: dict[int, int] = {}
    for path, team_id, n in held_rows:
        held_by_child[path] = held_by_child.get(path, 0) + n
        held_by_team[team_id] = held_by_team.get(team_id, 0) + n
    served = (
        sa.select(child.label("child"), BeneficiaryCount.category.label("category"), BeneficiaryCount.count)
        .join(Event, Event.id == BeneficiaryCount.event_id)
        .join(Org, Org.id == Event.org_id)
        .where(*events_held_filter(org, period))
        .subquery("served")
    )
    people_rows = db.session.execute(
        sa.select(served.c.child, served.c.category, sa.func.sum(served.c.count)).group_by(
            served.c.child, served.c.category
        )
    ).all()
    people_by_child: dict[str, int] = {}
    by_category = dict.fromkeys(BENEFICIARY_CATEGORIES, 0)
    for path, category, n in people_rows:
        people_by_child[path] = people_by_child.get(path, 0) + (n or 0)
        by_category[category] = by_category.get(category, 0) + (n or 0)
    venues = venue_rows(org, period)
    new_volunteers = db.session.scalar(sa.select(sa.func.count()).where(*new_volunteers_filter(org, period))) or 0
    children = db.session.execute(
        sa.select(Org.id, Org.name, Org.path).where(sa.or_(Org.parent_id == org.id, Org.id == org.id))
    ).all()
    return {
        "held_by_child": held_by_child,
        "held_by_team": held_by_team,
        "people_by_child": people_by_child,
        "by_category": by_category,
        "venues": len(venues),
        "open_minutes": sum(v.open_minutes for v in venues),
        "booked_minutes": sum(v.booked_minutes for v in venues),
        "new_volunteers": new_volunteers,
        "children": [tuple(c) for c in children],
    }


#: seconds a dashboard's figures other than the ledger's are reused before their stamp is checked
REST_MAX_AGE = 30
#: seconds the org tree's and team names' stamp is reused (a renamed team or a moved org shows after
#: at most this long; new service records on the next request)
TREE_MAX_AGE = 5
#: id(app) -> (when it was read, the orgs, teams and roots part of the ledger stamp), per process
_tree_seen: dict[int, tuple[float, tuple]] = {}


class DashboardCache:
    """Dashboards computed recently, per (org, period), kept while the data they read is unchanged.

    Validity is checked with one cheap statement (`_stamps`, see `_stamp_parts`): the ledger part
    with the highest service-record id (the ledger is append-only: every new record or correction
    raises it), the org tree and the team names, on every read; the rest (events held, people
    served, youth homes, teams, new volunteers) with the latest ids and change times of their
    tables (from indexes), at most every REPORTS_REST_MAX_AGE seconds (default 30). A ledger part
    that is behind only by new records catches up from them (`_refresh_ledger`); anything else
    stale is recomputed. The Dashboard assembled from the two parts is kept with them (`board`).
    Each process keeps its own cache; nothing is shared but the database.
    Assumption: an event's team and org do not change once hours are recorded for it.
    """

    def __init__(self, size: int = 32):
        self.size = size
        self.entries: OrderedDict = OrderedDict()
        self.boards: OrderedDict = OrderedDict()  # key -> (ledger part, rest part, Dashboard)
        self.lock = threading.Lock()

    def get(self, key, stamp):
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] != stamp:
                return None
            self.entries[key] = (stamp, entry[1], time.monotonic())
            self.entries.move_to_end(key)
            return entry[1]

    def get_any(self, key):
        """(stamp, value) of an entry whatever its stamp, or None."""
        with self.lock:
            return self.entries.get(key)

    def put(self, key, stamp, value) -> None:
        with self.lock:
            self.entries[key] = (stamp, value, time.monotonic())
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def board(self, key, ledger: dict, rest: dict, assemble):
        """The Dashboard assembled from these very ledger and rest parts: made once per cached
        computation (it sorts thousands of teams), not once per request."""
        with self.lock:
            entry = self.boards.get(key)
        if entry is not None and entry[0] is ledger and entry[1] is rest:
            return entry[2]
        value = assemble()
        with self.lock:
            self.boards[key] = (ledger, rest, value)
            self.boards.move_to_end(key)
            while len(self.boards) > self.size:
                self.boards.popitem(last=False)
        return value

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.boards.clear()


cache = DashboardCache()


LEDGER_STAMP = ("ledger", "orgs", "teams", "roots")  # "roots" last: ledger_stamp[-1]
REST_STAMP = ("events", "served", "bookings", "venues", "opening", "closures", "users", "orgs")  # orgs: names
RATINGS_STAMP = ("ratings",)


def _stamp_parts() -> dict:
    """What each validity check reads. Big tables only through an index's last entry (max of an
    indexed column): a new row raises the max id, a change in place raises max(updated_at) or the
    decision / cancellation time; small tables (orgs, teams, youth homes and their hours) are
    summed whole. Bookings count for the figures once approved, and stop when cancelled: both
    stamp a time. Beneficiary counts can be deleted (an emptied category): their count too."""
    count, total, length, high = sa.func.count, sa.func.sum, sa.func.length, sa.func.max
    return {
        "ledger": (ServiceRecord, [high(ServiceRecord.id)]),
        "orgs": (Org, [count(), high(Org.id), total(Org.parent_id), total(length(Org.path)), total(length(Org.name))]),
        "teams": (
            Team,
            [
                count(),
                high(Team.id),
                total(length(Team.name)),
                total(sa.case((Team.active.is_(True), Team.id), else_=0)),
            ],
        ),
        "roots": (Org, [total(sa.case((Org.parent_id.is_(None), 1), else_=0))]),
        "events": (Event, [high(Event.id), high(Event.updated_at)]),
        "served": (BeneficiaryCount, [count(), high(BeneficiaryCount.updated_at)]),
        "bookings": (Booking, [high(Booking.id), high(Booking.decided_at), high(Booking.cancelled_at)]),
        "venues": (Venue, [count(), total(sa.case((Venue.active.is_(True), Venue.id), else_=0)), total(Venue.org_id)]),
        "opening": (OpeningHours, [count(), high(OpeningHours.id)]),
        "closures": (Closure, [count(), high(Closure.id)]),
        "users": (User, [high(User.id), total(User.home_org_id)]),
        "ratings": (Feedback, [high(Feedback.id)]),
    }


#: the SELECT of each combination of stamp groups, built once per process (building it took longer
#: than running it)
_stamp_selects: dict[tuple, tuple[sa.Select, list[int]]] = {}


def _stamps(*groups: tuple[str, ...]) -> tuple[tuple, ...]:
    """The validity stamps of several groups of tables (see `_stamp_parts`) in one statement.

    One scalar subquery per value: both databases answer max(id) from the index's last entry and
    sum(home_org_id) from the home-org index alone (a join of derived tables ran 4x slower).
    """
    built = _stamp_selects.get(groups)
    if built is None:
        parts = _stamp_parts()
        columns, sizes = [], []
        for names in groups:
            sizes.append(sum(len(parts[name][1]) for name in names))
            for name in names:
                table, aggregates = parts[name]
                columns += [sa.select(aggregate).select_from(table).scalar_subquery() for aggregate in aggregates]
        built = _stamp_selects[groups] = (sa.select(*columns), sizes)
    stmt, sizes = built
    db.session.flush()  # as session.execute's autoflush did (nothing to do for a clean session)
    values = tuple(fetch(stmt)[0])
    out, i = [], 0
    for n in sizes:
        out.append(values[i : i + n])
        i += n
    return tuple(out)


#: the home panel computes a dashboard from scratch only for subtrees with at most this many events
#: in the period (about a second at most); bigger ones show figures once the dashboard was opened
CHEAP_EVENTS = 3000


def _is_cheap(org: Org, period: Period) -> bool:
    start, end = period.bounds
    count = db.session.scalar(
        sa.select(sa.func.count()).where(
            Event.starts_at >= start, Event.starts_at < end, Event.org_id.in_(subtree_ids(org))
        )
    )
    return (count or 0) <= CHEAP_EVENTS


def dashboard(org: Org, period: Period, use_cache: bool = True, only_if_cheap: bool = False) -> Dashboard | None:
    """All the dashboard's figures for `org`'s subtree and `period`.

    A cached dashboard costs one statement: the ledger's validity stamp, with the rest's when it is
    due (every REPORTS_REST_MAX_AGE seconds) and the highest rating id, which the feedback
    section's cached tables are checked against (handed to it, so it need not read it again).
    The Dashboard returned may be shared by every request until a figure changes: do not modify it.

    only_if_cheap: None instead of a long computation (a big subtree with nothing cached).
    """
    key = (org.id, org.path, period.start, period.end)
    rest_entry = cache.get_any(("rest", *key)) if use_cache else None
    now = time.monotonic()
    config = current_app.config
    rest_recent = rest_entry is not None and now - rest_entry[2] < config.get("REPORTS_REST_MAX_AGE", REST_MAX_AGE)
    # the org tree and the team names (whole-table sums: most of the stamp's cost) are read again at
    # most every REPORTS_TREE_MAX_AGE seconds; the ledger's max id on every request
    tree_key = id(current_app._get_current_object())
    tree_seen = _tree_seen.get(tree_key) if use_cache else None
    tree_max_age = config.get("REPORTS_TREE_MAX_AGE", 0 if current_app.testing else TREE_MAX_AGE)
    tree_recent = tree_seen is not None and now - tree_seen[0] < tree_max_age
    groups = (("ledger",) if tree_recent else LEDGER_STAMP, RATINGS_STAMP)
    if not rest_recent:
        groups += (REST_STAMP,)
    ledger_stamp, (latest_rating,), *rest_stamp = _stamps(*groups)
    if tree_recent:
        ledger_stamp = ledger_stamp + tree_seen[1]
    elif use_cache:
        _tree_seen.clear()  # one app in production; tests make many
        _tree_seen[tree_key] = (now, ledger_stamp[1:])
    note_latest_rating_id(latest_rating)
    as_of, tree = ledger_stamp[0], ledger_stamp[1:]
    ledger = None
    if use_cache:
        ledger = cache.get(("ledger", *key), ledger_stamp)
        if ledger is None and tree_recent:
            # new records: catch up only against the tree as it is now (a moved org, a renamed team)
            ledger_stamp = _stamps(LEDGER_STAMP)[0]
            _tree_seen[tree_key] = (now, ledger_stamp[1:])
            as_of, tree = ledger_stamp[0], ledger_stamp[1:]
            ledger = cache.get(("ledger", *key), ledger_stamp)
        if ledger is None:
            # the same org tree and teams, only newer records: catch up instead of recomputing
            stale = cache.get_any(("ledger", *key))
            if stale is not None and stale[0][1:] == tree and (stale[0][0] or 0) <= (as_of or 0):
                ledger = _refresh_ledger(org, period, stale[1], as_of or 0)
            if ledger is not None:
                cache.put(("ledger", *key), ledger_stamp, ledger)
    cheap = None
    if ledger is None:
        if only_if_cheap and not (cheap := _is_cheap(org, period)):
            return None
        ledger = _ledger_part(org, period, as_of or 0)
        if use_cache:
            cache.put(("ledger", *key), ledger_stamp, ledger)
    rest = None
    if rest_recent:
        rest = rest_entry[1]  # checked recently: events, bookings and accounts change slowly
    else:
        rest_stamp = rest_stamp[0]
        rest = cache.get(("rest", *key), rest_stamp) if use_cache else None
        if rest is None:
            if only_if_cheap and cheap is None and not _is_cheap(org, period):
                return None
            rest = _rest_part(org, period)
            if use_cache:
                cache.put(("rest", *key), rest_stamp, rest)
    if not use_cache:
        return _assemble(org, period, ledger, rest)
    return cache.board(key, ledger, rest, lambda: _assemble(org, period, ledger, rest))


def _top(by_team: dict[int, list[int]], n: int) -> list[int]:
    return [tid for tid, _v in sorted(by_team.items(), key=lambda kv: (-kv[1][1], kv[0]))[:n]]


def _assemble(org: Org, period: Period, ledger: dict, rest: dict) -> Dashboard:
    board = Dashboard(org_id=org.id, period=period)
    board.events_held = sum(rest["held_by_child"].values())
    board.participations = sum(v[0] for v in ledger["by_child"].values())
    board.minutes = sum(v[1] for v in ledger["by_child"].values())
    board.volunteers = ledger["volunteers"]
    board.people_by_category = rest["by_category"]
    board.people = sum(rest["by_category"].values())
    board.venues = rest["venues"]
    board.open_minutes = rest["open_minutes"]
    board.booked_minutes = rest["booked_minutes"]
    board.active_teams = len(rest["held_by_team"])
    board.new_volunteers = rest["new_volunteers"]
    board.minutes_by_month = list(zip([d for d, _u in period.buckets()], ledger["months"], strict=True))
    for oid, name, path in sorted(rest["children"], key=lambda c: (c[2] != org.path, c[1])):
        values = ledger["by_child"].get(path, [0, 0, 0])
        row = Breakdown(
            org_id=oid,
            name=name,
            own=path == org.path,
            events=rest["held_by_child"].get(path, 0),
            participations=values[0],
            minutes=values[1],
            volunteers=values[2],
            people=rest["people_by_child"].get(path, 0),
        )
        if not row.own or any((row.events, row.minutes, row.people)):
            board.children.append(row)
    names = ledger["team_names"]
    for tid in _top(ledger["by_team"], 10):
        held = rest["held_by_team"].get(tid, 0)
        board.top_teams.append(TeamRow(tid, names.get(tid, "?"), "", held, *ledger["by_team"][tid]))
    return board


#: the home panel shows the figures it last read for this long (seconds) without reading anything
HOME_MAX_AGE = 300


def headline(org: Org) -> Dashboard | None:
    """This year's dashboard for the coordinator's home panel; None for a big subtree whose
    figures are not cached yet (the panel then links to the dashboard).

    A home page must be instant, and checking the dashboard's figures costs one to three statements
    (its stamps: 2-70 ms at city scale; counting a big subtree's events: 3-8 ms): what was read is kept
    in `cache` and shown again for REPORTS_HOME_MAX_AGE seconds without a statement. A subtree found
    too big is looked at again sooner when the dashboard has computed its figures since.
    """
    cached = g.setdefault("_report_headline", {}) if has_request_context() else {}
    if org.id in cached:
        return cached[org.id]
    period = Period.this_year()
    key = (org.id, org.path, period.start, period.end)
    ledger = cache.get_any(("ledger", *key))
    seen = cache.get_any(("home", *key))  # (the dashboard's ledger stamp then, figures, when)
    max_age = current_app.config.get("REPORTS_HOME_MAX_AGE", HOME_MAX_AGE)
    if (
        seen is not None
        and time.monotonic() - seen[2] < max_age
        and (seen[1] is not None or seen[0] == (ledger[0] if ledger else None))
    ):
        board = seen[1]
    else:
        board = dashboard(org, period, only_if_cheap=True)
        ledger = cache.get_any(("ledger", *key))
        cache.put(("home", *key), ledger[0] if ledger else None, board)
    cached[org.id] = board
    return board
