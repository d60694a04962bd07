"""The figures: one definition behind the dashboard, the lists and the exports."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import current_app

from blueprints.core.extensions import db
from blueprints.hours.models import ServiceRecord, effective_records
from blueprints.orgs.models import Org
from blueprints.orgs.services import effective_settings
from blueprints.reports import services
from blueprints.reports.periods import Period
from blueprints.reports.services import (
    dashboard,
    effective,
    events_totals,
    iter_events,
    iter_tally,
    iter_targets,
    target_hours_expr,
    target_summary,
    team_rows,
    venue_rows,
)
from tests.support.queries import count_statements


def test_effective_clause_matches_the_ledgers_definition(r_ledger):
    mine = set(db.session.scalars(sa.select(ServiceRecord.id).where(effective())))
    theirs = set(db.session.scalars(effective_records().with_only_columns(ServiceRecord.id)))
    assert mine == theirs and len(mine) == db.session.scalar(sa.select(sa.func.count(ServiceRecord.id))) - 1


def test_inherited_target_in_sql_matches_effective_settings(r_ledger):
    orgs = list(db.session.scalars(sa.select(Org)))
    in_sql = dict(db.session.execute(sa.select(Org.id, target_hours_expr(Org.path))).all())
    assert {o.id: effective_settings(o).annual_target_hours for o in orgs} == in_sql
    assert in_sql[r_ledger["orgs"]["c1"].id] == 10 and in_sql[r_ledger["orgs"]["c2"].id] == 20


def test_dashboard_figures_of_a_district(r_ledger):
    d1 = r_ledger["orgs"]["d1"]
    board = dashboard(d1, Period.year_of(r_ledger["year"]), use_cache=False)
    want = r_ledger["d1"]
    assert board.events_held == want["events_held"]
    assert board.participations == want["participations"]
    assert board.volunteers == want["volunteers"]
    assert board.minutes == want["minutes"]
    assert board.people == want["people"]
    assert board.people_by_category["elderly"] == 40 and board.people_by_category["children"] == 0
    assert board.active_teams == 2
    assert sum(m for _d, m in board.minutes_by_month) == board.minutes
    months = dict(board.minutes_by_month)
    assert months[date(r_ledger["year"], 1, 1)] == 300 and months[date(r_ledger["year"], 3, 1)] == 90 + 360 + 300
    # by child org: the town t1 carries everything (c1 sits below it)
    (t1_row,) = [c for c in board.children if c.org_id == r_ledger["orgs"]["t1"].id]
    assert (t1_row.events, t1_row.participations, t1_row.minutes, t1_row.volunteers) == (3, 6, want["minutes"], 3)
    teams = {t.name: t for t in board.top_teams}
    assert teams["向阳服务队"].minutes == 180 + 120 + 90 + 360 + 60 and teams["白沙服务队"].minutes == 300
    # the sibling district sees only its own
    d2 = dashboard(r_ledger["orgs"]["d2"], Period.year_of(r_ledger["year"]), use_cache=False)
    assert (d2.events_held, d2.participations, d2.volunteers, d2.minutes, d2.people) == (1, 2, 2, 270, 99)


def test_totals_of_lists_equal_the_dashboard(r_ledger):
    d1 = r_ledger["orgs"]["d1"]
    period = Period.year_of(r_ledger["year"])
    board = dashboard(d1, period, use_cache=False)
    tally = list(iter_tally(d1, period))
    assert len(tally) == board.volunteers
    assert sum(r.minutes for r in tally) == board.minutes
    assert sum(r.events for r in tally) == board.participations
    by_name = {r.name: r for r in tally}
    assert by_name["王小明"].minutes == 330 and by_name["王小明"].phone == "139****0001"
    events = list(iter_events(d1, period))
    assert len(events) == board.events_held
    assert sum(e.people for e in events) == board.people
    totals = events_totals(d1, period)
    assert totals["events"] == 3 and totals["people"] == 75
    # hours on a not-yet-completed event are in the ledger but not in the events report
    assert totals["minutes"] == board.minutes - 60 and totals["volunteers"] == board.participations - 1
    assert sum(t.minutes for t in team_rows(d1, period)) == board.minutes


def test_tally_target_uses_the_year_everywhere(r_ledger):
    d1 = r_ledger["orgs"]["d1"]
    rows = {r.name: r for r in iter_tally(d1, Period.month_of(r_ledger["year"], 3))}
    a = rows["王小明"]
    assert a.minutes == 90  # March only, in d1
    assert a.year_minutes == 330 + 30  # the whole year, including 30 min served in d2
    assert a.target_hours == 10 and not a.target_met
    c = rows['=HYPERLINK("http://x")']
    assert c.year_minutes == 660 and c.target_met


def test_team_filter(r_ledger):
    d1 = r_ledger["orgs"]["d1"]
    team = r_ledger["teams"]["team1b"]
    rows = list(iter_tally(d1, Period.year_of(r_ledger["year"]), team_id=team.id))
    assert [(r.name, r.minutes, r.events) for r in rows] == [('=HYPERLINK("http://x")', 300, 1)]


def test_annual_target_report_includes_people_without_hours(r_ledger):
    d1 = r_ledger["orgs"]["d1"]
    year = r_ledger["year"]
    rows = {r.name: r for r in iter_targets(d1, year)}
    assert set(rows) == {"王小明", "李华", '=HYPERLINK("http://x")', "钱七", "林书记"}
    assert rows["钱七"].minutes == 0 and rows["钱七"].missing_minutes == 600
    assert rows["王小明"].minutes == 360 and rows["王小明"].missing_minutes == 240
    assert rows['=HYPERLINK("http://x")'].met
    assert [r.name for r in iter_targets(d1, year, status="met")] == ['=HYPERLINK("http://x")']
    assert target_summary(d1, year) == {"people": 5, "met": 1, "not_met": 4}
    # last year a had 10 h: met d1's target of 10 h
    assert {r.name for r in iter_targets(d1, year - 1, status="met")} == {"王小明"}


def test_events_report_rows(r_ledger):
    d1 = r_ledger["orgs"]["d1"]
    rows = {e.title: e for e in iter_events(d1, Period.year_of(r_ledger["year"]))}
    e1 = rows["关爱老人"]
    assert (e1.volunteers, e1.minutes, e1.people, e1.team) == (2, 300, 50, "向阳服务队")
    assert e1.rating == 4.5 and e1.ratings == 2  # the hidden rating is left out
    assert rows["读书会"].volunteers == 1  # b's zero-minute record is no participation
    assert rows["社区清洁"].rating is None


def test_youth_home_utilisation(r_ledger, r_venue, r_booking):
    d1, c1 = r_ledger["orgs"]["d1"], r_ledger["orgs"]["c1"]
    a = r_ledger["people"]["a"]
    year = r_ledger["year"]
    # June: 22 weekdays of 6 h, less a closure of Mon 8 - Tue 9 June (if weekdays) -> opening minutes
    month = Period.month_of(year, 6)
    first_monday = next(date(year, 6, d) for d in range(1, 8) if date(year, 6, d).weekday() == 0)
    venue = r_venue(c1, "向阳青年之家", closures=[(first_monday, first_monday.replace(day=first_monday.day + 1))])
    r_booking(venue, a, date(year, 6, 10), 9, 12)
    r_booking(venue, a, date(year, 6, 11), 14, 16)
    r_booking(venue, a, date(year, 6, 12), 14, 16, state="rejected")
    r_booking(venue, a, date(year, 5, 31), 9, 12)  # outside the period
    weekdays = sum(1 for d in range(1, 31) if date(year, 6, d).weekday() < 5)
    (row,) = venue_rows(d1, month)
    assert row.open_minutes == (weekdays - 2) * 360
    assert row.booked_minutes == 300
    board = dashboard(d1, month, use_cache=False)
    assert board.venues == 1 and board.open_minutes == row.open_minutes and board.booked_minutes == 300
    assert venue_rows(r_ledger["orgs"]["d2"], month) == []


def test_new_volunteers_are_counted_by_home_org(r_ledger, make_user):
    d1, d2 = r_ledger["orgs"]["d1"], r_ledger["orgs"]["d2"]
    period = Period.year_of(r_ledger["year"])
    before = dashboard(d1, period, use_cache=False).new_volunteers
    assert before == 5  # a, b, c, idle, the coordinator
    make_user("新人", org=r_ledger["orgs"]["c1"])
    assert dashboard(d1, period, use_cache=False).new_volunteers == before + 1
    assert dashboard(d2, period, use_cache=False).new_volunteers == 2


def test_cache_shows_a_new_record_and_a_correction(r_ledger, r_record, r_event, r_served):
    services.cache.clear()
    d1 = r_ledger["orgs"]["d1"]
    period = Period.year_of(r_ledger["year"])
    first = dashboard(d1, period)
    with count_statements(db.engine) as log:
        assert dashboard(d1, period) == first
    # only the validity checks, the ledger's and the rest's in one statement: the figures came from the cache
    assert len(log) == 1 and "bookings" in log.statements[0], str(log)
    current_app.config["REPORTS_REST_MAX_AGE"] = 3600
    with count_statements(db.engine) as log:
        assert dashboard(d1, period) == first
    # the ledger's check alone: the rest was checked just now
    assert len(log) == 1 and "bookings" not in log.statements[0], str(log)
    current_app.config["REPORTS_REST_MAX_AGE"] = 0
    new = r_record(r_ledger["people"]["idle"], r_ledger["events"]["e1"], 45)
    second = dashboard(d1, period)
    assert second.minutes == first.minutes + 45 and second.volunteers == first.volunteers + 1
    r_record(r_ledger["people"]["idle"], r_ledger["events"]["e1"], 15, supersedes=new)
    assert dashboard(d1, period).minutes == first.minutes + 15
    # within REPORTS_REST_MAX_AGE the figures other than the ledger's are reused unchecked
    current_app.config["REPORTS_REST_MAX_AGE"] = 3600
    event = r_event(r_ledger["teams"]["team1"], date(r_ledger["year"], 5, 5))
    r_served(event, "other", 3)
    assert dashboard(d1, period).events_held == first.events_held
    current_app.config["REPORTS_REST_MAX_AGE"] = 0
    third = dashboard(d1, period)
    assert third.events_held == first.events_held + 1 and third.people == first.people + 3
    # the event is completed later: an update in place shows up too
    draft = r_ledger["events"]["draft"]
    draft.state = "completed"
    db.session.commit()
    assert dashboard(d1, period).events_held == first.events_held + 2


def test_tree_stamp_is_reused_for_a_while_but_new_records_show_at_once(r_ledger, r_record):
    """Within REPORTS_TREE_MAX_AGE the org tree's and team names' sums are not read again (they cost
    most of the stamp); the ledger's newest record is, so new hours show on the next request; a renamed
    team shows once the tree is read again."""
    services.cache.clear()
    d1 = r_ledger["orgs"]["d1"]
    period = Period.year_of(r_ledger["year"])
    current_app.config.update(REPORTS_TREE_MAX_AGE=3600, REPORTS_REST_MAX_AGE=3600)
    first = dashboard(d1, period)
    with count_statements(db.engine) as log:
        assert dashboard(d1, period) == first
    assert len(log) == 1 and "service_records" in log.statements[0], str(log)
    assert "orgs" not in log.statements[0] and "teams" not in log.statements[0], str(log)
    r_record(r_ledger["people"]["idle"], r_ledger["events"]["e1"], 45)
    assert dashboard(d1, period).minutes == first.minutes + 45
    team = r_ledger["teams"]["team1"]
    team.name = "改名的服务队"
    db.session.commit()
    assert "改名的服务队" not in [t.name for t in dashboard(d1, period).top_teams]
    # new records are caught up on only against the tree as it is now: the rename shows with them
    r_record(r_ledger["people"]["idle"], r_ledger["events"]["e1"], 30)
    board = dashboard(d1, period)
    assert board.minutes == first.minutes + 75 and "改名的服务队" in [t.name for t in board.top_teams]
    team.name = "又改名的服务队"
    db.session.commit()
    current_app.config["REPORTS_TREE_MAX_AGE"] = 0
    assert "又改名的服务队" in [t.name for t in dashboard(d1, period).top_teams]


def test_periods(app):
    assert Period.month_of(2026, 12).end == date(2026, 12, 31)
    assert Period.quarter_of(2026, 1).end == date(2026, 3, 31)
    assert Period.month_of(2024, 2).days == 29
    assert len(Period("custom", date(2020, 1, 1), date(2026, 6, 1)).buckets()) == 7  # by year past 36 months
    assert len(Period.year_of(2026).buckets()) == 12


def _figures(board):
    return (
        board.events_held,
        board.participations,
        board.volunteers,
        board.minutes,
        board.minutes_by_month,
        [(c.org_id, c.participations, c.volunteers, c.minutes) for c in board.children],
        [(t.team_id, t.participations, t.minutes) for t in board.top_teams],
    )


def test_cached_figures_catch_up_with_new_records_exactly(r_ledger, r_record, make_user, monkeypatch):
    """After each change the cached dashboard (brought up to date from the new records only)
    equals a dashboard computed from scratch."""
    services.cache.clear()
    calls = {"refresh": 0}
    refresh = services._refresh_ledger

    def counted(*args):
        calls["refresh"] += 1
        return refresh(*args)

    monkeypatch.setattr(services, "_refresh_ledger", counted)
    city, d1 = r_ledger["orgs"]["city"], r_ledger["orgs"]["d1"]
    period = Period.year_of(r_ledger["year"])
    people, events = r_ledger["people"], r_ledger["events"]
    newcomer = make_user("新志愿者", org=r_ledger["orgs"]["c1"])
    for org in (city, d1):
        dashboard(org, period)
    changes = [
        lambda: r_record(newcomer, events["e1"], 90),  # a new volunteer
        lambda: r_record(people["b"], events["e2"], 30),  # a known volunteer, a new event
        lambda: r_record(people["z"], events["other"], 60),  # another district
        lambda: r_record(people["a"], events["last_year"], 60),  # outside the period
    ]
    for change in changes:
        change()
        for org in (city, d1):
            with count_statements(db.engine) as log:
                cached = dashboard(org, period)
            assert _figures(cached) == _figures(dashboard(org, period, use_cache=False))
            assert len(log) <= 5, str(log)  # validity checks, the new records, the volunteers' records
    assert calls["refresh"] == 2 * len(changes)
    # corrections: down, to zero (the pair stops counting), and a correction of a correction
    first = db.session.scalar(
        sa.select(ServiceRecord).where(ServiceRecord.volunteer_id == newcomer.id).order_by(ServiceRecord.id)
    )
    lower = r_record(newcomer, events["e1"], 45, supersedes=first)
    for org in (city, d1):
        assert _figures(dashboard(org, period)) == _figures(dashboard(org, period, use_cache=False))
    zero = r_record(newcomer, events["e1"], 0, supersedes=lower)
    for org in (city, d1):
        board = dashboard(org, period)
        assert _figures(board) == _figures(dashboard(org, period, use_cache=False))
    assert dashboard(d1, period).volunteers == r_ledger["d1"]["volunteers"]  # the newcomer counts no more
    r_record(newcomer, events["e1"], 120, supersedes=zero)
    for org in (city, d1):
        assert _figures(dashboard(org, period)) == _figures(dashboard(org, period, use_cache=False))
