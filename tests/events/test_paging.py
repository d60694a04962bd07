"""Long lists come a page at a time: the roster, my coming events, the print layout of the week.

Page sizes are made small here so a few rows fill several pages. Page 2 shows the rest; a page
number that is not a whole number from 1, or past the last page, is a 404 (never a 500).
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest

from blueprints.core.extensions import db
from blueprints.core.timeutil import to_local, utcnow
from blueprints.events import routes
from blueprints.events.queries import current_week, week_label
from blueprints.events.services import register
from tests.conftest import htmx

BAD_PAGES = ("0", "-1", "abc", "1.5", "1234567", "２")


def _names(html: str, names) -> list[str]:
    """Which of `names` the page (or fragment) lists, leaving out its flash messages."""
    # a page's flash region comes before <main>, a fragment's (out of band) after it
    html = html.split("<main", 1)[1] if "<main" in html else html.split('id="flash"', 1)[0]
    return [n for n in names if n in html]


# --- the roster --------------------------------------------------------------------------------


@pytest.fixture
def roster_world(login_as, make_event, make_team, make_user, monkeypatch):
    monkeypatch.setattr(routes, "ROSTER_PAGE", 2)
    leader = make_user(name="队长")
    event = make_event(team=make_team(leader=leader), capacity=10)
    people = [make_user(name=f"队员{i}") for i in range(5)]
    registrations = [register(event, p) for p in people]
    db.session.commit()
    login_as(leader)
    return event, [p.name for p in people], registrations


def test_roster_pages(client, roster_world):
    event, names, _registrations = roster_world
    url = f"/events/{event.id}/roster"
    first = client.get(url).get_data(as_text=True)
    assert _names(first, names) == names[:2]
    assert f'href="/events/{event.id}/roster?list=confirmed&amp;page=2"' in first
    second = client.get(url + "?page=2").get_data(as_text=True)
    assert _names(second, names) == names[2:4]
    assert _names(client.get(url + "?page=3").get_data(as_text=True), names) == names[4:]
    assert client.get(url + "?page=4").status_code == 404
    for bad in BAD_PAGES:
        assert client.get(f"{url}?page={bad}").status_code == 404, bad
    # the pager swaps the roster in place with htmx
    fragment = client.get(url + "?page=2", headers=htmx(**{"HX-Target": "roster"}))
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and _names(body, names) == names[2:4]
    assert 'hx-target="#roster"' in body


def test_roster_rows_share_one_form_and_keep_the_page(client, roster_world):
    event, names, registrations = roster_world
    html = client.get(f"/events/{event.id}/roster?page=2").get_data(as_text=True)
    roster = html.split('id="roster"', 1)[1]
    assert roster.count("<form") == 1 and roster.count('name="csrf_token"') == 1  # one form, not one a row
    cancel = f"/events/registrations/{registrations[2].id}/cancel"
    assert f'formaction="{cancel}"' in html
    assert '<input type="hidden" name="page" value="2">' in html
    # without JavaScript: back to the same page of the same list
    response = client.post(cancel, data={"next": f"/events/{event.id}/roster?list=confirmed&page=2"})
    assert response.status_code == 303 and response.headers["Location"].endswith("roster?list=confirmed&page=2")
    # with htmx: the same page comes back, now with the next one moved up
    response = client.post(
        f"/events/registrations/{registrations[3].id}/cancel", data={"list": "confirmed", "page": "2"}, headers=htmx()
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert _names(body, names) == [names[4]] and "Page 2" in body


def test_cancelling_the_last_place_on_the_last_page_shows_the_page_before(client, roster_world):
    event, names, registrations = roster_world
    response = client.post(
        f"/events/registrations/{registrations[4].id}/cancel", data={"list": "confirmed", "page": "3"}, headers=htmx()
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and _names(body, names) == names[2:4]


# --- my events -----------------------------------------------------------------------------------


def test_my_coming_events_page_by_page(client, login_as, make_event, make_user, monkeypatch):
    monkeypatch.setattr(routes, "COMING_PAGE", 2)
    monkeypatch.setattr(routes, "WAITLIST_SHOWN", 1)
    user = login_as(make_user())
    titles = [f"第{i}场" for i in range(5)]
    for i, title in enumerate(titles):
        register(make_event(title=title, starts_in=timedelta(days=2 + i)), user)
    for i in range(2):
        full = make_event(title=f"满员{i}", capacity=1, starts_in=timedelta(days=10 + i))
        register(full, make_user())
        register(full, user)
    db.session.commit()
    first = client.get("/events/mine").get_data(as_text=True)
    assert _names(first, titles) == titles[:2]  # the soonest first
    assert "满员0" in first and "满员1" not in first and "the 1 soonest are shown" in first
    assert 'href="/events/mine?coming=2"' in first and 'hx-target="#coming"' in first
    assert _names(client.get("/events/mine?coming=2").get_data(as_text=True), titles) == titles[2:4]
    assert _names(client.get("/events/mine?coming=3").get_data(as_text=True), titles) == titles[4:]
    assert client.get("/events/mine?coming=4").status_code == 404
    fragment = client.get("/events/mine?coming=2", headers=htmx(**{"HX-Target": "coming"}))
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and 'id="coming"' in body and _names(body, titles) == titles[2:4]
    for bad in BAD_PAGES:
        assert client.get(f"/events/mine?coming={bad}").status_code == 404, bad
        assert client.get(f"/events/mine?page={bad}").status_code == 404, bad


def test_my_past_events_page_by_page_and_each_stylesheet_once(client, login_as, make_event, make_user, monkeypatch):
    monkeypatch.setattr(routes, "PAST_PAGE", 2)
    user = login_as(make_user())
    titles = [f"往期{i}" for i in range(3)]
    for i, title in enumerate(titles):
        event = make_event(title=title)
        register(event, user).state = "attended"  # so each row offers to rate the event
        db.session.commit()
        event.starts_at = utcnow() - timedelta(days=2 + i)
        event.ends_at = event.starts_at + timedelta(hours=2)
        event.state = "completed"
    db.session.commit()
    first = client.get("/events/mine").get_data(as_text=True)
    assert _names(first, titles) == titles[:2]  # the latest first
    assert first.count("css/feedback.css") == 1  # one "rate it" per row, one stylesheet for them all
    second = client.get("/events/mine?page=2").get_data(as_text=True)
    assert _names(second, titles) == titles[2:]
    assert client.get("/events/mine?page=3").status_code == 404
    fragment = client.get("/events/mine?page=2", headers=htmx(**{"HX-Target": "past"})).get_data(as_text=True)
    assert "<html" not in fragment and 'id="past"' in fragment and _names(fragment, titles) == titles[2:]


# --- the print layout ----------------------------------------------------------------------------


@pytest.fixture
def busy_week(city_tree, make_team, make_event, monkeypatch):
    """Five events in the coming days of this week (or next week's first days, late in a week)."""
    monkeypatch.setattr(routes, "PRINT_SHEET", 2)
    team = make_team(org=city_tree["c1"])
    monday = current_week() + (timedelta(days=7) if to_local(utcnow()).weekday() >= 4 else timedelta())
    events = []
    for i in range(5):
        start_day = monday + timedelta(days=5 + i // 3)  # three on Saturday, two on Sunday
        event = make_event(team=team, title=f"周末活动{i}", starts_in=timedelta(days=1))
        local = to_local(event.starts_at).replace(year=start_day.year, month=start_day.month, day=start_day.day)
        event.starts_at = local.replace(hour=9 + i).astimezone(UTC)
        event.ends_at = event.starts_at + timedelta(hours=1)
        events.append(event)
    db.session.commit()
    return city_tree, monday, [e.title for e in events]


def test_print_layout_prints_sheet_by_sheet(client, busy_week):
    tree, monday, titles = busy_week
    url = f"/events/print?org={tree['d1'].id}&week={week_label(monday)}"
    first = client.get(url).get_data(as_text=True)
    assert _names(first, titles) == titles[:2]
    assert "sheet 1 of 3" in first and "5 activities: too many for one sheet" in first
    assert _names(client.get(url + "&page=2").get_data(as_text=True), titles) == titles[2:4]
    last = client.get(url + "&page=3").get_data(as_text=True)
    assert _names(last, titles) == titles[4:] and "sheet 3 of 3" in last
    assert client.get(url + "&page=4").status_code == 404
    for bad in BAD_PAGES:
        assert client.get(f"{url}&page={bad}").status_code == 404, bad


def test_print_layout_one_day_or_one_organisation(client, busy_week):
    tree, monday, titles = busy_week
    url = f"/events/print?org={tree['d1'].id}&week={week_label(monday)}"
    first = client.get(url).get_data(as_text=True)
    sunday = (monday + timedelta(days=6)).isoformat()
    assert f"day={sunday}" in first  # a link per day of the week
    assert f"org={tree['t1'].id}" in first  # and per organisation below
    day = client.get(f"{url}&day={sunday}").get_data(as_text=True)
    assert _names(day, titles) == titles[3:] and "sheet 1 of" not in day  # two fit one sheet
    assert "The whole week" in day
    for bad in (
        "2026-02-30",
        "nonsense",
        (monday - timedelta(days=1)).isoformat(),
        (monday + timedelta(days=7)).isoformat(),
    ):
        assert client.get(f"{url}&day={bad}").status_code == 404, bad
    # a community with none of them this week
    elsewhere = client.get(f"/events/print?org={tree['c2'].id}&week={week_label(monday)}")
    assert elsewhere.status_code == 200 and not _names(elsewhere.get_data(as_text=True), titles)


def test_print_layout_fits_one_sheet_without_the_choices(client, busy_week, monkeypatch):
    monkeypatch.setattr(routes, "PRINT_SHEET", 40)
    tree, monday, titles = busy_week
    html = client.get(f"/events/print?org={tree['d1'].id}&week={week_label(monday)}").get_data(as_text=True)
    assert _names(html, titles) == titles and "sheet 1 of" not in html and "print-narrow" not in html
    assert not re.search(r'class="pager"', html)
