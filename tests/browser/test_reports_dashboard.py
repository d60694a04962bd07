"""A district coordinator on a phone: the dashboard, the tally sorted and paged by htmx, downloads."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from blueprints.core.extensions import db
from tests.support.screens import log_in

pytestmark = pytest.mark.browser


def test_dashboard_and_tally_on_a_phone(app, r_ledger, live_server, phone_page, shot, browser):
    db.session.commit()
    server = live_server(workers=2, env={"FLASK_REPORTS_REST_MAX_AGE": "0"})
    page = phone_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, server.url, r_ledger["coord1"].phone)
    page.goto(server.url + "/reports/")
    assert page.evaluate("typeof htmx") == "object", "htmx did not load"
    page.wait_for_selector("text=志愿服务人次")
    stats = page.inner_text(".report-stats")
    assert "18.5" in stats and "6" in stats  # hours, participations of the district
    assert page.locator("svg.chart-columns rect.chart-bar").count() == 12
    assert page.evaluate("document.querySelectorAll('[style]').length") == 0
    shot(page, "reports-dashboard-390")

    # the hours figure opens the tally; sorting swaps the list in place (htmx) and keeps a real URL
    page.click(".report-stats a:has-text('服务小时')")
    page.wait_for_selector("#tally")
    assert page.url.startswith(server.url + "/reports/hours")
    first = page.locator("#tally tbody th").first.inner_text()
    assert first.startswith("=HYPERLINK")  # most hours first
    page.click(".sort-links a:has-text('姓名')")
    expect(page.locator("#tally tbody th").nth(1)).to_have_text("李华")  # was 王小明 (more hours)
    assert "sort=name" in page.url
    shot(page, "reports-hours-390")

    assert not errors, errors
    # the sibling district is out of reach
    response = page.goto(server.url + f"/reports/?org={r_ledger['orgs']['d2'].id}")
    assert response.status == 403

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    log_in(desk, server.url, r_ledger["coord1"].phone)
    desk.goto(server.url + "/reports/")
    desk.wait_for_selector("text=按组织")
    shot(desk, "reports-dashboard-1280")
    with desk.expect_download() as download:
        desk.goto(server.url + "/reports/hours")
        desk.click("a:has-text('下载 Excel')")
    assert download.value.suggested_filename.endswith(".xlsx")
    desk.context.close()
