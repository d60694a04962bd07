"""Public ratings are rate-limited per phone (device cookie) and per network address."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.feedback.models import Feedback
from blueprints.feedback.services import public_token


def _url(event) -> str:
    return f"/feedback/p/{public_token(event)}"


@pytest.fixture
def app_config():
    return {
        "RATELIMIT_ENABLED": True,
        "FEEDBACK_PUBLIC_LIMIT_DEVICE": "3 per hour",
        "FEEDBACK_PUBLIC_LIMIT_IP": "5 per hour",
    }


def test_rate_limited_per_device_and_per_address(client, f_world, f_make_event):
    events = [f_make_event(f_world["team"]) for _ in range(6)]
    client.get(_url(events[0]))
    statuses = [client.post(_url(e), data={"rating": "5"}).status_code for e in events[:4]]
    assert statuses == [303, 303, 303, 429]
    assert "Too many ratings" in client.post(_url(events[4]), data={"rating": "5"}).get_data(as_text=True)
    # a new phone on the same network: its own device budget, but the address budget (5) runs out
    other = client.application.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    other.get(_url(events[0]))
    statuses = [other.post(_url(e), data={"rating": "4"}).status_code for e in events[3:6]]
    assert statuses == [303, 303, 429]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Feedback)) == 5
    # reading the form is never limited
    assert client.get(_url(events[5])).status_code == 200
