"""Demo data of teams and events (small scale): consistent counters, waitlists 1..n, bookings in the
afternoon, the demo accounts wired up as the brief says."""

from __future__ import annotations

import random
from datetime import time

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from blueprints.auth.models import User
from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today, to_local, utcnow
from blueprints.demo.context import DemoContext
from blueprints.events.models import Event, Registration
from blueprints.orgs.models import CoordinatorGrant, Org
from blueprints.teams.models import Membership, Team
from blueprints.venues.models import Booking

STEPS = ("orgs", "venues", "teams", "events")


def _seed() -> DemoContext:
    import importlib

    ctx = DemoContext(
        scale="small",
        seed=2026,
        today=local_today(),
        now=utcnow(),
        rng=random.Random(2026),
        password_hash=generate_password_hash("qingyi2026", method="pbkdf2:sha256:1000"),
    )
    for name in STEPS:
        ctx.rng = random.Random(f"2026:{name}")
        importlib.import_module(f"blueprints.{name}.demo").seed(ctx)
        db.session.commit()
    return ctx


def _user(phone: str) -> User:
    return db.session.scalar(sa.select(User).where(User.phone == phone))


def test_small_demo_is_consistent(app):
    ctx = _seed()
    data = ctx.data
    events = list(db.session.scalars(sa.select(Event)))
    assert len(events) >= 60 and len({e.category_id for e in events}) >= 4
    now = utcnow()
    assert all(e.state in ("completed", "cancelled") for e in events if e.ends_at <= now)
    assert {e.id for e in events if e.state == "completed"} == set(data["past_event_ids"])
    assert any(e.starts_at < now for e in events) and any(e.starts_at > now for e in events)

    # seat counters match the rows; waitlists are 1..n
    seated = dict(
        db.session.execute(
            sa.select(Registration.event_id, sa.func.count())
            .where(Registration.state.in_(("confirmed", "attended", "no_show")))
            .group_by(Registration.event_id)
        ).all()
    )
    full_with_waitlist = 0
    for e in events:
        assert e.confirmed_count == seated.get(e.id, 0) <= e.capacity
        positions = sorted(
            db.session.scalars(
                sa.select(Registration.waitlist_position).where(
                    Registration.event_id == e.id, Registration.state == "waitlisted"
                )
            )
        )
        assert positions == list(range(1, e.waitlist_count + 1))
        full_with_waitlist += bool(positions) and e.confirmed_count == e.capacity
    assert full_with_waitlist >= 3

    # events at youth homes: approved afternoon bookings of the team's leader
    at_homes = [e for e in events if e.booking_id]
    assert len(at_homes) >= 5
    for e in at_homes:
        booking = db.session.get(Booking, e.booking_id)
        assert booking.state == "approved"
        assert booking.requester_id == data["leader_ids"][e.team_id]
        assert to_local(booking.starts_at).time() >= time(14) and to_local(booking.ends_at).time() <= time(18)
        assert booking.starts_at <= e.starts_at and e.ends_at <= booking.ends_at

    # the demo accounts
    leader, coordinator, volunteer = _user("13800000020"), _user("13800000002"), _user("13800000030")
    main = db.session.get(Team, data["main_team_id"])
    grant = db.session.scalar(sa.select(CoordinatorGrant).where(CoordinatorGrant.user_id == coordinator.id))
    assert db.session.get(Org, main.org_id).path.startswith(db.session.get(Org, grant.org_id).path)
    roles = dict(
        db.session.execute(
            sa.select(Membership.user_id, Membership.role).where(
                Membership.team_id == main.id, Membership.state == "active"
            )
        ).all()
    )
    assert roles[leader.id] == "leader" and roles[volunteer.id] == "member"
    assert db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Membership)
        .where(Membership.team_id == main.id, Membership.state == "pending")
    )
    mine = db.session.execute(
        sa.select(Event.state, Event.starts_at, Registration.state)
        .join(Registration, Registration.event_id == Event.id)
        .where(Registration.user_id == volunteer.id, Registration.state != "cancelled")
    ).all()
    assert any(es == "published" and rs == "confirmed" and start > now for es, start, rs in mine)
    assert any(es == "published" and rs == "waitlisted" for es, _start, rs in mine)
    assert sum(1 for es, _start, rs in mine if es == "completed" and rs == "confirmed") >= 3

    # nobody holds places at two overlapping events
    rows = db.session.execute(
        sa.select(Registration.user_id, Event.starts_at, Event.ends_at)
        .join(Event, Event.id == Registration.event_id)
        .where(Registration.state.in_(("confirmed", "waitlisted")), Event.state.in_(("published", "completed")))
        .order_by(Registration.user_id, Event.starts_at)
    ).all()
    for (u1, _s1, e1), (u2, s2, _e2) in zip(rows, rows[1:], strict=False):
        assert u1 != u2 or e1 <= s2

    # what the hours step builds on
    triples = list(data["past_registrations"])
    assert triples and all(eid in data["past_event_ids"] for _rid, eid, _uid in triples)
    first, last = data["past_registration_id_range"]
    assert all(first <= rid <= last for rid, _eid, _uid in triples)
    in_range = db.session.scalars(sa.select(Registration.event_id).where(Registration.id.between(first, last)))
    assert set(in_range) <= set(data["past_event_ids"])
    assert set(data["leader_ids"]) == set(data["team_ids"])
