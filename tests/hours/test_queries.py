"""Query budgets: each hours page costs at most 8 SQL statements beyond the shared layout (the
signed-in user, nav roles and badges), however many rows it shows."""

from __future__ import annotations

import pytest

from blueprints.core.extensions import db
from tests.support.queries import count_statements

BUDGET = 8


@pytest.fixture
def busy_event(h_world, make_user, h_make_registration, h_make_record):
    """The event with 12 more people on the roster and records for everyone."""
    for i in range(12):
        user = make_user(name=f"队员{i}")
        h_make_registration(h_world.event, user, state="attended")
        h_make_record(h_world.event, user, minutes=90)
    h_make_record(h_world.event, h_world.volunteer, minutes=120)
    return h_world


def _statements(client, url: str, status: int = 200) -> int:
    with count_statements(db.engine) as log:
        response = client.get(url, buffered=True)
    assert response.status_code == status, url
    return len(log)


def _layout(client) -> int:
    """What the shared layout costs this user: a 404 page is the layout plus one failed lookup."""
    return _statements(client, "/hours/events/999999/attendance", status=404) - 1


def test_pages_within_budget(client, login_as, busy_event):
    world = busy_event
    login_as(world.leader)
    layout = _layout(client)
    for url in (
        f"/hours/events/{world.event.id}/checkin",
        f"/hours/events/{world.event.id}/attendance",
        f"/hours/events/{world.event.id}/hours",
        "/hours/requests",
    ):
        assert _statements(client, url) - layout <= BUDGET, url
    login_as(world.volunteer)
    layout = _layout(client)
    for url in ("/hours/mine", f"/hours/events/{world.event.id}/attend"):
        assert _statements(client, url) - layout <= BUDGET, url
    assert _statements(client, "/hours/mine.csv") <= 3  # no layout: user, records
