"""The public weekly activity list (subtree, ISO week, htmx prev/next, seats, print, QR) and iCal feeds."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar

from blueprints.core.extensions import db
from blueprints.core.timeutil import local_to_utc, local_today
from blueprints.events.queries import week_label
from blueprints.events.services import register
from tests.conftest import htmx


def _monday(offset_weeks: int = 0):
    today = local_today()
    return today - timedelta(days=today.weekday()) + timedelta(weeks=offset_weeks)


def _at(day, hour: int):
    from datetime import time

    return local_to_utc(day, time(hour, 0))


def _event_on(make_event, team, day, hour=9, **kw):
    start = _at(day, hour)
    return make_event(team=team, starts_at=start, ends_at=start + timedelta(hours=2), **kw)


def test_week_lists_subtree_events_with_seats_left(client, city_tree, make_team, make_event, make_user):
    monday = _monday(1)
    mine = make_team(org=city_tree["c1"], name="向阳队")
    sibling = make_team(org=city_tree["c2"], name="幸福队")
    e1 = _event_on(make_event, mine, monday + timedelta(days=2), title="读书会", capacity=5)
    _event_on(make_event, sibling, monday + timedelta(days=2), title="隔壁活动")
    _event_on(make_event, mine, monday + timedelta(days=3), title="草稿活动", state="draft")
    _event_on(make_event, mine, monday + timedelta(days=9), title="下下周活动")
    full = _event_on(make_event, mine, monday + timedelta(days=4), title="满员活动", capacity=1)
    for _ in range(2):
        register(full, make_user())
    register(e1, make_user())
    db.session.commit()
    url = f"/events/?org={city_tree['d1'].id}&week={week_label(monday)}"
    body = client.get(url).get_data(as_text=True)
    assert "读书会" in body and "4 places left" in body
    assert "满员活动" in body and "Full · 1 waiting" in body
    assert "隔壁活动" not in body and "草稿活动" not in body and "下下周活动" not in body
    assert "<svg" in body and "qrline" in body  # the QR code, inline
    city = client.get(f"/events/?org={city_tree['city'].id}&week={week_label(monday)}").get_data(as_text=True)
    assert "隔壁活动" in city


def test_prev_next_week_with_htmx(client, city_tree, make_team, make_event):
    team = make_team(org=city_tree["c1"])
    monday = _monday(0)
    _event_on(make_event, team, monday + timedelta(days=8), title="下周的活动")
    this_week = client.get(f"/events/?org={city_tree['city'].id}").get_data(as_text=True)
    next_url = f"/events/?org={city_tree['city'].id}&week={week_label(monday + timedelta(days=7))}"
    assert next_url.replace("&", "&amp;") in this_week
    fragment = client.get(next_url, headers=htmx())
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text and 'id="week"' in text and "下周的活动" in text
    assert "HX-Request" in fragment.headers.get("Vary", "")


def test_bad_week_and_unknown_org_are_404(client, city_tree):
    assert client.get("/events/?week=2026-W60").status_code == 404
    assert client.get("/events/?week=nonsense").status_code == 404
    assert client.get("/events/?org=999999").status_code == 404
    assert client.get("/events/org/999999/calendar.ics").status_code == 404
    assert client.get("/events/feed/not-a-token.ics").status_code == 404


def test_print_layout_has_all_events_and_qr(client, city_tree, make_team, make_event):
    team = make_team(org=city_tree["c1"])
    monday = _monday(1)
    _event_on(make_event, team, monday, title="周一活动")
    body = client.get(f"/events/print?org={city_tree['d1'].id}&week={week_label(monday)}").get_data(as_text=True)
    assert "周一活动" in body and "print-table" in body and "<svg" in body


def test_org_ical_feed(client, city_tree, make_team, make_event):
    team = make_team(org=city_tree["c1"])
    published = make_event(team=team, title="公开活动")
    make_event(team=team, title="草稿", state="draft")
    make_event(team=make_team(org=city_tree["c2"]), title="别处活动")
    response = client.get(f"/events/org/{city_tree['d1'].id}/calendar.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    cal = Calendar.from_ical(response.get_data())
    summaries = [str(c["summary"]) for c in cal.walk("VEVENT")]
    assert summaries == ["公开活动"]
    [entry] = cal.walk("VEVENT")
    assert entry.decoded("dtstart") == published.starts_at
    assert str(entry["uid"]) == f"event-{published.id}@qingyi"


def test_personal_feed_at_secret_url(client, login_as, make_event, make_user):
    user = make_user(locale="en")
    confirmed = make_event(title="我的活动")
    full = make_event(title="候补活动", capacity=1, starts_in=timedelta(days=9))
    register(confirmed, user)
    register(full, make_user())
    register(full, user)
    make_event(title="别人的活动")
    db.session.commit()
    response = client.get(f"/events/feed/{user.feed_token}.ics")
    assert response.status_code == 200
    summaries = sorted(str(c["summary"]) for c in Calendar.from_ical(response.get_data()).walk("VEVENT"))
    assert summaries == ["[Waitlist 1] 候补活动", "我的活动"]
    # a new address revokes the old one
    old = user.feed_token
    login_as(user)
    assert client.post("/events/mine/feed").status_code == 303
    assert client.get(f"/events/feed/{old}.ics").status_code == 404
    db.session.refresh(user)
    assert client.get(f"/events/feed/{user.feed_token}.ics").status_code == 200


def test_event_page_for_anonymous_asks_to_log_in(client, make_event):
    event = make_event(title="公开活动")
    body = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "Log in to register" in body and "10 of 10 places left" in body
    response = client.post(f"/events/{event.id}/register")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
