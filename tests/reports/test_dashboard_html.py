"""The dashboard page keeps its rendered parts (routes._cached_html) and the feedback section its
tables per process: a change shows on the next request all the same (REPORTS_REST_MAX_AGE is 0
in these tests), in either language, and an unchanged page is the same page."""

from __future__ import annotations

import re
from datetime import date

from blueprints.core.extensions import db
from blueprints.reports import services
from tests.support.queries import count_statements


def _page(client, ledger, lang="zh-CN", **args) -> str:
    query = {"period": "year", "year": ledger["year"], "org": ledger["orgs"]["d1"].id, **args}
    response = client.get("/reports/", query_string=query, headers={"Accept-Language": lang})
    assert response.status_code == 200
    return re.sub(r'"X-CSRFToken": "[^"]+"|name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))


def _stat(page: str, label: str) -> str:
    return re.search(r"<strong>([^<]+)</strong> " + re.escape(label), page).group(1)


def test_figures_headings_and_languages_follow_the_data(
    client, login_as, r_ledger, r_record, r_event, r_served, r_rating
):
    services.cache.clear()
    login_as(r_ledger["coord1"])
    first = _page(client, r_ledger)
    assert _page(client, r_ledger) == first  # the kept HTML is the page
    english = _page(client, r_ledger, lang="en")
    assert _stat(english, "service hours") == "18.5" and "Service hours per month" in english
    assert "服务时长" in _page(client, r_ledger)  # each language its own HTML
    # a new record: the figures are rendered again from the new Dashboard
    r_record(r_ledger["people"]["idle"], r_ledger["events"]["e1"], 90)
    again = _page(client, r_ledger, lang="en")
    assert _stat(again, "service hours") == "20" and _stat(again, "volunteers") == "4"
    # an event held with people served (the rest of the figures), and a rating (the section)
    team = r_ledger["teams"]["team1"]
    event = r_event(team, date(r_ledger["year"], 5, 5), title="新活动")
    r_served(event, "children", 12)
    r_rating(event, r_ledger["people"]["b"], 2)
    again = _page(client, r_ledger, lang="en")
    assert _stat(again, "events held") == "4" and _stat(again, "people served") == "87"
    section = again.split("fb-dashboard")[1]
    assert '向阳服务队<br><small class="muted">向阳社区</small></td><td class="num">4</td>' in section  # 3 + 1
    # the org renamed: the heading and the trail follow (the figures are the same Dashboard)
    r_ledger["orgs"]["d1"].name = "翠屏新区"
    db.session.commit()
    renamed = _page(client, r_ledger)
    assert "翠屏新区" in renamed.split('<nav class="report-tabs"')[0].split("<main")[1]
    # another period's arguments: their own heading and links
    march = _page(client, r_ledger, lang="en", period="month", month=3)
    link = f'href="/reports/events?org={r_ledger["orgs"]["d1"].id}&amp;period=month&amp;year={r_ledger["year"]}&amp;month=3"'
    assert link in march and link not in renamed
    assert _stat(march, "service hours") == "12.5"  # a: 90 min, c: 360 + 300 min in March


def test_satisfaction_section_follows_a_cancelled_event(client, login_as, r_ledger):
    login_as(r_ledger["coord1"])
    page = _page(client, r_ledger)
    assert "向阳服务队<br>" in page.split("fb-dashboard")[1]
    event = r_ledger["events"]["e1"]  # the only rated event of 向阳服务队
    event.state = "cancelled"
    event.cancel_reason = "天气"
    db.session.commit()
    page = _page(client, r_ledger)
    assert "向阳服务队<br>" not in page.split("fb-dashboard")[1]


def test_a_cached_section_checks_its_inputs_after_the_max_age_in_one_statement(client, login_as, app, r_ledger):
    login_as(r_ledger["coord1"])
    _page(client, r_ledger)
    app.config["REPORTS_REST_MAX_AGE"] = 3600
    with count_statements(db.engine) as log:
        _page(client, r_ledger)
    assert not [s for s in log.statements if "feedback" in s and "max(feedback.id)" not in s], str(log)
    app.config["REPORTS_REST_MAX_AGE"] = 0
    with count_statements(db.engine) as log:
        _page(client, r_ledger)
    # nothing changed: one statement checks what the tables read, none computes them again
    assert not [s for s in log.statements if "avg(feedback.rating)" in s], str(log)
    assert len([s for s in log.statements if "max(bookings.cancelled_at)" in s]) == 2, str(log)  # reports', feedback's
