"""Youth evaluation (青年评议): event feedback, and youth-home star assessments."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import JSON
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blueprints.core.extensions import db
from blueprints.core.models import UTCDateTime, utcnow


class Feedback(db.Model):
    """A 1-5 rating of a completed event, by an attendee (user_id) or a person served (public)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(sa.String(1000))
    #: left through the event's public QR code by someone without an account
    is_public: Mapped[bool] = mapped_column(default=False)
    #: a hash of the device cookie for public feedback (one per device and event)
    device_hash: Mapped[str | None] = mapped_column(sa.String(64))
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event = relationship("Event")
    user = relationship("User", foreign_keys=[user_id])

    __table_args__ = (
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        sa.CheckConstraint("(is_public AND user_id IS NULL) OR (NOT is_public AND user_id IS NOT NULL)", name="author"),
        sa.Index(
            "uq_feedback_one_per_user",
            "event_id",
            "user_id",
            unique=True,
            sqlite_where=sa.text("user_id IS NOT NULL"),
            postgresql_where=sa.text("user_id IS NOT NULL"),
        ),
        sa.Index(
            "uq_feedback_one_per_device",
            "event_id",
            "device_hash",
            unique=True,
            sqlite_where=sa.text("device_hash IS NOT NULL"),
            postgresql_where=sa.text("device_hash IS NOT NULL"),
        ),
        sa.Index("ix_feedback_event", "event_id"),
        # "my ratings" (the rate links on my events, the home panel) look feedback up by author
        sa.Index("ix_feedback_user", "user_id"),
    )


class ChecklistItem(db.Model):
    """One item of an org's youth-home assessment checklist (inherited down the tree)."""

    __tablename__ = "checklist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    max_score: Mapped[int] = mapped_column(default=10)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (sa.CheckConstraint("max_score BETWEEN 1 AND 100", name="max_score_range"),)


class VenueAssessment(db.Model):
    """A coordinator's star assessment of a youth home (星级动态评定); history is kept."""

    __tablename__ = "venue_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id", ondelete="CASCADE"))
    assessor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    stars: Mapped[int]
    #: {checklist item id: score} as given, with the item titles and maxima at the time
    scores: Mapped[dict] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(default=0)
    max_total: Mapped[int] = mapped_column(default=0)
    note: Mapped[str | None] = mapped_column(sa.String(1000))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    venue = relationship("Venue")
    assessor = relationship("User")

    __table_args__ = (
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),
        sa.Index("ix_venue_assessments_venue_at", "venue_id", "assessed_at"),
    )
