"""Coordinator reports: dashboard, hour tallies, annual targets, events, youth homes, teams, new volunteers."""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import abort, current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user, login_required
from markupsafe import Markup

from blueprints.core.authz import require
from blueprints.core.exports import send_csv, send_xlsx
from blueprints.core.extensions import db
from blueprints.core.htmx import is_htmx, render_page
from blueprints.core.registry import get_registry
from blueprints.core.timeutil import local_today
from blueprints.core.translate import gettext as _
from blueprints.orgs.models import Org
from blueprints.orgs.services import (
    can_coordinate,
    can_coordinate_path,
    coordinator_paths,
    is_coordinator,
    org_trail,
    scope_roots,
)
from blueprints.teams.models import Team

from . import bp
from .charts import bar_chart, column_chart
from .exports import events_header, events_rows, hours_header, hours_rows, targets_header, targets_rows
from .periods import MAX_YEAR, MIN_YEAR, Period, PeriodError, parse_period
from .services import (
    EXPORT_FORMATS,
    PAGE_SIZE,
    TALLY_SORTS,
    TARGET_STATUSES,
    dashboard,
    events_page,
    events_totals,
    headline,
    new_volunteers_page,
    target_page,
    target_summary,
    team_rows,
    venue_rows,
)
from .tallies import filters as tally_filters
from .tallies import tally_page


def category_label(code: str) -> str:
    labels = {
        "children": _("Children"),
        "elderly": _("Elderly people"),
        "disabled": _("People with disabilities"),
        "residents": _("Residents"),
        "other": _("Other"),
    }
    return labels.get(code, code)


# --- reading the request -----------------------------------------------------------------------


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        abort(404)


def _report_org() -> Org:
    """The org of the report: ?org=ID (404 unknown, 403 outside the user's scope), else the top of the scope."""
    require(is_coordinator(current_user))
    org_id = _int_arg("org")
    if org_id is None:
        roots = scope_roots(current_user)
        require(bool(roots))
        return roots[0]
    coordinator_paths(current_user)  # loads the granted orgs: the report's is often one (no statement to get it)
    org = db.get_or_404(Org, org_id)
    require(can_coordinate(current_user, org))
    return org


def _team(org: Org) -> Team | None:
    team_id = _int_arg("team")
    if team_id is None:
        return None
    team = db.get_or_404(Team, team_id)
    require(can_coordinate(current_user, db.session.get(Org, team.org_id)))
    return team


def _page() -> int:
    page = _int_arg("page") or 1
    return max(1, min(page, 100000))


def _period_or_errors() -> tuple[Period | None, dict]:
    try:
        return parse_period(request.args), {}
    except PeriodError as exc:
        return None, exc.errors


def _trail(org: Org) -> list[tuple[int, str, bool]]:
    """(id, name, reachable) from the root down to `org`; reachable when the user may open it."""
    ids = org.ancestor_ids
    names = [org.name] if ids == [org.id] else org_trail([org])[org.id].split(" › ")  # a root: no query
    out = []
    for i, (oid, name) in enumerate(zip(ids, names, strict=False)):
        path = "/" + "/".join(str(x) for x in ids[: i + 1]) + "/"
        out.append((oid, name, can_coordinate_path(current_user, path)))
    return out


def _base(org: Org, period: Period | None, team: Team | None = None) -> dict:
    """Query arguments shared by every link of a report page."""
    args = {"org": org.id}
    if period is not None:
        args.update(period.args())
    if team is not None:
        args["team"] = team.id
    return args


def _common(org: Org, period: Period | None, errors: dict, team: Team | None = None, **extra) -> dict:
    today = local_today()
    this_year = Period.this_year()
    return {
        "org": org,
        "trail": _trail(org),
        "period": period,
        "errors": errors,
        "team": team,
        "base": _base(org, period, team),
        "args": request.args,
        "quick_periods": [
            (_("This month"), Period.month_of(this_year.start.year, today.month)),
            (_("This quarter"), Period.quarter_of(this_year.start.year, (today.month - 1) // 3 + 1)),
            (_("This year"), this_year),
            (_("Last year"), Period.year_of(this_year.start.year - 1)),
        ],
        "years": list(range(this_year.start.year, max(MIN_YEAR, this_year.start.year - 6) - 1, -1)),
        "max_year": MAX_YEAR,
        **extra,
    }


def _export_format() -> str | None:
    fmt = (request.args.get("format") or "").strip().lower()
    return fmt if fmt in EXPORT_FORMATS else None


def _bad_format_message() -> str:
    return _(
        "Unknown export format “%(format)s”: choose CSV or Excel (XLSX).",
        format=(request.args.get("format") or "")[:20],
    )


# --- dashboard ---------------------------------------------------------------------------------


@bp.get("/", endpoint="dashboard")
@login_required
def dashboard_view():
    """Figures of an org's subtree for a period, broken down by child org and team, with two charts."""
    org = _report_org()
    period, errors = _period_or_errors()
    if errors:
        return render_page("reports/dashboard.html", status=422, board=None, **_common(org, None, errors))
    board = dashboard(org, period)
    sections = []
    for section in get_registry(current_app).dashboard_sections:
        context = section.context(user=current_user, org=org, start=period.start, end=period.end)
        if context is not None:
            sections.append((section.template, context))
    common = _common(org, period, errors)
    locale, root = str(get_locale()), request.script_root
    # the page's own parts are the same for every request with the same arguments (and, for the
    # figures, the same computed Dashboard): rendered once, kept as HTML (a city-wide dashboard
    # has about 100 links and 80 translated strings; rendering them took most of a warm request)
    top_key = ("top", locale, root, local_today(), request.query_string, org.id, org.name, tuple(common["trail"]))
    figures_key = ("figures", id(board), locale, root, tuple(sorted(common["base"].items())))
    return render_page(
        "reports/dashboard.html",
        board=board,
        sections=sections,
        top=_cached_html(top_key, lambda: render_template("reports/_dashboard_top.html", **common)),
        figures=_cached_html(figures_key, lambda: _render_figures(board, common["base"]), owner=board),
        definitions=_cached_html(
            ("definitions", locale), lambda: render_template("reports/_dashboard_definitions.html")
        ),
        **common,
    )


#: rendered parts of pages: key -> (owner, HTML); see _cached_html
_html_cache: OrderedDict = OrderedDict()
_html_lock = threading.Lock()
HTML_CACHED = 128


def _cached_html(key: tuple, render, owner=None) -> Markup:
    """HTML made by `render()`, kept per process under `key`, the most recent HTML_CACHED of them.

    With `owner`, the HTML is used only while `owner` is the very object it was made from (the
    key holds its id(), which a new object may reuse once the old one is gone).
    """
    with _html_lock:
        entry = _html_cache.get(key)
        if entry is not None and entry[0] is owner:
            _html_cache.move_to_end(key)
            return entry[1]
    html = Markup(render())  # noqa: S704 - autoescaped template output
    with _html_lock:
        _html_cache[key] = (owner, html)
        _html_cache.move_to_end(key)
        while len(_html_cache) > HTML_CACHED:
            _html_cache.popitem(last=False)
    return html


def _render_figures(board, base: dict) -> str:
    """The dashboard's figures, charts and tables."""
    period = board.period
    months = [
        (
            d.strftime("%Y")
            if period.by_year
            else (d.strftime("%m") if d.month != 1 or i == 0 else d.strftime("%Y-%m")),
            m,
        )
        for i, (d, m) in enumerate(board.minutes_by_month)
    ]
    return render_template(
        "reports/_dashboard_figures.html",
        board=board,
        base=base,
        period=period,
        hours_chart=column_chart([(label, round(m / 60, 1)) for label, m in months]),
        people_chart=bar_chart([(category_label(c), n) for c, n in board.people_by_category.items()]),
    )


def home_panel_context(user) -> dict | None:
    """This year's headline figures on a coordinator's home page."""
    if not is_coordinator(user):
        return None
    roots = scope_roots(user)
    if not roots:
        return None
    org = roots[0]
    return {"org": org, "board": headline(org), "period": Period.this_year()}


# --- hour tallies ------------------------------------------------------------------------------


def _tally_args():
    sort = request.args.get("sort", "hours")
    if sort not in TALLY_SORTS:
        sort = "hours"
    direction = request.args.get("dir", "asc" if sort in ("name", "org") else "desc")
    return sort, direction != "asc"


@bp.get("/hours")
@login_required
def hours():
    """Hours per volunteer for a period and subtree (sortable, paginated; htmx swaps the table)."""
    org = _report_org()
    team = _team(org)
    period, errors = _period_or_errors()
    sort, descending = _tally_args()
    full_page = not is_htmx()  # the filters are not part of the swapped fragment
    teams, children = tally_filters(org) if full_page else ([], [])
    context = _common(org, period, errors, team, sort=sort, descending=descending, teams=teams, children=children)
    if errors:
        return render_page("reports/hours.html", "tally", status=422, rows=[], has_more=False, page=1, **context)
    page = _page()
    rows, has_more = tally_page(org, period, team.id if team else None, sort, descending, page)
    context.update(rows=rows, has_more=has_more, page=page)
    # both parts are kept as HTML under everything they show (so never stale): the arguments, the
    # day, the trail and filter lists read by this request, the rows and their current details
    locale, root = str(get_locale()), request.script_root
    if full_page:
        team_key = (team.id, team.name) if team else None
        key = ("hours-top", locale, root, local_today(), request.query_string, org.id, org.name, team_key)
        key += (tuple(context["trail"]), tuple(teams), tuple(children))
        context["top"] = _cached_html(key, lambda: render_template("reports/_hours_top.html", **context))
    key = ("hours-tally", locale, root, tuple(sorted(context["base"].items())), sort, descending, page, has_more)
    key += tuple(tuple(vars(r).values()) for r in rows)  # every field of every row
    context["tally_html"] = _cached_html(key, lambda: render_template("reports/_hours_tally.html", **context))
    return render_page("reports/hours.html", "tally", **context)


@bp.get("/hours/export")
@login_required
def hours_export():
    """The tally as CSV (UTF-8 with BOM) or XLSX, streamed."""
    org = _report_org()
    team = _team(org)
    period, errors = _period_or_errors()
    fmt = _export_format()
    if errors or fmt is None:
        if fmt is None:
            errors = {**errors, "format": _bad_format_message()}
        sort, descending = _tally_args()
        teams, children = tally_filters(org)
        context = _common(org, period, errors, team, sort=sort, descending=descending, teams=teams, children=children)
        return render_page("reports/hours.html", status=422, rows=[], has_more=False, page=1, **context)
    sort, descending = _tally_args()
    rows = hours_rows(org, period, team.id if team else None, sort, descending)
    name = f"hours-{org.id}-{period.start.isoformat()}-{period.end.isoformat()}.{fmt}"
    return _send(fmt, name, hours_header(), rows, _("Hours"))


def _send(fmt: str, filename: str, header, rows, sheet: str):
    if fmt == "xlsx":
        return send_xlsx(filename, header, rows, sheet_title=sheet)
    return send_csv(filename, header, rows)


# --- annual target -----------------------------------------------------------------------------


def _year() -> tuple[int, dict]:
    value = request.args.get("year", "").strip()
    this_year = Period.this_year().start.year
    if not value:
        return this_year, {}
    try:
        year = int(value)
    except ValueError:
        year = 0
    if not MIN_YEAR <= year <= MAX_YEAR:
        return this_year, {"year": _("Enter a year from 2000 to 2100.")}
    return year, {}


@bp.get("/targets")
@login_required
def targets():
    """Who has met this year's volunteer-hour target of their home org, and how much is missing."""
    org = _report_org()
    year, errors = _year()
    status = request.args.get("status", "all")
    if status not in TARGET_STATUSES:
        status = "all"
    sort = request.args.get("sort", "missing")
    if sort not in ("missing", "hours", "name"):
        sort = "missing"
    period = Period.year_of(year)
    context = _common(org, period, errors, target_status=status, sort=sort, year=year)
    if errors:
        return render_page("reports/targets.html", "targets", status=422, rows=[], has_more=False, page=1, **context)
    page = _page()
    rows, has_more = target_page(org, year, status, sort, page)
    summary = target_summary(org, year)
    return render_page(
        "reports/targets.html", "targets", rows=rows, has_more=has_more, page=page, summary=summary, **context
    )


@bp.get("/targets/export")
@login_required
def targets_export():
    org = _report_org()
    year, errors = _year()
    fmt = _export_format()
    status = request.args.get("status", "all")
    status = status if status in TARGET_STATUSES else "all"
    sort = request.args.get("sort", "missing")
    if errors or fmt is None:
        if fmt is None:
            errors = {**errors, "format": _bad_format_message()}
        context = _common(org, Period.year_of(year), errors, target_status=status, sort=sort, year=year)
        return render_page("reports/targets.html", status=422, rows=[], has_more=False, page=1, **context)
    name = f"annual-target-{org.id}-{year}.{fmt}"
    return _send(fmt, name, targets_header(), targets_rows(org, year, status, sort), _("Annual target"))


# --- events report -----------------------------------------------------------------------------


@bp.get("/events")
@login_required
def events():
    """Each event held: date, team, youth home, volunteers, hours, people served, satisfaction."""
    org = _report_org()
    team = _team(org)
    period, errors = _period_or_errors()
    context = _common(org, period, errors, team)
    if errors:
        return render_page("reports/events.html", "events", status=422, rows=[], has_more=False, page=1, **context)
    page = _page()
    team_id = team.id if team else None
    rows, has_more = events_page(org, period, team_id, page, str(get_locale()))
    totals = events_totals(org, period, team_id)
    return render_page(
        "reports/events.html", "events", rows=rows, has_more=has_more, page=page, totals=totals, **context
    )


@bp.get("/events/export")
@login_required
def events_export():
    org = _report_org()
    team = _team(org)
    period, errors = _period_or_errors()
    fmt = _export_format()
    if errors or fmt is None:
        if fmt is None:
            errors = {**errors, "format": _bad_format_message()}
        context = _common(org, period, errors, team)
        return render_page("reports/events.html", status=422, rows=[], has_more=False, page=1, **context)
    name = f"events-{org.id}-{period.start.isoformat()}-{period.end.isoformat()}.{fmt}"
    rows = events_rows(org, period, team.id if team else None, str(get_locale()))
    return _send(fmt, name, events_header(), rows, _("Events"))


# --- youth homes, teams, new volunteers --------------------------------------------------------


def _slice(items: list, page: int):
    start = (page - 1) * PAGE_SIZE
    return items[start : start + PAGE_SIZE], len(items) > start + PAGE_SIZE


@bp.get("/venues")
@login_required
def venues():
    """Youth homes of the subtree with their opening time, approved bookings and utilisation."""
    org = _report_org()
    period, errors = _period_or_errors()
    context = _common(org, period, errors)
    if errors:
        return render_page("reports/venues.html", status=422, rows=[], has_more=False, page=1, **context)
    page = _page()
    all_rows = venue_rows(org, period)
    rows, has_more = _slice(all_rows, page)
    totals = {
        "venues": len(all_rows),
        "open": sum(v.open_minutes for v in all_rows),
        "booked": sum(v.booked_minutes for v in all_rows),
    }
    return render_page("reports/venues.html", rows=rows, has_more=has_more, page=page, totals=totals, **context)


@bp.get("/teams")
@login_required
def teams():
    """Teams of the subtree that held events or recorded hours in the period."""
    org = _report_org()
    period, errors = _period_or_errors()
    context = _common(org, period, errors)
    if errors:
        return render_page("reports/teams.html", status=422, rows=[], has_more=False, page=1, **context)
    page = _page()
    rows, has_more = _slice(team_rows(org, period), page)
    return render_page("reports/teams.html", rows=rows, has_more=has_more, page=page, **context)


@bp.get("/volunteers/new")
@login_required
def new_volunteers():
    """Accounts created in the period whose home org is in the subtree."""
    org = _report_org()
    period, errors = _period_or_errors()
    context = _common(org, period, errors)
    if errors:
        return render_page("reports/new_volunteers.html", status=422, rows=[], has_more=False, page=1, **context)
    page = _page()
    rows, has_more = new_volunteers_page(org, period, page)
    return render_page("reports/new_volunteers.html", rows=rows, has_more=has_more, page=page, **context)


@bp.app_template_global("report_url")
def report_url(endpoint: str, base: dict, **changes) -> str:
    """url_for with the page's shared arguments, some changed (None removes one)."""
    args = {**base, **changes}
    return url_for(endpoint, **{k: v for k, v in args.items() if v is not None})


@bp.app_template_filter("report_hours")
def report_hours(minutes: int | None) -> str:
    """Minutes as hours for a headline figure: thousands separated, at most one decimal (1,234.5)."""
    value = round((minutes or 0) / 60, 1)
    return f"{value:,.1f}".removesuffix(".0")
