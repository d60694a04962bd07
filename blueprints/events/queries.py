"""Read-side queries: the weekly list, my events, panels, the roster, calendar feeds.

Each list is one query with its relations loaded eagerly (no N+1), and paginated.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm import joinedload

from blueprints.core.extensions import db
from blueprints.core.timeutil import local_to_utc, local_today, to_local, utcnow
from blueprints.orgs.models import Org
from blueprints.orgs.services import scope_clause, subtree_clause
from blueprints.teams.models import Membership, Team
from blueprints.teams.services import led_team_ids, led_team_ids_column, remember_led_team_ids

from .models import Event, Registration

LISTED_STATES = ("published", "completed")


def event_options():
    from blueprints.venues.models import Booking

    return (
        joinedload(Event.team),
        joinedload(Event.category),
        joinedload(Event.booking).joinedload(Booking.venue),
    )


def parse_week(text: str | None) -> tuple[int, int] | None:
    """'2026-W47' -> (2026, 47); None when empty; ValueError when malformed."""
    if not text:
        return None
    year_text, _, week_text = text.upper().partition("-W")
    year, week = int(year_text), int(week_text)
    date.fromisocalendar(year, week, 1)  # raises ValueError for week 53 of a 52-week year
    return year, week


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def current_week() -> date:
    today = local_today()
    return today - timedelta(days=today.weekday())


def default_org(user) -> Org | None:
    """The top of the user's home org's tree, else the first top-level org."""
    home = getattr(user, "home_org", None) if getattr(user, "is_authenticated", False) else None
    if home is not None and home.ancestor_ids:
        root = db.session.get(Org, home.ancestor_ids[0])
        if root is not None:
            return root
    return db.session.scalar(sa.select(Org).where(Org.parent_id.is_(None)).order_by(Org.id).limit(1))


def _week_ids(org: Org, monday: date, category_id: int | None, day: date | None):
    """SELECT of the ids of `org`'s subtree's listed events starting in the week of `monday` (or on `day`)."""
    first, days = (day, 1) if day else (monday, 7)
    start = local_to_utc(first, datetime.min.time())
    end = local_to_utc(first + timedelta(days=days), datetime.min.time())
    ids = (
        sa.select(Event.id)
        .join(Org, Org.id == Event.org_id)
        .where(
            subtree_clause(org),
            Event.state.in_(LISTED_STATES),
            Event.starts_at >= start,
            Event.starts_at < end,
        )
    )
    if category_id:
        ids = ids.where(Event.category_id == category_id)
    return ids


def week_events(
    org: Org,
    monday: date,
    *,
    category_id: int | None = None,
    limit: int = 40,
    offset: int = 0,
    day: date | None = None,
) -> list[Event]:
    """Published (and completed) events of `org`'s subtree starting in the week of `monday` (or on `day`)."""
    # the page's ids first (from the covering index ix_events_state_starts_org), then only those
    # rows with their team, category and place: joining every event of the week before the sort
    # cost ~10 ms at city scale
    ids = _week_ids(org, monday, category_id, day).order_by(Event.starts_at, Event.id).limit(limit).offset(offset)
    stmt = sa.select(Event).where(Event.id.in_(ids.scalar_subquery())).options(*event_options())
    return list(db.session.scalars(stmt.order_by(Event.starts_at, Event.id)))


def week_count(org: Org, monday: date, *, category_id: int | None = None, day: date | None = None) -> int:
    """How many events week_events() lists in all (its pages together)."""
    ids = _week_ids(org, monday, category_id, day).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(ids)) or 0


def group_by_day(events: list[Event]) -> list[tuple[date, list[Event]]]:
    days: dict[date, list[Event]] = {}
    for event in events:
        days.setdefault(to_local(event.starts_at).date(), []).append(event)
    return list(days.items())


def my_states(user, event_ids: list[int]) -> dict[int, Registration]:
    """The user's active registration at each of these events (one query)."""
    if not getattr(user, "is_authenticated", False) or not event_ids:
        return {}
    rows = db.session.scalars(
        sa.select(Registration).where(
            Registration.user_id == user.id,
            Registration.event_id.in_(event_ids),
            Registration.state != "cancelled",
        )
    )
    return {r.event_id: r for r in rows}


def my_coming(user, limit: int, offset: int, waitlist_limit: int) -> tuple[list, list]:
    """The user's places at coming (or running) events, soonest first, in one statement: `limit`
    confirmed ones from `offset` (a page of them) and the first `waitlist_limit` waitlist places.
    Returns ([(event, registration)] confirmed, [(event, registration)] waitlisted)."""
    now = utcnow()
    rank = sa.func.row_number().over(partition_by=Registration.state, order_by=(Event.starts_at, Event.id))
    ranked = (
        sa.select(Registration.id.label("registration_id"), rank.label("rank"))
        .join(Event, Event.id == Registration.event_id)
        .where(
            Registration.user_id == user.id,
            Registration.state.in_(("confirmed", "waitlisted")),
            Event.state == "published",
            Event.ends_at > now,
        )
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Event, Registration)
        .join(Registration, Registration.event_id == Event.id)
        .join(ranked, ranked.c.registration_id == Registration.id)
        .where(
            sa.or_(
                sa.and_(Registration.state == "confirmed", ranked.c.rank > offset, ranked.c.rank <= offset + limit),
                sa.and_(Registration.state == "waitlisted", ranked.c.rank <= waitlist_limit),
            )
        )
        .options(*event_options())
        .order_by(Event.starts_at, Event.id)
    ).all()
    confirmed = [(e, r) for e, r in rows if r.state == "confirmed"]
    return confirmed, [(e, r) for e, r in rows if r.state == "waitlisted"]


def my_past(user, limit: int, offset: int) -> list[tuple[Event, Registration]]:
    """Events the user had a seat at that are over (completed, or ended)."""
    now = utcnow()
    return list(
        db.session.execute(
            sa.select(Event, Registration)
            .join(Registration, Registration.event_id == Event.id)
            .where(
                Registration.user_id == user.id,
                Registration.state.in_(("confirmed", "attended", "no_show")),
                sa.or_(Event.state == "completed", sa.and_(Event.state == "published", Event.ends_at <= now)),
            )
            .options(*event_options())
            .order_by(Event.starts_at.desc(), Event.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    )


#: the home page lists this many of the user's next places, and of their teams' coming events
HOME_MINE, HOME_LED = 6, 8


@dataclass
class HomeEvents:
    """What the home page's two events panels show (see home_events)."""

    mine: list[tuple[Event, Registration]]  # the user's next places, soonest first
    led: list[Event]  # coming events (drafts included) of the teams the user leads, soonest first
    led_team_ids: list[int]


@functools.cache
def _home_events_statement():
    """Both lists and the led teams' ids as ONE statement, built once per process (building it costs
    more than running it): the user's id and "now" are parameters.

    A one-row head (the led teams' ids, so the leader panel knows to show itself even with no coming
    event) outer-joined with the union of the two short lists' event ids, then each event with its
    place and the user's registration for it.
    """
    from blueprints.venues.models import Booking

    user_id = sa.bindparam("home_user_id", type_=sa.Integer)
    now = sa.bindparam("home_now", type_=Event.starts_at.type)
    places = ("confirmed", "waitlisted")
    mine = (
        sa.select(Event.id.label("event_id"), sa.literal("mine").label("list"))
        .join(Registration, Registration.event_id == Event.id)
        .where(
            Registration.user_id == user_id,
            Registration.state.in_(places),
            Event.state == "published",
            Event.ends_at > now,
        )
        .order_by(Event.starts_at, Event.id)
        .limit(HOME_MINE)
    )
    led_teams = sa.select(Membership.team_id).where(
        Membership.user_id == user_id, Membership.role == "leader", Membership.state == "active"
    )
    led = (
        sa.select(Event.id.label("event_id"), sa.literal("led").label("list"))
        .where(Event.team_id.in_(led_teams), Event.state.in_(("draft", "published")), Event.ends_at > now)
        .order_by(Event.starts_at, Event.id)
        .limit(HOME_LED)
    )
    picks = sa.union_all(mine.subquery().select(), led.subquery().select()).subquery("picks")
    head = sa.select(led_team_ids_column(user_id).label("led_teams")).subquery("head")
    return (
        sa.select(head.c.led_teams, picks.c.list, Event, Registration)
        .select_from(head)
        .outerjoin(picks, sa.true())
        .outerjoin(Event, Event.id == picks.c.event_id)
        .outerjoin(
            Registration,
            sa.and_(
                Registration.event_id == Event.id,
                Registration.user_id == user_id,
                Registration.state.in_(places),
            ),
        )
        # the panels show each event's place (a youth home, else the address), not its team or category:
        # two joins fewer to plan (PostgreSQL plans a statement of many joins for milliseconds)
        .options(joinedload(Event.booking).joinedload(Booking.venue))
        .order_by(Event.starts_at, Event.id)
    )


def home_events(user) -> HomeEvents:
    """The home page's events panels in one statement (cached for the request): the user's next
    places, and the coming events of the teams they lead. The led teams' ids come along, so
    led_team_ids needs no statement for the rest of the request."""
    cache = g.setdefault("_home_events", {}) if has_request_context() else {}
    if user.id not in cache:
        rows = db.session.execute(_home_events_statement(), {"home_user_id": user.id, "home_now": utcnow()}).all()
        home = HomeEvents(mine=[], led=[], led_team_ids=remember_led_team_ids(user, rows[0].led_teams))
        for _teams, which, event, registration in rows:
            if which == "mine":
                home.mine.append((event, registration))
            elif which == "led":
                home.led.append(event)
        cache[user.id] = home
    return cache[user.id]


def team_upcoming(team: Team, include_drafts: bool, limit: int = 10) -> list[Event]:
    states = ("draft", "published") if include_drafts else ("published",)
    return list(
        db.session.scalars(
            sa.select(Event)
            .where(Event.team_id == team.id, Event.state.in_(states), Event.ends_at > utcnow())
            .options(*event_options())
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        )
    )


def roster(event: Event, state: str, limit: int, offset: int) -> list[Registration]:
    states = {"confirmed": ("confirmed", "attended", "no_show"), "waitlisted": ("waitlisted",)}.get(
        state, ("cancelled",)
    )
    order = {
        "confirmed": (Registration.created_at, Registration.id),
        "waitlisted": (Registration.waitlist_position, Registration.id),
    }.get(state, (Registration.cancelled_at.desc(), Registration.id.desc()))
    return list(
        db.session.scalars(
            sa.select(Registration)
            .where(Registration.event_id == event.id, Registration.state.in_(states))
            .options(joinedload(Registration.user))
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
    )


def roster_counts(event: Event) -> dict[str, int]:
    rows = dict(
        db.session.execute(
            sa.select(Registration.state, sa.func.count())
            .where(Registration.event_id == event.id)
            .group_by(Registration.state)
        ).all()
    )
    return {
        "confirmed": rows.get("confirmed", 0) + rows.get("attended", 0) + rows.get("no_show", 0),
        "waitlisted": rows.get("waitlisted", 0),
        "cancelled": rows.get("cancelled", 0),
    }


def roster_rows(event: Event) -> list:
    """Every registration of the event for the CSV export: seated, then the waitlist, then cancelled.

    Read in full before the response streams (one event's roster is at most a few thousand rows).
    """
    from blueprints.auth.models import User

    return db.session.execute(
        sa.select(Registration, User)
        .join(User, User.id == Registration.user_id)
        .where(Registration.event_id == event.id)
        .order_by(
            sa.case(
                (Registration.state.in_(("confirmed", "attended", "no_show")), 0),
                (Registration.state == "waitlisted", 1),
                else_=2,
            ),
            Registration.waitlist_position,
            Registration.created_at,
            Registration.id,
        )
    ).all()


def org_feed_events(org: Org, limit: int = 1000) -> list[Event]:
    now = utcnow()
    return list(
        db.session.scalars(
            sa.select(Event)
            .join(Org, Org.id == Event.org_id)
            .where(
                subtree_clause(org),
                Event.state.in_(LISTED_STATES + ("cancelled",)),
                Event.starts_at >= now - timedelta(days=30),
                Event.starts_at < now + timedelta(days=120),
            )
            .options(*event_options())
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        )
    )


def user_feed_rows(user, limit: int = 1000) -> list[tuple[Event, Registration]]:
    now = utcnow()
    return list(
        db.session.execute(
            sa.select(Event, Registration)
            .join(Registration, Registration.event_id == Event.id)
            .where(
                Registration.user_id == user.id,
                Registration.state.in_(("confirmed", "waitlisted", "attended")),
                Event.state.in_(LISTED_STATES),
                Event.starts_at >= now - timedelta(days=180),
            )
            .options(*event_options())
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        ).all()
    )


def manageable_teams(user, limit: int = 50) -> list[Team]:
    """Teams the user may create events for: led teams, and (coordinators) teams in scope."""
    ids = led_team_ids(user)
    stmt = sa.select(Team).join(Org, Org.id == Team.org_id).where(Team.active.is_(True))
    if not user.is_admin:
        stmt = stmt.where(sa.or_(Team.id.in_(ids) if ids else sa.false(), scope_clause(user)))
    return list(db.session.scalars(stmt.options(joinedload(Team.org)).order_by(Team.name).limit(limit)))
