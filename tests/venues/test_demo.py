"""The youth-home demo step: enough homes, managers, hours, a closure, bookings in every state."""

from __future__ import annotations

import random
from datetime import time

import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.db import write_intent
from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today, to_local, utcnow
from blueprints.demo.context import DemoContext
from blueprints.orgs import demo as orgs_demo
from blueprints.venues import demo as venues_demo
from blueprints.venues.models import Booking, Closure, OpeningHours, Venue, VenueManager


def _seed() -> DemoContext:
    ctx = DemoContext(scale="small", seed=7, today=local_today(), now=utcnow(), rng=random.Random(7), password_hash="x")
    with write_intent():
        for module in (orgs_demo, venues_demo):
            ctx.rng = random.Random(f"7:{module.__name__}")
            module.seed(ctx)
            db.session.commit()
    return ctx


def test_demo_youth_homes(app):
    ctx = _seed()
    venues = db.session.scalars(sa.select(Venue)).all()
    assert len(venues) >= 12 and len({v.org_id for v in venues}) == len(venues)
    names = {v.name for v in venues}
    assert any(n.endswith("街道青年之家") for n in names) and "宜宾学院青年之家" in names
    assert any(n.endswith("青空间") for n in names)
    assert sorted(ctx.data["venue_ids"]) == sorted(v.id for v in venues)
    assert sum(len(ids) for ids in ctx.data["venues_by_org"].values()) == len(venues)
    # every home has a manager, hours and facilities; 13800000010 manages two
    managed = db.session.execute(sa.select(VenueManager.venue_id).distinct()).scalars().all()
    assert set(managed) == {v.id for v in venues}
    first = db.session.scalar(sa.select(User).where(User.phone == "13800000010"))
    assert db.session.scalar(sa.select(sa.func.count()).where(VenueManager.user_id == first.id)) == 2
    phones = {f"138000000{n}" for n in range(10, 20)}
    assert phones <= {login.phone for login in ctx.logins}
    assert len(ctx.data["manager_ids"]) == 10
    assert db.session.scalar(sa.select(sa.func.count(sa.distinct(OpeningHours.venue_id)))) == len(venues)
    assert all(v.facility_list for v in venues)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Closure)) >= 1
    # bookings in every state, past and coming; approved ones start before 13:00 local time
    bookings = db.session.scalars(sa.select(Booking)).all()
    now = utcnow()
    for state in ("pending", "approved", "rejected", "cancelled"):
        assert any(b.state == state and b.starts_at > now for b in bookings), state
    assert any(b.state == "approved" and b.starts_at < now for b in bookings)
    assert all(to_local(b.starts_at).time() < time(13) for b in bookings if b.state == "approved")
    # the queue has collisions to show
    pending = [b for b in bookings if b.state == "pending" and b.starts_at > now]
    assert any(a.id != b.id and a.overlaps(b) for a in pending for b in pending)
    # the demo volunteer has requests of their own
    volunteer = db.session.scalar(sa.select(User).where(User.phone == "13800000030"))
    assert {b.state for b in bookings if b.requester_id == volunteer.id} >= {"pending", "approved", "rejected"}
