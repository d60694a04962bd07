"""The hour tally page served from the per-process tally (blueprints/reports/tallies.py): every page,
in every order, equals the SQL tally the exports stream, also after new records and corrections,
which it catches up with instead of computing everything again."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.hours.models import ServiceRecord
from blueprints.reports import services, tallies
from blueprints.reports.periods import Period
from blueprints.reports.services import TALLY_SORTS, iter_tally
from blueprints.teams.models import Membership, Team
from tests.support.queries import count_statements

ORDERS = [(sort, descending) for sort in TALLY_SORTS for descending in (True, False)]


def _figures(row) -> tuple:
    return (row.volunteer_id, row.name, row.phone, row.home_org, row.events, row.minutes, row.year_minutes)


def _sql(org, period, team_id=None, sort="hours", descending=True) -> list[tuple]:
    rows = iter_tally(org, period, team_id, sort, descending)
    return [(*_figures(r), r.target_hours, len(r.teams.split("、")) if r.teams else 0) for r in rows]


def _cached(org, period, team_id=None, sort="hours", descending=True) -> list[tuple]:
    rows, page = [], 1
    while True:
        part, more = tallies.tally_page(org, period, team_id, sort, descending, page)
        rows += part
        if not more:
            break
        page += 1
    teams = [(len(r.teams.split("、")) if r.teams else 0) + r.more_teams for r in rows]
    return [(*_figures(r), r.target_hours, n) for r, n in zip(rows, teams, strict=True)]


def _assert_same(orgs, period, team_id=None):
    for org in orgs:
        for sort, descending in ORDERS:
            expected = _sql(org, period, team_id, sort, descending)
            assert _cached(org, period, team_id, sort, descending) == expected, (org.name, sort, descending)


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(services, "PAGE_SIZE", 2)
    tallies._state().clear()
    yield
    tallies._state().clear()


def test_every_page_in_every_order_equals_the_sql_tally(r_ledger, small_pages, make_user, r_record):
    city, d1, d2 = r_ledger["orgs"]["city"], r_ledger["orgs"]["d1"], r_ledger["orgs"]["d2"]
    year = r_ledger["year"]
    # ties: two volunteers with the same hours and events, one without a home org, one in many teams
    tied = make_user("孙八", org=None, phone="13911110010")
    r_record(tied, r_ledger["events"]["e1"], 120)
    many = r_ledger["people"]["b"]
    for i in range(4):
        team = Team(org_id=d1.id, name=f"第{i}队")
        db.session.add(team)
        db.session.flush()
        db.session.add(Membership(team_id=team.id, user_id=many.id, role="member", state="active"))
    db.session.commit()
    for period in (
        Period.year_of(year),
        Period.month_of(year, 3),
        Period.quarter_of(year, 1),
        Period.year_of(year - 1),
    ):
        _assert_same((city, d1, d2), period)
    _assert_same((d1,), Period.year_of(year), team_id=r_ledger["teams"]["team1"].id)
    page, _more = tallies.tally_page(d1, Period.year_of(year), sort="name", descending=False)
    assert [r.name for r in page] == ['=HYPERLINK("http://x")', "孙八"]  # code-point order, as SQLite's
    row = next(r for r in _cached(d1, Period.year_of(year)) if r[0] == many.id)
    assert row[-1] == 5  # 2 named on the page, 3 counted


@pytest.mark.parametrize("reorder_limit", [200, 0])  # orders moved row by row, or sorted anew
def test_new_records_and_corrections_are_caught_up_exactly(
    r_ledger, small_pages, make_user, r_record, monkeypatch, reorder_limit
):
    monkeypatch.setattr(tallies, "REORDER_LIMIT", reorder_limit)
    computed = []
    compute = tallies._compute
    monkeypatch.setattr(tallies, "_compute", lambda *args: computed.append(args[0].name) or compute(*args))
    city, d1 = r_ledger["orgs"]["city"], r_ledger["orgs"]["d1"]
    period = Period.year_of(r_ledger["year"])
    people, events = r_ledger["people"], r_ledger["events"]
    newcomer = make_user("新志愿者", org=r_ledger["orgs"]["c1"], phone="13911110011")
    _assert_same((city, d1), period)  # computed once each, every order built
    assert sorted(computed) == sorted([city.name, d1.name])
    changes = [
        lambda: r_record(newcomer, events["e1"], 90),  # a new volunteer joins the tally
        lambda: r_record(people["b"], events["e2"], 30),  # a known volunteer, a new event
        lambda: r_record(people["z"], events["other"], 600),  # another district: the city's top
        lambda: r_record(people["a"], events["last_year"], 60),  # outside the period
    ]
    for change in changes:
        change()
        _assert_same((city, d1), period)
    first = db.session.scalar(
        sa.select(ServiceRecord).where(ServiceRecord.volunteer_id == newcomer.id).order_by(ServiceRecord.id)
    )
    lower = r_record(newcomer, events["e1"], 45, supersedes=first)
    _assert_same((city, d1), period)
    zero = r_record(newcomer, events["e1"], 0, supersedes=lower)  # the newcomer leaves the tally
    _assert_same((city, d1), period)
    assert newcomer.id not in [r[0] for r in _cached(d1, period)]
    r_record(newcomer, events["e1"], 120, supersedes=zero)  # and comes back
    _assert_same((city, d1), period)
    assert sorted(computed) == sorted([city.name, d1.name]), "caught up, never computed again"


def test_a_cached_page_costs_two_statements_and_shows_current_names(r_ledger, small_pages):
    d1 = r_ledger["orgs"]["d1"]
    period = Period.year_of(r_ledger["year"])
    tallies.tally_page(d1, period)
    with count_statements(db.engine) as log:
        rows, more = tallies.tally_page(d1, period)
    assert len(log) == 2, str(log)  # the ledger's stamp, then the page's volunteers
    assert more and [r.name for r in rows] == ['=HYPERLINK("http://x")', "王小明"]
    r_ledger["people"]["a"].name = "王晓明"  # a rename is no ledger change: the row still reads it anew
    db.session.commit()
    assert [r.name for r in tallies.tally_page(d1, period)[0]] == ['=HYPERLINK("http://x")', "王晓明"]


def test_a_changed_org_tree_computes_the_tally_again(r_ledger, small_pages, make_org, r_team, r_event, r_record):
    d1 = r_ledger["orgs"]["d1"]
    period = Period.year_of(r_ledger["year"])
    before = _cached(d1, period)
    new_org = make_org("新社区", d1)
    team = r_team(new_org, "新队", members=[r_ledger["people"]["idle"]])
    r_record(r_ledger["people"]["idle"], r_event(team, date(r_ledger["year"], 6, 1)), 30)
    after = _cached(d1, period)
    assert len(after) == len(before) + 1
    _assert_same((d1,), period)


def test_the_page_shows_a_new_record_on_the_next_request(client, login_as, r_ledger, r_record, small_pages):
    login_as(r_ledger["coord1"])
    args = {"org": r_ledger["orgs"]["d1"].id, "period": "year", "year": r_ledger["year"], "sort": "name"}
    first = client.get("/reports/hours", query_string=args).get_data(as_text=True)
    assert "钱七" not in first
    r_record(r_ledger["people"]["idle"], r_ledger["events"]["e1"], 75)
    page = client.get("/reports/hours", query_string={**args, "page": 2}).get_data(as_text=True)
    assert "钱七" in page  # by name: =HYPERLINK…, 李华 on page 1; 王小明, 钱七 on page 2


def test_the_kept_html_follows_names_filters_and_language(client, login_as, r_ledger, small_pages):
    login_as(r_ledger["coord1"])
    args = {"org": r_ledger["orgs"]["d1"].id, "period": "year", "year": r_ledger["year"]}
    first = client.get("/reports/hours", query_string=args).get_data(as_text=True)
    assert "王小明" in first and "白沙服务队" in first.split('id="f-team"')[1].split("</select>")[0]
    r_ledger["people"]["a"].name = "王晓明"  # a row's details
    r_ledger["teams"]["team1b"].active = False  # the team filter's list
    db.session.commit()
    page = client.get("/reports/hours", query_string=args).get_data(as_text=True)
    assert "王晓明" in page and "王小明" not in page
    assert "白沙服务队" not in page.split('id="f-team"')[1].split("</select>")[0]
    fragment = client.get("/reports/hours", query_string=args, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "王晓明" in fragment and 'id="f-team"' not in fragment
    english = client.get("/reports/hours", query_string=args, headers={"Accept-Language": "en"})
    assert "Events attended" in english.get_data(as_text=True)
