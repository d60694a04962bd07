"""Report pages and downloads: scope, bad input, htmx fragments, CSV and XLSX, the coordinator's path."""

from __future__ import annotations

import io
import re

import pytest
from jinja2 import ChoiceLoader, DictLoader
from openpyxl import load_workbook

from blueprints.core.extensions import db
from blueprints.core.registry import DashboardSection, get_registry
from blueprints.reports import services
from tests.conftest import htmx
from tests.support.queries import count_statements

ENDPOINTS = [
    "/reports/",
    "/reports/hours",
    "/reports/targets",
    "/reports/events",
    "/reports/venues",
    "/reports/teams",
    "/reports/volunteers/new",
]
EXPORTS = ["/reports/hours/export", "/reports/targets/export", "/reports/events/export"]


def _year_args(ledger, **extra) -> dict:
    return {"period": "year", "year": ledger["year"], **extra}


def test_nav_and_access(client, login_as, r_ledger):
    login_as(r_ledger["people"]["a"])
    page = client.get("/")
    assert 'href="/reports/"' not in page.get_data(as_text=True)
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/hours/export?format=csv").status_code == 403
    login_as(r_ledger["coord1"])
    page = client.get("/").get_data(as_text=True)
    assert 'href="/reports/"' in page
    assert "翠屏区" in page and "Who has met the annual target?" in page  # the home panel


def test_coordinator_cannot_see_the_sibling_district(client, login_as, r_ledger):
    login_as(r_ledger["coord1"])
    d1, d2, c2 = (r_ledger["orgs"][k] for k in ("d1", "d2", "c2"))
    for url in ENDPOINTS:
        assert client.get(url, query_string={"org": d1.id}).status_code == 200, url
        assert client.get(url, query_string={"org": d2.id}).status_code == 403, url
        assert client.get(url, query_string={"org": c2.id}).status_code == 403, url
        assert client.get(url, query_string={"org": 99999}).status_code == 404, url
    for url in EXPORTS:
        assert client.get(url, query_string={"org": d2.id, "format": "csv"}, buffered=True).status_code == 403, url
        assert client.get(url, query_string={"org": c2.id, "format": "xlsx"}).status_code == 403, url
    # a team of the sibling district cannot be used as a filter either
    team2 = r_ledger["teams"]["team2"]
    assert client.get("/reports/hours", query_string={"team": team2.id}).status_code == 403
    # the default org is the coordinator's own district; the city is out of reach
    page = client.get("/reports/", query_string=_year_args(r_ledger)).get_data(as_text=True)
    assert "翠屏区" in page and "幸福服务队" not in page and "赵六" not in page
    assert client.get("/reports/", query_string={"org": r_ledger["orgs"]["city"].id}).status_code == 403


def test_admin_sees_every_district(client, login_as, make_user, r_ledger):
    login_as(make_user("管理员", is_admin=True))
    page = client.get("/reports/", query_string=_year_args(r_ledger)).get_data(as_text=True)
    assert "翠屏区" in page and "叙州区" in page
    assert client.get("/reports/hours", query_string={"org": r_ledger["orgs"]["d2"].id}).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"period": "custom", "start": "2026-13-01", "end": "2026-12-31"}, "Enter a date as YYYY-MM-DD"),
        ({"period": "custom", "start": "yesterday", "end": "2026-12-31"}, "Enter a date as YYYY-MM-DD"),
        ({"period": "custom", "start": "2026-06-01", "end": "2026-05-01"}, "The end date is before the start date."),
        ({"period": "year", "year": "20x6"}, "Enter a year from 2000 to 2100."),
        ({"period": "month", "year": "2026", "month": "13"}, "Choose a month from 1 to 12."),
        ({"period": "fortnight"}, "Choose a month, a quarter, a year or custom dates."),
    ],
)
def test_bad_period_is_explained(client, login_as, r_ledger, args, message):
    login_as(r_ledger["coord1"])
    for url in ["/reports/", "/reports/hours", "/reports/events", "/reports/hours/export"]:
        response = client.get(url, query_string={**args, "format": "csv"})
        assert response.status_code == 422, url
        assert message in response.get_data(as_text=True), url
        assert response.mimetype == "text/html"


def test_unknown_export_format_is_explained(client, login_as, r_ledger):
    login_as(r_ledger["coord1"])
    for url in EXPORTS:
        response = client.get(url, query_string={"format": "pdf"})
        assert response.status_code == 422 and response.mimetype == "text/html"
        assert "Unknown export format “pdf”: choose CSV or Excel (XLSX)." in response.get_data(as_text=True)
    assert client.get("/reports/targets", query_string={"year": "abc"}).status_code == 422


def test_tally_sorts_and_pages_with_htmx(client, login_as, r_ledger, monkeypatch):
    login_as(r_ledger["coord1"])
    monkeypatch.setattr("blueprints.reports.services.PAGE_SIZE", 2)
    args = _year_args(r_ledger)
    page = client.get("/reports/hours", query_string=args).get_data(as_text=True)
    assert "<html" in page and "Page 1" in page
    names = re.findall(r'<th scope="row">([^<]+)</th>', page)
    assert names == ["=HYPERLINK(&#34;http://x&#34;)", "王小明"]  # most hours first, escaped
    fragment = client.get(
        "/reports/hours", query_string={**args, "sort": "name", "dir": "asc", "page": 2}, headers=htmx()
    )
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'id="tally"' in body
    assert re.findall(r'<th scope="row">([^<]+)</th>', body) == ["王小明"]
    assert "Previous" in body and "Next" not in body
    # the links carry real hrefs for a browser without JavaScript
    assert 'href="/reports/hours?org=' in body


def test_csv_export_has_bom_and_neutralises_formulas(client, login_as, r_ledger):
    login_as(r_ledger["coord1"])
    response = client.get("/reports/hours/export", query_string=_year_args(r_ledger, format="csv"), buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Name,Mobile (masked),Home organisation")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text
    assert "139****0001" in text and "13911110001" not in text
    zh = client.get(
        "/reports/hours/export",
        query_string=_year_args(r_ledger, format="csv"),
        headers={"Accept-Language": "zh-CN"},
        buffered=True,
    )
    assert zh.get_data().decode("utf-8-sig").splitlines()[0].startswith("姓名,")


def test_xlsx_exports_read_back(client, login_as, r_ledger):
    login_as(r_ledger["coord1"])
    for url in EXPORTS:
        response = client.get(
            url, query_string=_year_args(r_ledger, format="xlsx"), headers={"Accept-Language": "zh-CN"}
        )
        assert response.status_code == 200, url
        sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
        rows = list(sheet.iter_rows(values_only=True))
        assert all(re.search(r"[\u4e00-\u9fff]", str(h)) for h in rows[0]), rows[0]  # Chinese headers
    response = client.get("/reports/hours/export", query_string=_year_args(r_ledger, format="xlsx"))
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    cells = [row for row in sheet.iter_rows(min_row=2)]
    formula = next(row[0] for row in cells if "HYPERLINK" in str(row[0].value))
    assert formula.data_type == "s" and formula.value.startswith("'=")


def test_events_report_shows_satisfaction(client, login_as, r_ledger):
    login_as(r_ledger["coord1"])
    page = client.get("/reports/events", query_string=_year_args(r_ledger)).get_data(as_text=True)
    assert "Satisfaction" in page and "4.5" in page and "(2)" in page
    assert "3 events · 5 participations · 17.5 hours · 75 people served" in page
    csv_text = client.get(
        "/reports/events/export", query_string=_year_args(r_ledger, format="csv"), buffered=True
    ).get_data(as_text=True)
    assert "关爱老人" in csv_text and ",4.5,2" in csv_text


def test_dashboard_page_links_charts_and_sections(client, login_as, app, r_ledger):
    def section(user, org, start, end):
        return {"note": f"satisfaction for {org.name} {start.isoformat()}..{end.isoformat()}"}

    get_registry(app).dashboard_sections.append(DashboardSection("reports/_test_section.html", section))
    app.jinja_env.loader = ChoiceLoader(
        [DictLoader({"reports/_test_section.html": "<p id=sect>{{ ctx.note }}</p>"}), app.jinja_env.loader]
    )
    login_as(r_ledger["coord1"])
    response = client.get("/reports/", query_string=_year_args(r_ledger))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    year = r_ledger["year"]
    assert f"satisfaction for 翠屏区 {year}-01-01..{year}-12-31" in page
    assert "<svg" in page and "style=" not in page
    assert ">6</strong>" in page and ">18.5</strong>" in page  # participations, hours
    d1 = r_ledger["orgs"]["d1"].id
    assert f'href="/reports/events?org={d1}&amp;period=year&amp;year={year}"' in page
    assert f'href="/reports/hours?org={d1}&amp;period=year&amp;year={year}"' in page
    assert f'href="/reports/venues?org={d1}' in page and f'href="/reports/volunteers/new?org={d1}' in page
    assert "向阳服务队" in page and "白沙街道" in page


def test_done_when_a_district_coordinator_checks_the_year(client, login_as, r_ledger):
    """Dashboard totals = the XLSX download = the ledger; the sibling district stays out of sight."""
    services.cache.clear()
    login_as(r_ledger["coord1"])
    page = client.get("/reports/").get_data(as_text=True)  # this year, the coordinator's district
    want = r_ledger["d1"]
    hours = want["minutes"] / 60
    assert f">{hours:g}</strong>" in page and f">{want['participations']}</strong>" in page
    assert f">{want['volunteers']}</strong>" in page
    response = client.get("/reports/hours/export", query_string={"format": "xlsx"})
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.get_data()), read_only=True).active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    col = {h: i for i, h in enumerate(header)}
    assert len(body) == want["volunteers"]
    assert sum(r[col["Minutes"]] for r in body) == want["minutes"]
    assert abs(sum(r[col["Hours"]] for r in body) - hours) < 0.05
    assert sum(r[col["Events attended"]] for r in body) == want["participations"]
    people = r_ledger["people"]
    ledger = {people[k].name: m for k, m in want["minutes_by_person"].items()}
    assert {r[col["Name"]].lstrip("'"): r[col["Minutes"]] for r in body} == ledger
    assert "赵六" not in str(rows)
    assert client.get("/reports/", query_string={"org": r_ledger["orgs"]["d2"].id}).status_code == 403
    db.session.rollback()


def test_home_panel_figures_for_small_subtrees_or_once_cached(client, login_as, r_ledger, monkeypatch):
    services.cache.clear()
    login_as(r_ledger["coord1"])
    want = r_ledger["d1"]
    page = client.get("/").get_data(as_text=True)
    assert "翠屏区 this year" in page and f"<dd>{want['participations']}</dd>" in page
    # a subtree too big to compute on the home page: a link until the dashboard has been opened
    services.cache.clear()
    monkeypatch.setattr(services, "CHEAP_EVENTS", 1)
    page = client.get("/").get_data(as_text=True)
    assert "are on the dashboard" in page and f"<dd>{want['participations']}</dd>" not in page
    assert client.get("/reports/").status_code == 200
    page = client.get("/").get_data(as_text=True)
    assert f"<dd>{want['participations']}</dd>" in page


def test_home_panel_reads_no_figures_twice_within_its_max_age(app, client, login_as, r_ledger, monkeypatch):
    """The home page stays instant: the figures it read (or found too big to read) are shown again for
    REPORTS_HOME_MAX_AGE seconds without a statement, unless the dashboard has computed them since."""
    from flask import g

    app.config["REPORTS_HOME_MAX_AGE"] = 300
    services.cache.clear()
    org, want = r_ledger["orgs"]["d1"], r_ledger["d1"]

    def home_view():
        """The panel's figures in one home view, and the statements it took to get them."""
        with app.test_request_context("/"):
            g.pop("_report_headline", None)  # the test's app context (and its g) outlives each view
            with count_statements(db.engine) as log:
                board = services.headline(org)
        return board, len(log)

    board, n = home_view()
    assert board.participations == want["participations"] and n > 0  # read on the first view
    board, n = home_view()
    assert board.participations == want["participations"] and n == 0  # then shown as read
    # a subtree too big for the home page: counted once, then a link without a statement ...
    services.cache.clear()
    monkeypatch.setattr(services, "CHEAP_EVENTS", 1)
    assert home_view()[0] is None
    assert home_view() == (None, 0)
    # ... until the dashboard has computed its figures
    login_as(r_ledger["coord1"])
    assert client.get("/reports/").status_code == 200
    board, n = home_view()
    assert board.participations == want["participations"] and n > 0
    board, n = home_view()
    assert board.participations == want["participations"] and n == 0
    # past the max age, read again
    app.config["REPORTS_HOME_MAX_AGE"] = 0
    assert home_view()[1] > 0


def test_tally_filters_by_child_org(client, login_as, r_ledger):
    login_as(r_ledger["coord1"])
    page = client.get("/reports/hours", query_string=_year_args(r_ledger)).get_data(as_text=True)
    t1 = r_ledger["orgs"]["t1"]
    assert f'<option value="{t1.id}">白沙街道</option>' in page
    c1 = r_ledger["orgs"]["c1"]
    page = client.get("/reports/hours", query_string=_year_args(r_ledger, org=c1.id)).get_data(as_text=True)
    # hours count where the event was held: c's 5 h at 白沙街道's own event are left out here
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th>.*?data-label="hours">([^<]+)</td>', page, re.S))
    assert rows == {"=HYPERLINK(&#34;http://x&#34;)": "6", "王小明": "5.5", "李华": "2"}
