"""Public pages kept per process for visitors who are not signed in (blueprints/core/pagecache.py):
served again for one cheap statement, each visitor with their own CSRF token, and never stale:
a seat taken, an edited event or a decided booking shows at once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow
from blueprints.events.models import Event, Registration
from tests.support.queries import count_statements

TOKEN = re.compile(r'"X-CSRFToken": "([^"]+)"')


@pytest.fixture
def demo(app):
    from blueprints.demo.cli import run_seed

    run_seed("small", quiet=True)
    db.session.commit()
    app.config["PAGE_CACHE_SECONDS"] = 60
    return app


def _without_token(html: str) -> str:
    """The page with its CSRF token masked, every occurrence (the htmx header and each form's hidden
    field): a token carries the second it was signed, so one session's token differs between two
    renders a second apart. A stale token left anywhere in a page still shows as a difference."""
    match = TOKEN.search(html)
    assert match, "no CSRF token in the page"
    return html.replace(match.group(1), "<csrf-token>")


def _free_event() -> Event:
    return db.session.scalar(
        sa.select(Event)
        .where(
            Event.state == "published",
            Event.starts_at > utcnow() + timedelta(days=1),
            Event.members_only.is_(False),
            Event.confirmed_count < Event.capacity,
        )
        .order_by(Event.starts_at)
        .limit(1)
    )


def test_cached_event_page_is_cheap_has_own_token_and_shows_a_new_registration(demo, client):
    event = _free_event()
    url = f"/events/{event.id}"
    first = client.get(url)
    assert first.status_code == 200
    with count_statements(db.engine) as log:
        second = client.get(url)
    assert second.status_code == 200 and len(log) == 1, str(log)  # the stamp only
    assert _without_token(second.get_data(as_text=True)) == _without_token(first.get_data(as_text=True))

    # another visitor (no cookie) gets the cached page with a token of their own session, which works
    other = demo.test_client()
    page = other.get(url).get_data(as_text=True)
    token = TOKEN.search(page).group(1)
    assert token != TOKEN.search(second.get_data(as_text=True)).group(1)
    switched = other.post("/language", data={"locale": "en", "csrf_token": token}, csrf=False)
    assert switched.status_code in (302, 303), switched.status_code

    # someone takes a seat: the next anonymous visitor sees the new count
    taker = db.session.scalar(
        sa.select(User)
        .where(User.phone.like("139%"), ~sa.exists().where(Registration.user_id == User.id))
        .order_by(User.id)
        .limit(1)
    )
    from blueprints.events.services import register

    register(db.session.get(Event, event.id), taker)
    db.session.commit()
    after = client.get(url).get_data(as_text=True)
    assert _without_token(after) != _without_token(first.get_data(as_text=True))
    demo.config["PAGE_CACHE_SECONDS"] = 0
    uncached = client.get(url).get_data(as_text=True)  # rendered afresh
    assert _without_token(after) == _without_token(uncached)


def test_week_list_follows_an_edited_event_and_signed_in_users_bypass(demo, client, login_as):
    city = db.session.scalar(sa.text("SELECT id FROM orgs WHERE parent_id IS NULL ORDER BY id LIMIT 1"))
    url = f"/events/?org={city}"
    page = client.get(url).get_data(as_text=True)
    shown = re.search(r'href="/events/(\d+)"', page)
    assert shown, "the demo week lists events"
    event = db.session.get(Event, int(shown.group(1)))
    assert event.title in client.get(url).get_data(as_text=True)
    event.title = "改期后的新标题活动"
    db.session.commit()
    assert "改期后的新标题活动" in client.get(url).get_data(as_text=True)

    volunteer = db.session.scalar(sa.select(User).where(User.phone == "13800000030"))
    login_as(volunteer)
    with count_statements(db.engine) as log:
        signed_in = client.get(url)
    assert signed_in.status_code == 200 and len(log) > 1  # rendered for the user, not from the cache
    assert volunteer.name in signed_in.get_data(as_text=True)


def test_calendar_follows_a_decided_booking(demo, client):
    from blueprints.venues.models import Booking

    booking = db.session.scalar(
        sa.select(Booking).where(Booking.state == "pending", Booking.starts_at > utcnow()).order_by(Booking.starts_at)
    )
    if booking is None:
        pytest.skip("no pending booking in the demo data")
    day = booking.starts_at.date()
    url = f"/venues/{booking.venue_id}/calendar?week={day - timedelta(days=day.weekday())}"
    before = client.get(url).get_data(as_text=True)
    assert client.get(url).get_data(as_text=True).count(booking.purpose) == before.count(booking.purpose)
    booking.state = "approved"
    booking.decided_at = utcnow()
    db.session.commit()
    after = client.get(url).get_data(as_text=True)
    assert _without_token(after) != _without_token(before)


def test_within_the_recheck_window_a_cached_page_reads_nothing(demo, client):
    demo.config["PAGE_CACHE_RECHECK_SECONDS"] = 30
    event = _free_event()
    url = f"/events/{event.id}"
    first = client.get(url)
    with count_statements(db.engine) as log:
        again = client.get(url)
    assert again.status_code == 200 and len(log) == 0, str(log)
    assert _without_token(again.get_data(as_text=True)) == _without_token(first.get_data(as_text=True))
    demo.config["PAGE_CACHE_RECHECK_SECONDS"] = 0  # the window over: the stamp is read again
    with count_statements(db.engine) as log:
        client.get(url)
    assert len(log) == 1, str(log)
