"""Statements per page stay within the budget, whatever the number of rows: no N+1."""

from __future__ import annotations

from datetime import timedelta

import pytest

from blueprints.core.extensions import db
from blueprints.core.registry import user_facts
from blueprints.core.timeutil import utcnow
from blueprints.events.services import register
from tests.support.queries import count_statements

BUDGET = 8
#: statements a page of ours may add to what the shared layout costs (user, nav, badges)
OWN_BUDGET = 6


@pytest.fixture
def busy(city_tree, make_team, make_event, make_user, make_event_booking):
    """Many teams, events, members and registrations, so an N+1 would show."""
    leader = make_user(name="队长")
    volunteer = make_user(name="志愿者")
    members = [make_user(name=f"队员{i}") for i in range(15)]
    team = make_team(org=city_tree["c1"], leader=[leader, members[0]], members=members[1:] + [volunteer])
    for i in range(12):
        make_team(org=city_tree["c2"] if i % 2 else city_tree["t1"], leader=make_user(), members=members[:3])
    events = []
    for i in range(14):
        booking = make_event_booking(leader, starts_in=timedelta(days=1 + i % 6, hours=i)) if i % 3 == 0 else None
        start = utcnow() + timedelta(hours=2 + i * 5)
        events.append(
            make_event(
                team=team,
                capacity=4,
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                booking_id=booking.id if booking else None,
            )
        )
    for e in events[:8]:
        for m in members[:6]:
            register(e, m)
    for e in events[:6]:
        register(e, volunteer) if e is not events[0] else None
    past = make_event(team=team, starts_in=timedelta(days=10))
    register(past, volunteer)
    db.session.commit()
    past.starts_at = utcnow() - timedelta(days=3)
    past.ends_at = past.starts_at + timedelta(hours=2)
    past.state = "completed"
    db.session.commit()
    return {
        "tree": city_tree,
        "leader": leader,
        "volunteer": volunteer,
        "team": team,
        "event": events[0],
        "events": events,
    }


def _measure(client, url: str) -> tuple[int, str]:
    client.get(url)  # warm caches (templates, static versions)
    with count_statements(db.engine) as log:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(log), str(log)


def test_pages_stay_within_the_statement_budget(client, login_as, busy):
    tree, team, event = busy["tree"], busy["team"], busy["event"]
    pages = {
        busy["volunteer"]: [
            f"/events/?org={tree['city'].id}",
            f"/events/{event.id}",
            "/events/mine",
            f"/teams/{team.id}",
            f"/teams/{team.id}/members",
            "/teams/",
        ],
        busy["leader"]: [
            f"/events/{event.id}",
            f"/events/{event.id}/roster",
            f"/events/{event.id}/roster?list=waitlisted",
            f"/events/{event.id}/edit",
            f"/teams/{team.id}/members",
        ],
    }
    figures = {}
    for user, urls in pages.items():
        login_as(user)
        layout, _log = _measure(client, "/account/profile")
        for url in urls:
            n, log = _measure(client, url)
            figures[f"{user.name} {url}"] = (n, layout)
            assert n <= BUDGET, f"{url}: {n} statements (layout {layout})\n{log}"
            assert n - layout <= OWN_BUDGET, f"{url}: {n} statements, layout {layout}\n{log}"
    client.post("/account/logout")
    for url in (
        f"/events/?org={tree['city'].id}",
        "/events/print",
        f"/events/org/{tree['city'].id}/calendar.ics",
        f"/teams/{team.id}",
    ):
        n, log = _measure(client, url)
        figures[f"anonymous {url}"] = (n, 0)
        assert n <= BUDGET, f"{url}\n{log}"
    print("\n".join(f"{url}: {n} (layout {layout})" for url, (n, layout) in figures.items()))


def test_home_panels_cost_one_or_two_statements(app, busy):
    """The home page is shared: our two panels are measured on their own."""
    from blueprints.events import _leader_panel, _volunteer_panel

    for user, panel, most in ((busy["volunteer"], _volunteer_panel, 1), (busy["leader"], _leader_panel, 2)):
        with app.test_request_context("/"):
            assert user.name  # loaded before counting
            user_facts(user)  # read with the signed-in user in a real request (auth's user loader)
            with count_statements(db.engine) as log:
                context = panel(user)
            assert context and len(log) <= most, str(log)
