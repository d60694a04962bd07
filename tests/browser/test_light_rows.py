"""Light list rows in a real browser, with htmx and with JavaScript off (390 px, English):

- the team roster: Accept / Remove buttons that belong to one page form (form="team-actions");
- the event roster: Cancel place buttons posting the list's one form to their formaction;
- attendance: No-show through the shared form; "Fix times" loads its form when opened (htmx) or
  leads to the roster with that row's form open (no JavaScript); a bad time keeps it open;
- hour requests: one decision form, Reject needs the note.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.events.services import register
from blueprints.hours.models import CorrectionRequest
from blueprints.teams.models import Membership
from tests.support.screens import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def leader_world(city_tree, make_user, make_team, make_event, h_make_event, h_make_registration):
    leader = make_user(name="陈队长", phone="13966661000", org=city_tree["c1"])
    members = [make_user(name=f"队员{i}", phone=f"1396666110{i}") for i in range(2)]
    team = make_team(org=city_tree["c1"], leader=leader, members=members, join_policy="approval")
    asker = make_user(name="申请人", phone="13966661200")
    db.session.add(Membership(team_id=team.id, user_id=asker.id, role="member", state="pending"))
    coming = make_event(team=team, title="下周服务", capacity=10, starts_in=timedelta(days=5))
    for member in members:
        register(coming, member)
    running = h_make_event(team, title="正在进行的服务")
    registrations = [h_make_registration(running, m) for m in members]
    db.session.add(
        CorrectionRequest(volunteer_id=members[0].id, event_id=running.id, requested_minutes=90, message="忘记签到")
    )
    db.session.commit()
    return {"leader": leader, "team": team, "coming": coming, "running": running, "registrations": registrations}


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_row_actions_with_and_without_javascript(browser, leader_world, live_server, javascript):
    from playwright.sync_api import expect

    server = live_server(workers=1)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en", java_script_enabled=javascript)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    base, world = server.url, leader_world
    try:
        log_in(page, base, world["leader"].phone)

        page.goto(f"{base}/teams/{world['team'].id}/members")
        page.locator("#requests li", has_text="申请人").locator("button", has_text="Accept").click()
        if javascript:
            expect(page.locator("#requests li", has_text="申请人")).to_contain_text("Member")
        expect(page.locator("#flash")).to_contain_text("申请人 joined the team")
        page.locator("#roster li", has_text="队员1").locator("button", has_text="Remove").click()
        expect(page.locator("#flash")).to_contain_text("队员1 was taken off the team")

        page.goto(f"{base}/events/{world['coming'].id}/roster")
        page.locator("#roster tr", has_text="队员0").locator("button", has_text="Cancel place").click()
        expect(page.locator("#flash")).to_contain_text("The registration of 队员0 is cancelled")
        expect(page.locator("#roster tbody")).not_to_contain_text("队员0")

        reg = world["registrations"][0]
        page.goto(f"{base}/hours/events/{world['running'].id}/attendance")
        row = page.locator(f"#reg-{reg.id}")
        row.locator("button", has_text="No-show").click()
        expect(page.locator(f"#reg-{reg.id} td").nth(1)).to_have_text("No-show")
        page.locator(f"#reg-{reg.id} summary").click()
        if not javascript:
            page.locator(f"#reg-{reg.id} details a").click()
        field = page.locator(f"#reg-{reg.id} input[type=datetime-local]").first
        expect(field).to_be_visible()
        field.fill("")
        page.locator(f"#reg-{reg.id} button", has_text="Save times").click()
        expect(page.locator(f"#reg-{reg.id} .error")).to_contain_text("Enter the check-in time")
        expect(page.locator(f"#reg-{reg.id} details[open]")).to_have_count(1)

        page.goto(f"{base}/hours/requests")
        item = page.locator("#requests li.request-item").first
        item.locator("button", has_text="Reject").click()
        expect(page.locator("#requests li.request-item").first.locator(".error")).to_contain_text("why the request")
        page.locator("#requests li.request-item textarea").first.fill("签到表上没有记录")
        page.locator("#requests li.request-item").first.locator("button", has_text="Reject").click()
        expect(page.locator("#flash")).to_contain_text("rejected")
    finally:
        context.close()
    db.session.rollback()  # read what the server wrote
    assert db.session.scalar(sa.select(CorrectionRequest.decision_note)) == "签到表上没有记录"
