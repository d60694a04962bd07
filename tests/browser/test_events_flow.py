"""A volunteer on a phone (390x844, Chinese): finds an event on the weekly list, registers in one tap,
cancels, joins the waitlist of a full event, is moved up when someone cancels, and sees the
notification. Then the teams and events pages are photographed at 390 and 1280 px."""

from __future__ import annotations

from datetime import timedelta

import pytest

from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today, to_local, utcnow
from blueprints.events.services import register
from tests.fixtures.core import PASSWORD
from tests.support.live import signed_in_session

pytestmark = pytest.mark.browser


def _log_in(page, base: str, phone: str) -> None:
    page.goto(base + "/account/login")
    page.fill("#phone", phone)
    page.fill("#password", PASSWORD)
    page.click("form#login-form button")
    page.wait_for_selector("text=您好")


def _no_sideways_scroll(page, width: int = 390) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_find_register_cancel_waitlist_promotion(
    app, city_tree, make_team, make_event, make_user, live_server, phone_page, shot
):
    leader = make_user(name="陈队长")
    team = make_team(org=city_tree["c1"], name="向阳青年志愿服务队", leader=leader)
    start = (utcnow() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    open_event = make_event(
        team=team, title="社区读书会", starts_at=start, ends_at=start + timedelta(hours=2), capacity=20
    )
    full_event = make_event(
        team=team,
        title="敬老院探访",
        starts_at=start + timedelta(hours=3),
        ends_at=start + timedelta(hours=5),
        capacity=1,
    )
    other = make_user(name="王同学", phone="13966660001")
    register(full_event, other)
    volunteer = make_user(name="李小青", phone="13966660002", org=city_tree["c1"])
    db.session.commit()
    server = live_server(workers=2)
    page = phone_page
    base = server.url

    _log_in(page, base, volunteer.phone)
    page.click("nav.mainnav >> text=活动清单")
    page.wait_for_selector("#week")
    week_of_event = to_local(open_event.starts_at).isocalendar()[:2]
    if week_of_event != local_today().isocalendar()[:2]:
        page.click("text=下一周")  # htmx swaps the week in place
        page.wait_for_selector("text=社区读书会")
    assert page.is_visible("text=剩余 20 个名额")
    shot(page, "events-week-phone")
    _no_sideways_scroll(page)

    page.click("text=社区读书会")
    page.wait_for_selector("#registration button")
    page.click("#registration button")
    page.wait_for_selector("text=报名成功，到时见！")  # swapped in place by htmx, no reload
    assert page.is_visible("text=共 20 个名额，剩余 19 个")
    shot(page, "events-registered-phone")

    page.click("text=取消报名")
    page.wait_for_selector("text=已取消报名，感谢您及时告知。")
    assert page.locator("#registration button").inner_text().strip() == "报名"
    _no_sideways_scroll(page)

    page.goto(base + f"/events/{full_event.id}")
    page.click("text=加入候补")
    page.wait_for_selector("text=第 1 位")
    shot(page, "events-waitlisted-phone")

    # the other volunteer gives up the seat (another browser, another process)
    session = signed_in_session(base, other.phone, PASSWORD)
    assert session.post(base + f"/events/{full_event.id}/registration/cancel", allow_redirects=False).status_code == 303

    page.reload()
    page.wait_for_selector("text=报名成功，到时见！")
    badge = page.locator("#badge-unread")
    assert badge.inner_text().strip().startswith("1") or "1" in badge.inner_text()
    page.click("nav.mainnav >> text=通知")
    page.wait_for_selector("text=有名额空出")
    assert page.is_visible("text=敬老院探访")
    shot(page, "events-promoted-notification-phone")

    page.click("text=我的活动")
    page.wait_for_selector("text=即将参加")
    assert page.is_visible("text=敬老院探访")
    shot(page, "events-mine-phone")
    _no_sideways_scroll(page)


def test_pages_at_phone_and_desktop_widths(
    app, browser, city_tree, make_team, make_event, make_user, make_coordinator, live_server, phone_page, shot
):
    leader = make_user(name="陈队长", phone="13966660010")
    members = [make_user(name=f"队员{i}", phone=f"139666601{i:02d}") for i in range(6)]
    team = make_team(
        org=city_tree["c1"], name="向阳青年志愿服务队", leader=leader, members=members, join_policy="approval"
    )
    make_team(org=city_tree["t1"], name="白沙街道河小青护河队")
    make_coordinator(city_tree["d1"], phone="13966660020")
    events = []
    for day in range(5):
        start = (utcnow() + timedelta(days=day, hours=2)).replace(minute=0, second=0, microsecond=0)
        events.append(
            make_event(
                team=team,
                title=["七彩假期·四点半课堂", "河小青护河行动", "老年人智能手机教学", "社区环境整治", "青年读书会"][
                    day
                ],
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                capacity=3 if day == 2 else 20,
            )
        )
    for m in members[:5]:
        register(events[2], m)
    register(events[0], members[0])
    db.session.commit()
    server = live_server(workers=2)
    base = server.url

    desktop_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    desktop = desktop_context.new_page()
    try:
        for page, width in ((phone_page, 390), (desktop, 1280)):
            tag = "phone" if width == 390 else "desktop"
            _log_in(page, base, leader.phone)
            for name, path in (
                ("week", f"/events/?org={city_tree['city'].id}"),
                ("event-leader", f"/events/{events[2].id}"),
                ("roster", f"/events/{events[2].id}/roster?list=waitlisted"),
                ("new-event", f"/events/new?team={team.id}"),
                ("team", f"/teams/{team.id}"),
                ("team-members", f"/teams/{team.id}/members"),
                ("teams", "/teams/"),
                ("print", f"/events/print?org={city_tree['city'].id}"),
                ("home-leader", "/"),
            ):
                response = page.goto(base + path)
                assert response.status == 200, path
                shot(page, f"events-{name}-{tag}")
                if width == 390:
                    _no_sideways_scroll(page)
            page.click("text=退出")
    finally:
        desktop_context.close()
