"""The hour tally page, served from a per-process copy of the tally that catches up with new records.

A year of a whole city's ledger is about a million records for 200,000 volunteers: aggregating and
sorting it took most of a second a request. The figures of a tally (events attended and minutes
per volunteer: services.tally_query) are kept here per (org, period, team), as of a ledger record
id, in compact arrays; each request checks that id (one statement, services._stamps) and

- nothing new: serves the page from memory, then reads the page's 30 volunteers (name, phone,
  home org, teams, this year's hours and target) in one statement, so those are always current;
- new records or corrections only (the ledger is append-only): recomputes the few volunteers
  concerned and moves them in the sorted orders (one statement);
- the org tree or the teams changed, or too much to catch up on: computes the tally again.

Sorting by hours or events is done here once per tally (stable sorts: ties by volunteer id, as
the SQL). Sorting by name or home organisation takes the database's order of all accounts (its
collation, its place for a missing home org), read at most every REPORTS_REST_MAX_AGE seconds:
a volunteer renamed within that time may sit at their old name's place for that long (the row
itself shows the new name). The CSV/XLSX exports and the CLI still stream services.tally_query.
"""

from __future__ import annotations

import functools
import threading
import time
from array import array
from bisect import bisect_left, insort
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from blueprints.auth.models import User, mask_phone
from blueprints.core.extensions import db
from blueprints.core.models import UTCDateTime
from blueprints.hours.models import ServiceRecord, is_effective_clause
from blueprints.orgs.models import DEFAULT_TARGET_HOURS, Org
from blueprints.teams.models import Membership, Team

from . import services
from .periods import Period
from .services import LEDGER_STAMP, MAX_INCREMENT, REST_MAX_AGE, TallyRow, _stamps, ledger_filter

NUMERIC_SORTS = ("hours", "events")
#: a catch-up moves at most this many volunteers in the kept orders; past it, orders are sorted anew
REORDER_LIMIT = 200


@dataclass
class Tally:
    """A tally as of ledger record `as_of`: a row per volunteer (events attended, minutes).

    Rows `[:sorted_upto]` are in volunteer-id order; volunteers who joined the tally since it was
    computed are appended after them (`tail`: volunteer id -> row). A row whose volunteer left the
    tally (every record corrected to 0) keeps 0 minutes and is in no order. Its figures never
    change once published (a catch-up makes a new Tally; copying the arrays is a memcpy); orders
    are added as pages ask for them, under `lock`.
    """

    as_of: int
    tree: tuple  # services.LEDGER_STAMP but the ledger's: orgs, teams, and the number of roots last
    vids: array
    events: array
    minutes: array
    sorted_upto: int
    tail: dict[int, int] = field(default_factory=dict)
    #: (sort, descending) -> rows (hours, events) or volunteer ids (name, org) in that order
    orders: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def roots(self) -> int:
        """Orgs without a parent when the tally was computed."""
        return self.tree[-1]

    def row_of(self, vid: int) -> int | None:
        i = bisect_left(self.vids, vid, 0, self.sorted_upto)
        if i < self.sorted_upto and self.vids[i] == vid:
            return i
        return self.tail.get(vid)


def _numeric_key(tally: Tally, sort: str, descending: bool):
    """Key of a row in the order (sort, descending): the SQL's ORDER BY value, then volunteer id."""
    values = tally.minutes if sort == "hours" else tally.events
    vids = tally.vids
    if descending:
        return lambda j: (-values[j], vids[j])
    return lambda j: (values[j], vids[j])


def _numeric_order(tally: Tally, sort: str, descending: bool) -> array:
    """Rows of the live volunteers ordered like the SQL: by the value, ties by volunteer id."""
    live = [j for j in range(len(tally.vids)) if tally.minutes[j] > 0]
    if tally.tail:  # newcomers appended after the rows in id order: put them in id order first
        live.sort(key=tally.vids.__getitem__)
    # a stable sort on the value alone keeps ties in id order (reverse=True keeps them too)
    values = tally.minutes if sort == "hours" else tally.events
    return array("l", sorted(live, key=values.__getitem__, reverse=descending))


# --- the database's order of accounts by name / home organisation --------------------------------


def _account_order(sort: str, descending: bool, fresh: bool = False) -> array:
    """Every account's id in the order of the tally's name or home-org sort, from the database."""
    state = _state()
    max_age = current_app.config.get("REPORTS_REST_MAX_AGE", REST_MAX_AGE)
    with state.lock:
        entry = state.accounts.get((sort, descending))
    if entry is not None and not fresh and time.monotonic() - entry[0] < max_age:
        return entry[1]
    home = aliased(Org, name="home")
    column = User.name if sort == "name" else home.name
    stmt = sa.select(User.id).order_by(column.desc() if descending else column.asc(), User.id)
    if sort == "org":
        stmt = stmt.outerjoin(home, home.id == User.home_org_id)
    ids = array("q", db.session.scalars(stmt))
    with state.lock:
        state.accounts[(sort, descending)] = (time.monotonic(), ids)
    return ids


def _account_based_order(tally: Tally, sort: str, descending: bool) -> array:
    """Volunteer ids of the tally in the database's name / home-org order."""
    live = {tally.vids[j] for j in range(len(tally.vids)) if tally.minutes[j] > 0}
    ordered = array("q", (vid for vid in _account_order(sort, descending) if vid in live))
    if len(ordered) < len(live):  # an account newer than the order: read it again
        ordered = array("q", (vid for vid in _account_order(sort, descending, fresh=True) if vid in live))
    return ordered


# --- computing and catching up -------------------------------------------------------------------


def _aggregate(org: Org, period: Period, team_id: int | None, as_of: int) -> list:
    """(volunteer id, events attended, minutes) of the ledger in scope as of record `as_of`, by id."""
    sr = ServiceRecord
    stmt = (
        sa.select(sr.volunteer_id, sa.func.count(sa.distinct(sr.event_id)), sa.func.sum(sr.minutes))
        .where(*ledger_filter(org, period, team_id, as_of=as_of))
        .group_by(sr.volunteer_id)
        .order_by(sr.volunteer_id)
    )
    return db.session.execute(stmt).all()


def _compute(org: Org, period: Period, team_id: int | None, as_of: int, tree: tuple) -> Tally:
    rows = _aggregate(org, period, team_id, as_of)
    return Tally(
        as_of=as_of,
        tree=tree,
        vids=array("q", (r[0] for r in rows)),
        events=array("q", (r[1] for r in rows)),
        minutes=array("q", (int(r[2] or 0) for r in rows)),
        sorted_upto=len(rows),
    )


def _catch_up(old: Tally, org: Org, period: Period, team_id: int | None, as_of: int) -> Tally | None:
    """`old` brought to record `as_of` by recomputing only the volunteers of the records added
    since and of the records these supersede (one statement). None when there is too much."""
    if as_of - old.as_of > MAX_INCREMENT or len(old.tail) > MAX_INCREMENT:
        return None
    sr = ServiceRecord
    newer = sa.select(sr.volunteer_id.label("vid")).where(sr.id > old.as_of, sr.id <= as_of)
    replaced = sa.select(sr.volunteer_id.label("vid")).where(
        sr.id.in_(sa.select(sr.supersedes_id).where(sr.id > old.as_of, sr.id <= as_of))
    )
    concerned = newer.union(replaced).subquery("concerned")
    # every volunteer concerned, with 0 when nothing of theirs is in scope any more
    changed = db.session.execute(
        sa.select(
            concerned.c.vid,
            sa.func.count(sa.distinct(sr.event_id)),
            sa.func.coalesce(sa.func.sum(sr.minutes), 0),
        )
        .select_from(concerned)
        .outerjoin(
            sr,
            sa.and_(
                sr.volunteer_id == concerned.c.vid, *ledger_filter(org, period, team_id, as_of=as_of, per_record=True)
            ),
        )
        .group_by(concerned.c.vid)
        .order_by(concerned.c.vid)
    ).all()
    new = replace(
        old,
        as_of=as_of,
        vids=array("q", old.vids),
        events=array("q", old.events),
        minutes=array("q", old.minutes),
        tail=dict(old.tail),
        orders={},
        lock=threading.Lock(),
    )
    with old.lock:
        orders = dict(old.orders)
    # moving a row in an order shifts the array behind it: for many volunteers, sort anew instead
    keep = len(changed) <= REORDER_LIMIT
    numeric = {k: array("l", v) for k, v in orders.items() if k[0] in NUMERIC_SORTS and keep}
    joined_or_left = False
    for vid, events, minutes in changed:
        minutes = int(minutes or 0)
        j = new.row_of(vid)
        was_live = j is not None and new.minutes[j] > 0
        if not was_live and minutes <= 0:
            continue
        if was_live:  # out of every order, with its old values
            for (sort, descending), order in numeric.items():
                key = _numeric_key(new, sort, descending)
                del order[bisect_left(order, key(j), key=key)]
        if j is None:
            j = len(new.vids)
            new.vids.append(vid)
            new.events.append(0)
            new.minutes.append(0)
            new.tail[vid] = j
        new.events[j], new.minutes[j] = (events, minutes) if minutes > 0 else (0, 0)
        joined_or_left |= was_live != (minutes > 0)
        if minutes > 0:
            for (sort, descending), order in numeric.items():
                insort(order, j, key=_numeric_key(new, sort, descending))
    new.orders.update(numeric)
    if not joined_or_left:  # the same volunteers: their order by name or home org holds
        new.orders.update({k: v for k, v in orders.items() if k[0] not in NUMERIC_SORTS})
    return new


class TallyCache:
    """Tallies per (org id, org path, period, team), the most recent `size` of them, per process and
    app; and the database's orders of all accounts (`accounts`: (sort, descending) -> (read at, ids))."""

    def __init__(self, size: int = 8):
        self.size = size
        self.entries: OrderedDict = OrderedDict()
        self.accounts: dict[tuple[str, bool], tuple[float, array]] = {}
        self.lock = threading.Lock()

    def get(self, key) -> Tally | None:
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
            return value

    def put(self, key, value: Tally) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.accounts.clear()


def _state() -> TallyCache:
    """This app's TallyCache (an app per database: tests run several in one process)."""
    state = current_app.extensions.get("reports_tallies")
    if state is None:
        state = current_app.extensions.setdefault("reports_tallies", TallyCache())
    return state


def current_tally(org: Org, period: Period, team_id: int | None = None) -> Tally:
    """The tally as of the latest ledger record: from the cache, caught up, or computed."""
    ledger_stamp = _stamps(LEDGER_STAMP)[0]
    as_of, tree = ledger_stamp[0] or 0, ledger_stamp[1:]  # tree: orgs, teams, roots
    key = (org.id, org.path, period.start, period.end, team_id)
    cache = _state()
    tally = cache.get(key)
    if tally is not None and tally.tree == tree and tally.as_of == as_of:
        return tally
    if tally is not None and tally.tree == tree and tally.as_of < as_of:
        tally = _catch_up(tally, org, period, team_id, as_of)
    else:
        tally = None
    if tally is None:
        tally = _compute(org, period, team_id, as_of, tree)
    cache.put(key, tally)
    return tally


def _order(tally: Tally, sort: str, descending: bool) -> array:
    with tally.lock:
        order = tally.orders.get((sort, descending))
        if order is None:
            if sort in NUMERIC_SORTS:
                order = _numeric_order(tally, sort, descending)
            else:
                order = _account_based_order(tally, sort, descending)
            tally.orders[(sort, descending)] = order
    return order


# --- the page ------------------------------------------------------------------------------------


def _setters_sql():
    """SQL: 'path=hours,…' of the orgs that set an annual target (the few whose target is inherited)."""
    return (
        sa.select(sa.func.aggregate_strings(Org.path + "=" + sa.cast(Org.annual_target_hours, sa.String), ","))
        .where(Org.annual_target_hours.is_not(None))
        .scalar_subquery()
    )


def _target_of(home_path: str | None, setters: list[tuple[str, int]]) -> int:
    """The deepest setter whose path prefixes the home org's (services.target_hours_expr, in Python)."""
    if home_path is not None:
        for path, hours in setters:
            if home_path.startswith(path):
                return hours
    return DEFAULT_TARGET_HOURS


#: team names a row of the tally page shows; a volunteer in thirty teams would fill a phone's screen
#: (and the page: 1.3 KB a row), so the others are counted ("+28 more"); the exports list them all
TEAMS_SHOWN = 2
_TEAM_SEPARATOR = "\x1f"  # a control character no one types (a name holding it would only show split)


def _team_names_sql(user_id_column):
    """SQL: the names of the user's active teams, separated by _TEAM_SEPARATOR."""
    return (
        sa.select(sa.func.aggregate_strings(Team.name, _TEAM_SEPARATOR))
        .join(Membership, Membership.team_id == Team.id)
        .where(Membership.user_id == user_id_column, Membership.state == "active")
        .scalar_subquery()
    )


def _teams_text(names: str | None) -> tuple[str, int]:
    """('name、name、name', how many more) for a row of the page."""
    teams = sorted(names.split(_TEAM_SEPARATOR)) if names else []
    shown = teams if len(teams) <= TEAMS_SHOWN + 1 else teams[:TEAMS_SHOWN]  # never "+1 more": name it
    return "、".join(shown), len(teams) - len(shown)


@functools.cache
def _details_select(with_year: bool = True) -> sa.Select:
    """The SELECT of `_details`, built once per process (building it cost more than running it);
    without the year's hours when the caller has them."""
    home = aliased(Org, name="home")
    y = aliased(ServiceRecord, name="y")
    # NOT EXISTS per record here: a few records of 30 volunteers, each probing the supersedes index
    year_minutes = (
        sa.select(sa.func.coalesce(sa.func.sum(y.minutes), 0))
        .where(
            y.volunteer_id == User.id,
            y.served_at >= sa.bindparam("year_start", type_=UTCDateTime()),
            y.served_at < sa.bindparam("year_end", type_=UTCDateTime()),
            y.minutes > 0,
            is_effective_clause(y),
        )
        .scalar_subquery()
    )
    return (
        sa.select(
            User.id,
            User.name,
            User.phone,
            home.name,
            home.path,
            _team_names_sql(User.id),
            year_minutes if with_year else sa.null(),
            _setters_sql(),
        )
        .outerjoin(home, home.id == User.home_org_id)
        .where(User.id.in_(sa.bindparam("vids", expanding=True)))
    )


def _details(vids: list[int], year: Period, year_minutes: dict[int, int] | None = None) -> dict[int, dict]:
    """Name, phone, home org, teams, the year's hours and the target of these volunteers (one query).

    year_minutes: the year's hours of these volunteers when the caller knows them already."""
    ys, ye = year.bounds
    params = {"vids": vids, "year_start": ys, "year_end": ye}
    rows = db.session.execute(_details_select(year_minutes is None), params).all()
    setters: list[tuple[str, int]] = []
    if rows and rows[0][7]:
        for item in rows[0][7].split(","):
            path, _sep, hours = item.rpartition("=")
            setters.append((path, int(hours)))
        setters.sort(key=lambda s: len(s[0]), reverse=True)
    return {
        r[0]: {
            "name": r[1],
            "phone": mask_phone(r[2]),
            "home_org": r[3] or "",
            **dict(zip(("teams", "more_teams"), _teams_text(r[5]), strict=True)),
            "year_minutes": int(r[6] or 0) if year_minutes is None else year_minutes.get(r[0], 0),
            "target_hours": _target_of(r[4], setters),
        }
        for r in rows
    }


def tally_page(org: Org, period: Period, team_id=None, sort="hours", descending=True, page=1):
    """(rows, has_more) of one page of the tally (services.PAGE_SIZE rows), in the SQL's order."""
    sort = sort if sort in services.TALLY_SORTS else "hours"
    size = services.PAGE_SIZE
    tally = current_tally(org, period, team_id)
    order = _order(tally, sort, descending)
    start = (page - 1) * size
    picked = list(order[start : start + size + 1])
    if sort in NUMERIC_SORTS:
        picked = [tally.vids[j] for j in picked]
    has_more = len(picked) > size
    picked = picked[:size]
    if not picked:
        return [], has_more
    year = Period.year_of(period.year)
    known = None
    if period == year and team_id is None and org.parent_id is None and tally.roots == 1:
        # the tally is the volunteers' whole year everywhere: their annual hours are its minutes
        known = {vid: tally.minutes[tally.row_of(vid)] for vid in picked}
    details = _details(picked, year, known)
    rows = []
    for vid in picked:
        j = tally.row_of(vid)
        d = details.get(vid)
        if d is None:  # the account is gone (deleted since): nothing to show
            continue
        rows.append(TallyRow(vid, minutes=tally.minutes[j], events=tally.events[j], **d))
    return rows, has_more


@functools.cache
def _filters_select() -> sa.Select:
    """The SELECT of `filters`, built once per process."""
    teams = (
        sa.select(
            sa.literal("t").label("kind"),
            Team.id.label("id"),
            Team.name.label("name"),
            sa.func.row_number().over(order_by=(Team.name, Team.id)).label("pos"),
        )
        .join(Org, Org.id == Team.org_id)
        .where(Org.path.startswith(sa.bindparam("prefix"), autoescape=False), Team.active.is_(True))
        .order_by(Team.name, Team.id)
        .limit(sa.bindparam("team_limit"))
    )
    children = sa.select(
        sa.literal("o").label("kind"),
        Org.id.label("id"),
        Org.name.label("name"),
        sa.func.row_number().over(order_by=(Org.name, Org.id)).label("pos"),
    ).where(Org.parent_id == sa.bindparam("org_id"))
    both = sa.union_all(teams.subquery().select(), children).subquery("filters")
    return sa.select(both).order_by(both.c.kind, both.c.pos)


def filters(org: Org, team_limit: int = 60) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(active teams of the subtree, at most `team_limit`; orgs directly below `org`) for the tally's
    filters, in one statement."""
    rows = db.session.execute(_filters_select(), {"prefix": org.path, "team_limit": team_limit, "org_id": org.id})
    teams, children = [], []
    for kind, oid, name, _pos in rows:
        (teams if kind == "t" else children).append((oid, name))
    return teams, children
