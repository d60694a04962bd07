"""Catalogue search and filters, the venue page, the week calendar and the iCal feeds."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today
from tests.conftest import htmx
from tests.fixtures.venues import future_day


@pytest.fixture
def homes(city_tree, make_venue):
    return {
        "baisha": make_venue(org=city_tree["t1"], name="翠屏区白沙街道青年之家", facilities="wifi,piano"),
        "xiangyang": make_venue(org=city_tree["c1"], name="向阳社区青空间", facilities="projector"),
        "xingfu": make_venue(
            org=city_tree["c2"], name="幸福社区青空间", facilities="wifi,projector", address="南岸路8号"
        ),
        "hidden": make_venue(org=city_tree["c2"], name="停用的青年之家", active=False),
    }


def _names(html: str, homes: dict) -> set[str]:
    return {key for key, v in homes.items() if v.name in html}


def test_search_and_filters(client, homes, city_tree):
    assert _names(client.get("/venues/").get_data(as_text=True), homes) == {"baisha", "xiangyang", "xingfu"}
    assert _names(client.get("/venues/?q=青空间").get_data(as_text=True), homes) == {"xiangyang", "xingfu"}
    assert _names(client.get("/venues/?q=南岸路").get_data(as_text=True), homes) == {"xingfu"}  # by address
    d1 = city_tree["d1"].id
    assert _names(client.get(f"/venues/?org={d1}").get_data(as_text=True), homes) == {"baisha", "xiangyang"}
    assert _names(client.get("/venues/?facility=wifi").get_data(as_text=True), homes) == {"baisha", "xingfu"}
    both = client.get("/venues/?facility=wifi&facility=projector").get_data(as_text=True)
    assert _names(both, homes) == {"xingfu"}
    assert "No youth home matches" in client.get("/venues/?q=不存在的地方").get_data(as_text=True)


def test_free_at_date_and_time(client, homes, make_booking, make_closure):
    day = future_day()
    make_booking(homes["baisha"], day=day, start=time(9), end=time(11), state="approved")
    make_booking(homes["xingfu"], day=day, start=time(9), end=time(11), state="pending")  # pending: still free
    make_closure(homes["xiangyang"], day)
    url = f"/venues/?day={day.isoformat()}&start=10:00&end=11:00"
    html = client.get(url).get_data(as_text=True)
    assert _names(html, homes) == {"xingfu"}
    assert "Request this time" in html and f"day={day.isoformat()}" in html
    # a date only: open that day (the closure counts, bookings do not)
    assert _names(client.get(f"/venues/?day={day.isoformat()}").get_data(as_text=True), homes) == {"baisha", "xingfu"}
    # outside opening hours (12:00-13:00 is the lunch break)
    assert (
        _names(client.get(f"/venues/?day={day.isoformat()}&start=12:00&end=13:00").get_data(as_text=True), homes)
        == set()
    )
    bad = client.get("/venues/?day=tomorrow&start=25:00").get_data(as_text=True)
    assert "Enter a date like 2026-05-04." in bad and "Enter a time like 09:30." in bad


def test_htmx_search_returns_the_results_fragment(client, homes):
    response = client.get("/venues/?q=白沙", headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and 'id="venue-results"' in html
    assert _names(html, homes) == {"baisha"}
    assert "HX-Request" in response.headers.get("Vary", "")


def test_catalogue_is_paginated(client, make_venue, make_org):
    org = make_org("大社区")
    for i in range(23):
        make_venue(org=org, name=f"青年之家{i:02d}")
    first = client.get("/venues/").get_data(as_text=True)
    assert first.count('class="list-item venue-card"') == 20 and "page=2" in first
    second = client.get("/venues/?page=2").get_data(as_text=True)
    assert second.count('class="list-item venue-card"') == 3


def test_venue_page(client, homes, make_manager, make_booking, make_closure, login_as, make_user):
    venue = homes["baisha"]
    manager = make_manager(venue, name="张晓燕", phone="13800000010")
    venue.contact_phone = "0831-1234567"
    venue.description = "设有阅读角"
    venue.stars = 4
    db.session.commit()
    day = local_today() + timedelta(days=1)
    make_booking(venue, day=day, start=time(9), end=time(10), state="approved")
    make_closure(venue, local_today() + timedelta(days=3), reason="空调检修")
    html = client.get(f"/venues/{venue.id}").get_data(as_text=True)
    assert "白沙街道" in html and "测试路1号" in html and "Up to 30 people" in html
    assert "Wi-Fi" in html and "Piano" in html and "0831-1234567" in html and "设有阅读角" in html
    assert "张晓燕" in html and "138****0010" in html and "13800000010" not in html  # masked for the public
    assert "08:00–12:00, 13:00–22:00" in html  # opening hours
    assert "空调检修" in html  # closure
    assert "The next 7 days" in html and "10:00–12:00, 13:00–22:00" in html  # free after the booking
    assert "Booked:" in html and "09:00–10:00" in html
    assert f"/venues/{venue.id}/book" in html and f"/venues/{venue.id}/calendar.ics" in html
    assert "Manage" not in html.split("<main", 1)[1].split("About", 1)[0]
    login_as(manager)
    html = client.get(f"/venues/{venue.id}").get_data(as_text=True)
    assert f"/venues/{venue.id}/manage" in html


def test_venue_page_renders_the_slot(app, client, homes):
    from blueprints.core.registry import Slot, get_registry

    registry = get_registry(app)
    saved = dict(registry.slots)
    try:
        registry.slots["venue.page"] = [Slot("venues/_badge_oob.html", lambda venue: {"n": venue.id + 50})]
        html = client.get(f"/venues/{homes['baisha'].id}").get_data(as_text=True)
        assert f">{homes['baisha'].id + 50}<" in html
    finally:
        registry.slots.clear()
        registry.slots.update(saved)


def test_week_calendar(client, homes, make_booking, make_closure):
    venue = homes["baisha"]
    monday = local_today() - timedelta(days=local_today().weekday()) + timedelta(days=7)
    make_booking(
        venue,
        day=monday + timedelta(days=1),
        start=time(9, 15),
        end=time(10, 45),
        state="approved",
        purpose="周二的读书会",
    )
    make_booking(venue, day=monday + timedelta(days=1), start=time(14), end=time(15), state="pending", purpose="待定")
    make_closure(venue, monday + timedelta(days=4), reason="节日闭馆")
    response = client.get(f"/venues/{venue.id}/calendar?week={monday.isoformat()}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "周二的读书会" in html and "09:15–10:45" in html and "待定" not in html
    assert "节日闭馆" in html and html.count('class="cal-day') == 7
    # grid rows: first row 08:00, 15-minute rows -> 09:15 is row 6, 10:45 ends before row 12
    assert "cal-booking rs-6 re-12" in html
    assert 'class="cal-item cal-open rs-1 re-17"' in html  # 08:00-12:00
    assert 'class="cal-week"' in html  # 08:00-22:00: 15-minute rows
    nxt = client.get(f"/venues/{venue.id}/calendar?week={(monday + timedelta(days=7)).isoformat()}", headers=htmx())
    body = nxt.get_data(as_text=True)
    assert "<html" not in body and 'id="calendar"' in body and "周二的读书会" not in body
    assert f"week={monday.isoformat()}" in body  # the previous-week link points back


def test_week_calendar_longer_than_16_hours_uses_half_hour_rows(client, city_tree, make_venue):
    """06:00-23:30 is 18 grid hours: 36 rows of 30 minutes, twice as tall (.cal-long), within calendar.css."""
    venue = make_venue(org=city_tree["t1"], hours={d: [(time(6), time(23, 30))] for d in range(7)})
    html = client.get(f"/venues/{venue.id}/calendar").get_data(as_text=True)
    assert 'class="cal-week cal-long"' in html
    assert 'class="cal-item cal-open rs-1 re-36"' in html  # 23:30 ends before row 36 (06:00 + 35 × 30 min)
    assert 'class="cal-fill rs-1 re-37"' in html
    assert 'class="cal-hour rs-35 re-37"' in html  # 23:00, the last hour label


def test_calendar_css_defines_every_row_the_grid_uses():
    import re
    from pathlib import Path

    from blueprints.venues.calendar import MAX_ROWS

    css = (Path(__file__).resolve().parents[2] / "static/css/calendar.css").read_text()
    starts = {int(n) for n in re.findall(r"\.rs-(\d+)\{grid-row:\1\}", css)}
    ends = {int(n) for n in re.findall(r"\.re-(\d+)\{grid-row-end:\1\}", css)}
    assert starts == set(range(1, MAX_ROWS + 1)) and ends == set(range(2, MAX_ROWS + 2))


def test_week_calendar_any_day_goes_to_its_monday(client, homes):
    venue = homes["baisha"]
    wednesday = local_today() + timedelta(days=(2 - local_today().weekday()) % 7)
    monday = wednesday - timedelta(days=2)
    html = client.get(f"/venues/{venue.id}/calendar?week={wednesday.isoformat()}").get_data(as_text=True)
    assert f"week={(monday - timedelta(days=7)).isoformat()}" in html


def _events(body: bytes):
    cal = icalendar.Calendar.from_ical(body)
    return [c for c in cal.walk("VEVENT")]


@pytest.mark.parametrize("app_config", [{"TIMEZONE": "Asia/Shanghai"}, {"TIMEZONE": "Europe/Berlin"}])
def test_venue_ical_feed_times_in_the_configured_zone(client, homes, make_booking, app_config):
    venue = homes["baisha"]
    day = future_day()
    approved = make_booking(venue, day=day, start=time(9), end=time(11), state="approved", purpose="读书会")
    make_booking(venue, day=day, start=time(13), end=time(14), state="pending", purpose="待定")
    response = client.get(f"/venues/{venue.id}/calendar.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    events = _events(response.data)
    assert len(events) == 1
    start = events[0].decoded("dtstart")
    zone = ZoneInfo(app_config["TIMEZONE"])
    assert start == datetime.combine(day, time(9), tzinfo=zone) == approved.starts_at
    assert start.utcoffset() == datetime.combine(day, time(9), tzinfo=zone).utcoffset()
    assert str(events[0]["summary"]) == "读书会" and str(events[0]["status"]) == "CONFIRMED"
    assert f"TZID={app_config['TIMEZONE']}" in response.get_data(as_text=True)
    assert "BEGIN:VTIMEZONE" in response.get_data(as_text=True)


def test_user_feed_at_a_secret_url(client, homes, make_booking, make_user):
    owner, other = make_user(name="订场人"), make_user(name="别人")
    venue = homes["baisha"]
    make_booking(venue, owner, start=time(9), end=time(10), state="approved", purpose="我的已批准")
    make_booking(venue, owner, start=time(13), end=time(14), state="pending", purpose="我的待批")
    make_booking(venue, owner, start=time(15), end=time(16), state="rejected", purpose="我的被拒", decision_note="x")
    make_booking(venue, other, start=time(17), end=time(18), state="approved", purpose="别人的")
    response = client.get(f"/venues/feed/{owner.feed_token}.ics")
    assert response.status_code == 200
    by_summary = {str(e["summary"]).split(" · ")[0]: str(e["status"]) for e in _events(response.data)}
    assert by_summary == {"我的已批准": "CONFIRMED", "我的待批": "TENTATIVE"}
    assert client.get("/venues/feed/not-a-token.ics").status_code == 404
    assert "private" in response.headers["Cache-Control"]
