"""The main pages of every blueprint, by role, on the small demo data (shared by the perf tests)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today, utcnow

ADMIN, CITY, DISTRICT, MANAGER, LEADER, VOLUNTEER = (
    "13800000000",
    "13800000001",
    "13800000002",
    "13800000010",
    "13800000020",
    "13800000030",
)


def _one(sql: str, **params) -> int:
    value = db.session.execute(sa.text(sql), params).scalar()
    assert value is not None, sql
    return value


def ids() -> dict:
    """Ids of the demo data the pages show (the role accounts' own teams, events and homes)."""
    now = utcnow()
    leader = _one("SELECT id FROM users WHERE phone = :p", p=LEADER)
    manager = _one("SELECT id FROM users WHERE phone = :p", p=MANAGER)
    volunteer = _one("SELECT id FROM users WHERE phone = :p", p=VOLUNTEER)
    team = _one(
        "SELECT team_id FROM memberships WHERE user_id = :u AND role = 'leader' ORDER BY team_id LIMIT 1", u=leader
    )
    return {
        "city": _one("SELECT id FROM orgs WHERE parent_id IS NULL ORDER BY id LIMIT 1"),
        "district": _one("SELECT id FROM orgs WHERE kind = 'district' ORDER BY id LIMIT 1"),
        "team": team,
        "upcoming": _one(
            "SELECT id FROM events WHERE team_id = :t AND state = 'published' AND starts_at > :now "
            "ORDER BY confirmed_count DESC, id LIMIT 1",
            t=team,
            now=now,
        ),
        "past": _one(
            "SELECT id FROM events WHERE team_id = :t AND state = 'completed' AND hours_confirmed_at IS NOT NULL "
            "ORDER BY starts_at DESC LIMIT 1",
            t=team,
        ),
        "unconfirmed": _one(
            "SELECT id FROM events WHERE team_id = :t AND state = 'completed' AND hours_confirmed_at IS NULL "
            "ORDER BY starts_at DESC LIMIT 1",
            t=team,
        ),
        "venue": _one("SELECT venue_id FROM venue_managers WHERE user_id = :u ORDER BY venue_id LIMIT 1", u=manager),
        "booking": _one(
            "SELECT b.id FROM bookings b JOIN venue_managers m ON m.venue_id = b.venue_id "
            "WHERE m.user_id = :u ORDER BY b.id LIMIT 1",
            u=manager,
        ),
        "certificate": _one("SELECT id FROM certificates WHERE volunteer_id = :u LIMIT 1", u=volunteer),
        "monday": local_today() - timedelta(days=local_today().weekday()),
    }


def pages(i: dict) -> dict[str | None, list[str]]:
    """{phone of the role (None: signed out): [urls]}: each blueprint's list and detail pages."""
    return {
        None: [
            "/",
            f"/events/?org={i['city']}",
            f"/events/{i['upcoming']}",
            "/events/print",
            f"/teams/{i['team']}",
            "/venues/",
            f"/venues/{i['venue']}",
            f"/venues/{i['venue']}/calendar?week={i['monday']}",
        ],
        VOLUNTEER: [
            "/",
            "/notifications/",
            "/account/profile",
            f"/events/?org={i['city']}",
            f"/events/{i['upcoming']}",
            "/events/mine",
            "/teams/",
            f"/teams/{i['team']}",
            "/venues/",
            f"/venues/{i['venue']}",
            f"/venues/{i['venue']}/calendar?week={i['monday']}",
            "/venues/bookings/mine",
            "/hours/mine",
            f"/hours/certificates/{i['certificate']}",
        ],
        LEADER: [
            "/",
            f"/events/{i['upcoming']}",
            f"/events/{i['upcoming']}/roster",
            f"/events/{i['upcoming']}/edit",
            f"/teams/{i['team']}/members",
            f"/hours/events/{i['unconfirmed']}/attendance",
            f"/hours/events/{i['past']}/hours",
            f"/hours/events/{i['past']}/beneficiaries",
            "/hours/requests",
            f"/feedback/events/{i['past']}",
        ],
        MANAGER: [
            "/",
            "/venues/approvals",
            "/venues/manage",
            f"/venues/{i['venue']}/manage",
            f"/venues/bookings/{i['booking']}",
        ],
        CITY: [
            "/",
            "/orgs/",
            f"/orgs/{i['city']}",
            f"/orgs/{i['city']}/audit",
            "/reports/",
            "/reports/hours",
            "/reports/targets",
            "/reports/events",
            "/reports/venues",
            "/reports/teams",
            "/reports/volunteers/new",
            "/feedback/venues",
            "/feedback/satisfaction",
            f"/feedback/orgs/{i['city']}/checklist",
            f"/feedback/venues/{i['venue']}/assessments",
        ],
        DISTRICT: [
            "/",
            f"/reports/?org={i['district']}",
            f"/orgs/{i['district']}",
        ],
        ADMIN: ["/", "/events/categories"],
    }
