"""Done when: on a phone, a team leader requests a slot, the manager sees the badge and approves it from the
queue, the leader sees it approved with a notification; a second request for the slot is refused; the week
calendar and the iCal feed show the booking."""

from __future__ import annotations

import re

import icalendar
import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import expect

from blueprints.core.extensions import db
from blueprints.venues.models import Booking
from tests.fixtures.venues import future_day
from tests.support.screens import log_in

pytestmark = pytest.mark.browser


def test_request_approve_notify_refuse(
    app, city_tree, make_venue, make_manager, make_user, live_server, browser, phone_page, shot
):
    venue = make_venue(org=city_tree["t1"], name="翠屏区白沙街道青年之家", capacity=40)
    make_manager(venue, name="张晓燕", phone="13800000010")
    make_user(name="队长小王", phone="13800000020")
    make_user(name="另一位队长", phone="13800000021")
    db.session.commit()
    server = live_server(workers=2)
    day = future_day(2).isoformat()

    # the leader finds the youth home and asks for 09:00-11:00
    leader = phone_page
    log_in(leader, server.url, "13800000020")
    leader.goto(server.url + "/venues/")
    assert leader.evaluate("typeof htmx") == "object", "htmx did not load"
    leader.fill("#venue-q", "白沙")
    leader.wait_for_selector("#venue-results >> text=翠屏区白沙街道青年之家")
    leader.click("#venue-results >> text=翠屏区白沙街道青年之家")
    leader.wait_for_selector("text=未来 7 天")
    shot(leader, "venues-page-phone")
    leader.click(f"a[href='/venues/{venue.id}/book']")
    leader.fill("#day", day)
    leader.wait_for_selector("#day-schedule >> text=当天还没有预约或申请。")  # htmx loaded that day's schedule
    leader.fill("#start", "09:00")
    leader.fill("#end", "11:00")
    leader.fill("#purpose", "七彩假期读书会")
    leader.fill("#attendees", "25")
    shot(leader, "venues-book-phone")
    leader.click("button[value=request]")
    leader.wait_for_selector("text=您的申请已发送给")
    assert "待审批" in leader.content()
    assert leader.evaluate("document.documentElement.scrollWidth") <= 390
    shot(leader, "venues-my-bookings-phone")

    # the manager sees the badge and approves from the queue (htmx row swap, badge updated out of band)
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
    manager = context.new_page()
    log_in(manager, server.url, "13800000010")
    assert manager.inner_text("#badge-approvals").strip("() \n") == "1"
    manager.click("a[href='/venues/approvals']")
    manager.wait_for_selector("text=七彩假期读书会")
    shot(manager, "venues-approvals-phone")
    db.session.rollback()  # see what the server committed
    booking = db.session.scalar(sa.select(Booking))
    manager.click(f"#booking-{booking.id} form[action$='/approve'] button")
    manager.wait_for_selector(f"#booking-{booking.id} >> text=已预约成功")
    assert manager.url.endswith("/venues/approvals")  # swapped in place, no reload
    # the badge came out of band in the same answer; while htmx settles it still wears the old classes
    # ("badge htmx-added htmx-settling"), so wait for the settled element
    expect(manager.locator("#badge-approvals")).to_have_class(re.compile(r"(^|\s)badge-empty(\s|$)"))
    assert manager.evaluate("document.documentElement.scrollWidth") <= 390
    shot(manager, "venues-approved-phone")
    context.close()

    # the leader sees it approved, with a notification
    leader.goto(server.url + "/venues/bookings/mine")
    assert "1" in leader.inner_text("#badge-unread")
    leader.wait_for_selector(f"#my-booking-{booking.id} .tag-approved")
    leader.click("a[href='/notifications/']")
    leader.wait_for_selector("text=翠屏区白沙街道青年之家")
    assert "批准" in leader.inner_text("#notification-list")
    shot(leader, "venues-notification-phone")

    # a second request for the same slot is refused beside the field
    leader.click("form[action*='logout'] button")
    leader.wait_for_selector("text=您已退出登录")  # signed out (not merely a page that was idle before the click)
    log_in(leader, server.url, "13800000021")  # another leader wants the same morning
    leader.goto(server.url + f"/venues/{venue.id}/book")
    leader.fill("#day", day)
    leader.wait_for_selector("#day-schedule >> text=七彩假期读书会")
    leader.fill("#start", "10:00")
    leader.fill("#end", "11:30")
    leader.fill("#purpose", "再来一场")
    leader.fill("#attendees", "10")
    leader.click("button[value=request]")
    leader.wait_for_selector("#start-error")
    assert "与已批准的预约（09:00–11:00）冲突" in leader.inner_text("#start-error")
    assert leader.url.endswith(f"/venues/{venue.id}/book")
    shot(leader, "venues-refused-phone")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 1

    # the week calendar and the iCal feed show the booking
    leader.goto(server.url + f"/venues/{venue.id}/calendar?week={day}")
    leader.wait_for_selector(".cal-booking >> text=七彩假期读书会")
    shot(leader, "venues-calendar-phone")
    feed = requests.get(server.url + f"/venues/{venue.id}/calendar.ics", timeout=10)
    events = icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["七彩假期读书会"]
    assert events[0].decoded("dtstart").strftime("%Y-%m-%d %H:%M") == f"{day} 09:00"
