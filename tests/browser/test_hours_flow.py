"""Two phones, as a new user would: the leader shows the rotating QR, the volunteer checks in by
opening its URL and out by typing the code, the leader confirms hours, the volunteer sees them,
asks for a correction, the leader approves, the volunteer prints a certificate and its QR verifies."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.db import write_intent
from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow
from blueprints.events.models import Registration
from tests.fixtures.core import PASSWORD

pytestmark = pytest.mark.browser


def _login(page, base: str, phone: str) -> None:
    page.fill("#phone", phone)
    page.fill("#password", PASSWORD)
    page.click("form#login-form button")


def test_check_in_hours_correction_certificate(app, h_world, live_server, browser, shot):
    world = h_world
    world.leader.phone, world.volunteer.phone = "13600000021", "13600000030"
    db.session.commit()
    server = live_server(workers=2)
    base = server.url
    phones = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
        phones.append((context, context.new_page()))
    (leader_ctx, leader), (volunteer_ctx, volunteer) = phones

    # the leader opens the check-in screen
    leader.goto(f"{base}/account/login?next=/hours/events/{world.event.id}/checkin?mode=in")
    _login(leader, base, world.leader.phone)
    leader.wait_for_selector("#checkin-screen svg")
    # htmx is a deferred script: it runs after the page is parsed, which may be after the QR code appeared
    leader.wait_for_function("typeof htmx === 'object'")
    scan_url = leader.get_attribute("#checkin-screen", "data-scan-url")
    assert re.search(r"/hours/scan/\d+\.in\.", scan_url)
    shot(leader, "hours-checkin-screen-390")

    # the volunteer's camera opens the URL: log in first, come back, checked in
    volunteer.goto(scan_url)
    volunteer.wait_for_selector("form#login-form")
    _login(volunteer, base, world.volunteer.phone)
    volunteer.wait_for_selector("text=签到成功")
    shot(volunteer, "hours-scan-done-390")
    # the volunteer serves for 100 minutes (moved back in the database instead of waiting)
    db.session.commit()  # end the test's read snapshot before writing
    with write_intent():
        db.session.execute(
            sa.update(Registration)
            .where(Registration.id == world.registration.id)
            .values(checked_in_at=utcnow() - timedelta(minutes=100))
        )
        db.session.commit()

    # check-out by typing the code shown on the leader's screen
    # (goto, not click: the screen reloads itself every minute and a click could race the reload)
    leader.goto(f"{base}/hours/events/{world.event.id}/checkin?mode=out")
    leader.wait_for_selector("#checkin-screen[data-mode=out]")
    code = re.sub(r"\D", "", leader.inner_text(".checkin-code"))
    assert len(code) == 6
    volunteer.goto(f"{base}/hours/events/{world.event.id}/attend")
    volunteer.fill("#code", "000000" if code != "000000" else "111111")
    volunteer.click(f"#attend-{world.event.id} button")
    volunteer.wait_for_selector("text=签到码无效")
    volunteer.fill("#code", code)
    volunteer.click(f"#attend-{world.event.id} button")
    volunteer.wait_for_selector("text=签退成功")

    # the leader confirms the hours: 100 minutes round to 1.5 hours
    leader.goto(f"{base}/hours/events/{world.event.id}/hours")
    leader.click("form.hours-confirm button")
    leader.wait_for_selector("text=时长已确认")
    assert "1.5" in leader.inner_text("main")

    # the volunteer sees them and asks for a correction
    volunteer.goto(f"{base}/hours/mine")
    volunteer.wait_for_selector("text=社区助老服务")
    assert "1.5" in volunteer.inner_text(".record-hours")
    # nothing of the page itself is wider than the phone (the shared nav bar scrolls on its own)
    wide = volunteer.evaluate(
        "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 391).length"
    )
    assert wide == 0
    volunteer.click("text=有误？")
    volunteer.fill("#hours", "2")
    volunteer.fill("#message", "我提前半小时到场布置")
    volunteer.click("text=发送给队长")
    volunteer.wait_for_selector("text=您的申请已发送给队长")
    assert "待处理" in volunteer.inner_text("main")

    # the leader approves (an htmx row update)
    leader.goto(f"{base}/hours/requests")
    leader.wait_for_selector("text=我提前半小时到场布置")
    leader.click(".request-item form button.btn:not(.btn-danger)")
    leader.wait_for_selector(".request-item .tag-approved")

    # the volunteer now has 2 hours, prints a certificate, and its QR verifies
    volunteer.goto(f"{base}/hours/mine")
    volunteer.wait_for_selector("text=2 / 20 小时")
    shot(volunteer, "hours-mine-390")
    volunteer.click("text=生成可打印的证明")
    volunteer.wait_for_selector(".certificate")
    assert "志愿服务证明" in volunteer.inner_text("h1.cert-title")
    assert "136****0030" in volunteer.inner_text(".cert-body")
    shot(volunteer, "hours-certificate-390")
    volunteer.emulate_media(media="print")
    assert not volunteer.is_visible(".topbar") and volunteer.is_visible(".cert-qr svg")
    volunteer.emulate_media(media="screen")
    verify_url = volunteer.get_attribute(".cert-url a", "href")

    stranger_ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    stranger = stranger_ctx.new_page()
    stranger.goto(verify_url)
    stranger.wait_for_selector("text=这是青益平台开具的真实志愿服务证明")
    text = stranger.inner_text("main")
    assert "李*青" in text and "李小青" not in text and "2" in text
    stranger.goto(verify_url[:-3] + "xyz")
    stranger.wait_for_selector("text=不是有效的证明")

    # desktop width, for a human to look at
    for page, name in ((leader, "hours-checkin-screen"), (volunteer, "hours-mine"), (volunteer, "hours-certificate")):
        page.set_viewport_size({"width": 1280, "height": 900})
        if name == "hours-checkin-screen":
            page.goto(f"{base}/hours/events/{world.event.id}/checkin?mode=in")
        elif name == "hours-mine":
            page.goto(f"{base}/hours/mine")
        else:
            page.goto(f"{base}/hours/mine")
            page.click(".list-item a[href*='/hours/certificates/']")
            page.wait_for_selector(".certificate")
        shot(page, f"{name}-1280")
    for context in (leader_ctx, volunteer_ctx, stranger_ctx):
        context.close()
