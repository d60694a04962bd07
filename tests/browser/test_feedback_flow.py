"""Done when: a volunteer rates a past event from a phone, a resident rates it through the QR code,
the leader sees both, a coordinator assesses a youth home and its page shows the new stars and
satisfaction — in Chromium at 390x844, htmx on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.feedback.models import Feedback, VenueAssessment
from blueprints.feedback.services import invite_feedback
from blueprints.venues.models import Venue
from tests.support.screens import log_in

pytestmark = pytest.mark.browser


def _no_sideways_scroll(page, width: int = 390) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_rate_qr_leader_and_star_assessment(
    app,
    city_tree,
    make_user,
    make_coordinator,
    f_make_team,
    f_make_venue,
    f_make_booking,
    f_make_event,
    f_register,
    live_server,
    phone_page,
    browser,
    shot,
):
    leader = make_user("王队长", phone="13900000001", org=city_tree["c1"])
    volunteer = make_user("李小青", phone="13900000002", org=city_tree["c1"])
    coordinator = make_coordinator(city_tree["d1"], name="林书记", phone="13900000003")
    team = f_make_team(city_tree["c1"], name="小青石志愿服务队", leader=leader)
    venue = f_make_venue(city_tree["c1"], name="向阳青年之家")
    booking = f_make_booking(venue, leader, days_ago=1)
    event = f_make_event(team, title="七彩假期陪伴", booking=booking, ended_days_ago=1)
    f_register(event, volunteer, "attended")
    invite_feedback(event)  # what the events developer calls when the leader completes the event
    db.session.commit()
    server = live_server(workers=2)
    base = server.url
    page = phone_page

    # 1. the volunteer follows the notification and rates the event from the phone
    log_in(page, base, volunteer.phone)
    page.goto(base + "/")
    page.wait_for_selector("text=评价最近参加的活动")
    page.goto(base + "/notifications/")
    page.click("text=七彩假期陪伴 已经结束了")
    page.wait_for_selector("text=七彩假期陪伴 怎么样？")
    page.click("button:has-text('提交评价')")  # nothing chosen yet: the form says so, in place
    page.wait_for_selector("text=请选择 1 到 5 颗星。")
    page.click("label[for=rating-4]")
    page.fill("#comment", "孩子们很开心，组织得很好。")
    shot(page, "feedback-rate-390")
    _no_sideways_scroll(page)
    page.click("button:has-text('提交评价')")
    page.wait_for_selector("text=谢谢！您对 七彩假期陪伴 的评价已记录。")
    assert "评价最近参加的活动" not in page.content()

    # 2. the leader opens the QR code; a resident without an account scans it and rates
    leader_context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
    leader_page = leader_context.new_page()
    log_in(leader_page, base, leader.phone)
    leader_page.goto(f"{base}/feedback/events/{event.id}/qr")
    assert leader_page.locator(".fb-qr svg").count() == 1
    public_url = leader_page.locator(".fb-url a").get_attribute("href")
    shot(leader_page, "feedback-qr-390")

    resident_context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN"
    )
    resident = resident_context.new_page()
    resident.goto(public_url)
    resident.wait_for_selector("text=无需注册账号")
    resident.click("label[for=rating-5]")
    resident.fill("#comment", "志愿者们很热情，谢谢你们！")
    shot(resident, "feedback-public-390")
    _no_sideways_scroll(resident)
    resident.click("button:has-text('提交评价')")
    resident.wait_for_selector("text=感谢您的评价！")
    resident.wait_for_selector("text=这部手机已经提交过对本次活动的评价")
    resident_context.close()

    # 3. the leader sees both ratings and both comments
    leader_page.goto(f"{base}/feedback/events/{event.id}")
    leader_page.wait_for_selector("text=2 条评价")
    html = leader_page.content()
    assert "4.5" in html and "孩子们很开心" in html and "志愿者们很热情" in html
    assert "李小青" not in html  # anonymous to the leader
    shot(leader_page, "feedback-leader-390")
    _no_sideways_scroll(leader_page)
    leader_context.close()

    # 4. a coordinator assesses the youth home; its page shows the stars and the satisfaction
    coord_context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
    coord = coord_context.new_page()
    log_in(coord, base, coordinator.phone)
    coord.goto(base + "/feedback/venues")
    coord.click(f"a[href='/feedback/venues/{venue.id}/assess']")
    coord.wait_for_selector("text=评定 向阳青年之家")
    assert "近 12 个月青年满意度：4.5 / 5" in coord.content()
    coord.fill("#score_d0", "25")  # over the maximum of 20: refused in place, nothing saved
    coord.fill("#score_d1", "19")
    coord.fill("#score_d2", "24")
    coord.fill("#score_d3", "18")
    coord.fill("#score_d4", "14")
    coord.click("button:has-text('保存评定结果')")
    coord.wait_for_selector("text=请输入 0 到 20 之间的整数。")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VenueAssessment)) == 0
    db.session.rollback()  # end the read snapshot
    coord.fill("#score_d0", "18")  # 93 of 100: five stars
    coord.fill("#note", "阵地设施齐全，活动丰富。")
    shot(coord, "feedback-assess-390")
    _no_sideways_scroll(coord)
    coord.click("button:has-text('保存评定结果')")
    coord.wait_for_selector("text=向阳青年之家 已完成星级评定：5 星。")
    shot(coord, "feedback-history-390")
    coord.goto(f"{base}/venues/{venue.id}")
    box = coord.locator("#venue-rating")
    box.wait_for()
    text = box.inner_text()
    assert "5 星（满分 5 星）" in text and "林书记" in text and "4.5" in text, text
    shot(coord, "feedback-venue-390")
    _no_sideways_scroll(coord)
    coord_context.close()

    db.session.rollback()  # a fresh snapshot: see what the server wrote
    assert sorted((f.rating, f.is_public) for f in db.session.scalars(sa.select(Feedback))) == [(4, False), (5, True)]
    assert db.session.get(Venue, venue.id).stars == 5


def test_desktop_pages(
    app,
    city_tree,
    make_user,
    make_coordinator,
    f_make_team,
    f_make_venue,
    f_make_booking,
    f_make_event,
    f_register,
    f_rating,
    live_server,
    browser,
    shot,
):
    """The same pages at 1280 px, for a human to look at."""
    leader = make_user("王队长", phone="13900000011", org=city_tree["c1"])
    coordinator = make_coordinator(city_tree["d1"], name="林书记", phone="13900000013")
    team = f_make_team(city_tree["c1"], name="小青石志愿服务队", leader=leader)
    venue = f_make_venue(city_tree["c1"], name="向阳青年之家")
    event = f_make_event(
        team, title="七彩假期陪伴", booking=f_make_booking(venue, leader, days_ago=1), ended_days_ago=1
    )
    for n, (rating, comment) in enumerate(((5, "很有意义"), (4, None), (3, "时间有点紧"), (5, "孩子们很开心"))):
        f_rating(event, make_user(f"志愿者{n}", org=city_tree["c1"]) if n % 2 else None, rating, comment)
    f_make_venue(city_tree["t1"], name="白沙街道青年之家")
    db.session.commit()
    server = live_server(workers=2)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    log_in(page, server.url, coordinator.phone)
    for path, name in (
        (f"/feedback/events/{event.id}", "feedback-leader-1280"),
        ("/feedback/venues", "feedback-venues-1280"),
        (f"/feedback/venues/{venue.id}/assess", "feedback-assess-1280"),
        (f"/feedback/orgs/{city_tree['d1'].id}/checklist", "feedback-checklist-1280"),
        (f"/feedback/satisfaction?org={city_tree['d1'].id}", "feedback-satisfaction-1280"),
        (f"/venues/{venue.id}", "feedback-venue-1280"),
    ):
        response = page.goto(server.url + path)
        assert response.status == 200, path
        shot(page, name)
    context.close()
