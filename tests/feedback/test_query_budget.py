"""Statements per page stay within the budget (8), whatever the number of rows: no N+1."""

from __future__ import annotations

import pytest

from blueprints.core.extensions import db
from blueprints.feedback.services import public_token
from tests.support.queries import count_statements

BUDGET = 8
#: statements a page of ours may add to what the shared layout costs (user, nav, badges)
OWN_BUDGET = 5


@pytest.fixture
def busy(f_world, make_user, f_rating, f_make_venue, f_make_booking, f_make_event, f_register, make_coordinator):
    """Many rows everywhere, so an N+1 would show."""
    tree, leader = f_world["tree"], f_world["leader"]
    event = f_world["event"]
    for i in range(25):
        f_rating(event, make_user(f"评价者{i}", org=tree["c1"]) if i % 2 else None, 1 + i % 5, f"评论{i}")
    venues = [f_make_venue(tree["c1"], name=f"青年之家{i}") for i in range(12)]
    held = f_make_event(f_world["team"], booking=f_make_booking(venues[0], leader, days_ago=4), ended_days_ago=4)
    f_rating(held, None, 5)
    for i in range(6):
        past = f_make_event(f_world["team"], ended_days_ago=1 + i)
        f_register(past, f_world["volunteer"])
    db.session.commit()
    return {**f_world, "venue": venues[0], "held": held}


def _measure(app, client, url: str) -> int:
    client.get(url)  # warm caches (templates, static versions)
    with count_statements(db.engine) as log:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(log), str(log)


def test_pages_stay_within_the_statement_budget(app, client, login_as, busy):
    """Each page's own statements: total minus the layout's (measured on the profile page)."""
    event, venue = busy["event"], busy["venue"]
    pages = {
        busy["coord"]: [
            f"/feedback/events/{event.id}",
            f"/feedback/events/{event.id}/qr",
            "/feedback/venues?show=all",
            f"/feedback/venues/{venue.id}/assess",
            f"/feedback/venues/{venue.id}/assessments",
            f"/feedback/orgs/{busy['tree']['d1'].id}/checklist",
            f"/feedback/satisfaction?org={busy['tree']['d1'].id}",
        ],
        busy["volunteer"]: [f"/feedback/events/{event.id}/rate"],
    }
    figures = {}
    for user, urls in pages.items():
        login_as(user)
        layout, _log = _measure(app, client, "/account/profile")
        for url in urls:
            n, log = _measure(app, client, url)
            figures[url] = (n, layout)
            assert n - layout <= OWN_BUDGET, f"{url}: {n} statements, layout {layout}\n{log}"
    client.post("/account/logout")
    n, log = _measure(app, client, f"/feedback/p/{public_token(event)}")
    figures["public"] = (n, 0)
    assert n <= BUDGET, log
    print("\n".join(f"{url}: {n} (layout {layout})" for url, (n, layout) in figures.items()))
