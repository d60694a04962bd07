"""People served rate through the leader's QR code: signed token, one rating per phone, rate-limited."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.feedback.models import Feedback
from blueprints.feedback.routes import DEVICE_COOKIE
from blueprints.feedback.services import device_hash, event_id_from_token, public_token


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Feedback))


def _url(event) -> str:
    return f"/feedback/p/{public_token(event)}"


def test_resident_rates_without_an_account(client, f_world):
    event = f_world["event"]
    page = client.get(_url(event))
    assert page.status_code == 200 and 'name="rating"' in page.get_data(as_text=True)
    cookie = client.get_cookie(DEVICE_COOKIE, path="/feedback/p/")
    assert cookie is not None and cookie.http_only and len(cookie.value) >= 16
    response = client.post(_url(event), data={"rating": "5", "comment": "孩子们很开心"})
    assert response.status_code == 303
    fb = db.session.scalar(sa.select(Feedback))
    assert (fb.is_public, fb.user_id, fb.rating, fb.comment) == (True, None, 5, "孩子们很开心")
    assert fb.device_hash == device_hash(cookie.value) and cookie.value not in fb.device_hash
    thanks = client.get(_url(event)).get_data(as_text=True)
    assert "already sent from this phone" in thanks and 'name="rating"' not in thanks


def test_one_rating_per_phone(client, f_world):
    event = f_world["event"]
    client.get(_url(event))
    assert client.post(_url(event), data={"rating": "4"}).status_code == 303
    again = client.post(_url(event), data={"rating": "1"})
    assert again.status_code == 409 and "already sent from this phone" in again.get_data(as_text=True)
    assert _count() == 1
    # another phone (its own cookie) may rate
    other = client.application.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    other.get(_url(event))
    assert other.post(_url(event), data={"rating": "2"}).status_code == 303
    assert _count() == 2


def test_forged_or_altered_token_is_refused(client, f_world):
    event = f_world["event"]
    token = public_token(event)
    assert event_id_from_token(token) == event.id
    body, _sig = token.split(".")
    for bad in (f"{body}.forged", "MQ.abcdefghijk", "x", token[:-2] + ("AA" if token[-2:] != "AA" else "BB")):
        assert event_id_from_token(bad) is None
        page = client.get(f"/feedback/p/{bad}")
        assert page.status_code == 404 and "This rating link is not valid." in page.get_data(as_text=True)
        assert client.post(f"/feedback/p/{bad}", data={"rating": "5"}).status_code == 404
    # a token signed with another key (another installation) is refused too
    from itsdangerous import URLSafeSerializer

    foreign = URLSafeSerializer("another-secret", salt="qingyi.feedback.public").dumps(event.id)
    assert client.post(f"/feedback/p/{foreign}", data={"rating": "5"}).status_code == 404
    assert _count() == 0


def test_token_for_unknown_event_is_404(client, f_world):
    from blueprints.feedback.services import _serializer

    token = _serializer().dumps(99999)
    assert client.get(f"/feedback/p/{token}").status_code == 404


def test_without_device_cookie_nothing_is_written(client, f_world):
    response = client.post(_url(f_world["event"]), data={"rating": "5"})
    assert response.status_code == 422 and "Allow cookies" in response.get_data(as_text=True)
    assert _count() == 0
    # the answer brought a cookie, so sending again works
    assert client.post(_url(f_world["event"]), data={"rating": "5"}).status_code == 303


@pytest.mark.parametrize("value", ["0", "6", "x", ""])
def test_public_rating_outside_1_to_5(client, f_world, value):
    client.get(_url(f_world["event"]))
    response = client.post(_url(f_world["event"]), data={"rating": value})
    assert response.status_code == 422 and "Choose a rating from 1 to 5 stars." in response.get_data(as_text=True)
    assert _count() == 0


def test_public_window(client, f_world, f_make_event):
    team = f_world["team"]
    running = f_make_event(team, state="published", ended_days_ago=-0.05)  # started, ends in an hour
    client.get(_url(running))
    assert client.post(_url(running), data={"rating": "4"}).status_code == 303
    future = f_make_event(team, state="published", ended_days_ago=-3)
    page = client.get(_url(future)).get_data(as_text=True)
    assert "Rating opens when the event starts." in page
    assert client.post(_url(future), data={"rating": "4"}).status_code == 409
    closed = f_make_event(team, ended_days_ago=15)
    assert client.post(_url(closed), data={"rating": "4"}).status_code == 409
    cancelled = f_make_event(team, state="cancelled")
    assert "was cancelled" in client.post(_url(cancelled), data={"rating": "4"}).get_data(as_text=True)
    draft = f_make_event(team, state="draft", ended_days_ago=0.5)
    assert client.post(_url(draft), data={"rating": "4"}).status_code == 409
    assert _count() == 1


def test_leader_qr_page_shows_the_link(client, login_as, f_world):
    login_as(f_world["leader"])
    page = client.get(f"/feedback/events/{f_world['event'].id}/qr")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and public_token(f_world["event"]) in html
    assert 'style="' not in html
    login_as(f_world["volunteer"])
    assert client.get(f"/feedback/events/{f_world['event'].id}/qr").status_code == 403
    assert client.get("/feedback/events/99999/qr").status_code == 404


def test_qr_of_closed_event_says_so(client, login_as, f_world, f_make_event):
    old = f_make_event(f_world["team"], ended_days_ago=20)
    login_as(f_world["leader"])
    html = client.get(f"/feedback/events/{old.id}/qr").get_data(as_text=True)
    assert "does not take ratings right now" in html
    assert old.ends_at + timedelta(days=14) < old.ends_at + timedelta(days=20)
