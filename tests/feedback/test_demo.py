"""The feedback demo step: checklists, assessments with history, ratings, invitations."""

from __future__ import annotations

import random
from datetime import timedelta

import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.db import write_intent
from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today, utcnow
from blueprints.demo.context import DemoContext
from blueprints.events.models import Event, Registration
from blueprints.feedback import demo as feedback_demo
from blueprints.feedback.models import ChecklistItem, Feedback, VenueAssessment
from blueprints.feedback.services import effective_checklist, rateable_events
from blueprints.notifications.models import Notification
from blueprints.orgs.models import Org
from blueprints.venues.models import Venue


def _seed_until_feedback(mark_attended: bool) -> DemoContext:
    """Run every demo step before ours; optionally mark past registrations attended (as hours would)."""
    from blueprints.demo.cli import _steps

    ctx = DemoContext(
        scale="small", seed=2026, today=local_today(), now=utcnow(), rng=random.Random(1), password_hash="x"
    )
    with write_intent():
        for name, module in _steps():
            if name == "feedback":
                continue
            ctx.rng = random.Random(f"2026:{name}")
            module.seed(ctx)
            db.session.commit()
        if mark_attended:
            completed = sa.select(Event.id).where(Event.state == "completed")
            db.session.execute(
                sa.update(Registration)
                .where(Registration.state == "confirmed", Registration.event_id.in_(completed))
                .values(state="attended")
            )
            db.session.commit()
        ctx.rng = random.Random("2026:feedback")
        feedback_demo.seed(ctx)
        db.session.commit()
    return ctx


def test_demo_checklists_and_assessments(app):
    ctx = _seed_until_feedback(mark_attended=False)
    city = db.session.get(Org, ctx.data["city_id"])
    assert effective_checklist(city).source.id == city.id and effective_checklist(city).max_total == 100
    district = db.session.get(Org, ctx.data["district_ids"][1])
    assert [e.title for e in effective_checklist(district).entries][-1] == "阵地安全"
    assert db.session.scalar(sa.select(sa.func.count()).where(ChecklistItem.active.is_(False))) == 1
    venues = list(db.session.scalars(sa.select(Venue)))
    assessed = [v for v in venues if v.stars is not None]
    assert 0 < len(assessed) < len(venues)  # some are never assessed: due
    for venue in assessed:
        latest = db.session.scalar(
            sa.select(VenueAssessment)
            .where(VenueAssessment.venue_id == venue.id)
            .order_by(VenueAssessment.assessed_at.desc())
            .limit(1)
        )
        assert (latest.stars, latest.assessed_at) == (venue.stars, venue.stars_assessed_at)
        assert latest.assessor_id is not None and latest.total <= latest.max_total
    twice = db.session.scalar(
        sa.select(sa.func.count()).select_from(
            sa.select(VenueAssessment.venue_id)
            .group_by(VenueAssessment.venue_id)
            .having(sa.func.count() > 1)
            .subquery()
        )
    )
    assert twice > 0
    stale = [v for v in assessed if v.stars_assessed_at < utcnow() - timedelta(days=365)]
    assert stale  # assessed over a year ago: due again
    assert sorted(ctx.data["assessed_venue_ids"]) == sorted(v.id for v in assessed)


def test_demo_ratings_from_attendees_and_residents(app):
    ctx = _seed_until_feedback(mark_attended=True)
    rows = list(db.session.scalars(sa.select(Feedback)))
    members = [f for f in rows if not f.is_public]
    public = [f for f in rows if f.is_public]
    assert members and public and ctx.counts["feedback"] == len(rows)
    assert all(1 <= f.rating <= 5 for f in rows)
    assert 3.6 < sum(f.rating for f in rows) / len(rows) < 4.6
    assert all(f.device_hash and f.user_id is None for f in public)
    # every member rating comes from someone who attended
    attended = db.session.execute(
        sa.select(Registration.event_id, Registration.user_id).where(Registration.state == "attended")
    ).all()
    assert {(f.event_id, f.user_id) for f in members} <= {tuple(r) for r in attended}
    hidden = [f for f in rows if f.hidden_at is not None]
    assert len(hidden) == 1 and hidden[0].hidden_by_id is not None
    assert set(ctx.data["feedback_event_ids"]) == {f.event_id for f in rows}
    # the demo volunteer still has recent events to rate, and invitations went out for the others
    demo = db.session.scalar(sa.select(User).where(User.phone == "13800000030"))
    recent_attended = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Registration)
        .join(Event, Event.id == Registration.event_id)
        .where(
            Registration.user_id == demo.id,
            Registration.state == "attended",
            Event.ends_at >= utcnow() - timedelta(days=14),
        )
    )
    assert len(rateable_events(demo)) == min(recent_attended, 5)
    invites = list(db.session.scalars(sa.select(Notification).where(Notification.kind == "feedback_invite")))
    assert ctx.counts["feedback invitations"] == len(invites)
    rated = {(f.event_id, f.user_id) for f in members}
    assert all((int(n.link.split("/")[3]), n.user_id) not in rated for n in invites)
