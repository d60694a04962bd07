"""Youth homes (青年之家): opening hours, closures, managers, booking requests."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blueprints.core.extensions import db
from blueprints.core.models import UTCDateTime, invariant_ddl, utcnow

BOOKING_STATES = ("pending", "approved", "rejected", "cancelled")
FACILITIES = (
    "projector",
    "wifi",
    "kitchen",
    "library",
    "piano",
    "sports",
    "computers",
    "accessible",
    "stage",
    "garden",
)


class Venue(db.Model):
    """A youth home: a room or space that teams book for activities."""

    __tablename__ = "venues"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    address: Mapped[str] = mapped_column(sa.String(255), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    capacity: Mapped[int]
    #: comma-separated keys from FACILITIES
    facilities: Mapped[str] = mapped_column(sa.String(255), default="")
    #: public contact number of the youth home (shown in full: it is an office line)
    contact_phone: Mapped[str | None] = mapped_column(sa.String(20))
    min_duration_minutes: Mapped[int] = mapped_column(default=30)
    max_duration_minutes: Mapped[int] = mapped_column(default=240)
    #: how many days ahead a request may start
    max_days_ahead: Mapped[int] = mapped_column(default=30)
    #: a request must start at least this many hours after it is made
    min_notice_hours: Mapped[int] = mapped_column(default=2)
    #: current star rating (1-5) and when it was given; history lives in assessments
    stars: Mapped[int | None]
    stars_assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org = relationship("Org")
    opening_hours: Mapped[list[OpeningHours]] = relationship(
        back_populates="venue", cascade="all, delete-orphan", order_by="(OpeningHours.weekday, OpeningHours.opens)"
    )
    closures: Mapped[list[Closure]] = relationship(
        back_populates="venue", cascade="all, delete-orphan", order_by="Closure.starts_on"
    )
    managers: Mapped[list[VenueManager]] = relationship(
        back_populates="venue", cascade="all, delete-orphan", order_by="VenueManager.id"
    )

    __table_args__ = (
        sa.CheckConstraint("capacity > 0", name="capacity_positive"),
        sa.CheckConstraint("min_duration_minutes > 0", name="min_duration_positive"),
        sa.CheckConstraint("max_duration_minutes >= min_duration_minutes", name="max_duration"),
        sa.CheckConstraint("max_days_ahead > 0", name="days_ahead_positive"),
        sa.CheckConstraint("min_notice_hours >= 0", name="notice_nonnegative"),
        sa.CheckConstraint("stars IS NULL OR stars BETWEEN 1 AND 5", name="stars_range"),
        sa.CheckConstraint("length(name) > 0", name="name_nonempty"),
    )

    @property
    def facility_list(self) -> list[str]:
        return [f for f in self.facilities.split(",") if f]

    def intervals_on(self, weekday: int) -> list[tuple[time, time]]:
        """The opening intervals of a weekday (0 = Monday), earliest first."""
        return sorted((h.opens, h.closes) for h in self.opening_hours if h.weekday == weekday)


class OpeningHours(db.Model):
    """One opening interval on a weekday (0 = Monday); a day may have several."""

    __tablename__ = "opening_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]
    opens: Mapped[time] = mapped_column(sa.Time)
    closes: Mapped[time] = mapped_column(sa.Time)

    venue: Mapped[Venue] = relationship(back_populates="opening_hours")

    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        sa.CheckConstraint("closes > opens", name="closes_after_opens"),
    )


class Closure(db.Model):
    """Days a youth home is closed (holidays, repairs), inclusive of both dates."""

    __tablename__ = "closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.String(200))

    venue: Mapped[Venue] = relationship(back_populates="closures")

    __table_args__ = (
        sa.CheckConstraint("ends_on >= starts_on", name="ends_after_starts"),
        sa.CheckConstraint("length(reason) > 0", name="reason_nonempty"),
    )


class VenueManager(db.Model):
    """A user manages a youth home: approves and rejects its booking requests."""

    __tablename__ = "venue_managers"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    venue: Mapped[Venue] = relationship(back_populates="managers")
    user = relationship("User", foreign_keys=[user_id])

    __table_args__ = (sa.UniqueConstraint("venue_id", "user_id", name="uq_venue_managers_venue_user"),)


class Booking(db.Model):
    """A request to use a youth home for a time slot: pending -> approved | rejected | cancelled.

    Two approved bookings of one venue never overlap: PostgreSQL enforces it with an exclusion
    constraint, SQLite with triggers (see below); services turn the violation into a message.
    """

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id", ondelete="RESTRICT"))
    requester_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attendees: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(12), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the manager's note; required when rejecting
    decision_note: Mapped[str | None] = mapped_column(sa.String(500))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    venue: Mapped[Venue] = relationship()
    requester = relationship("User", foreign_keys=[requester_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])

    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        sa.CheckConstraint("attendees > 0", name="attendees_positive"),
        sa.CheckConstraint(f"state IN {BOOKING_STATES!r}", name="state"),
        sa.CheckConstraint(
            "state != 'rejected' OR length(coalesce(decision_note, '')) > 0", name="rejection_needs_reason"
        ),
        sa.Index("ix_bookings_venue_starts", "venue_id", "starts_at"),
        # the latest approval / cancellation: what cached report figures are checked against
        sa.Index("ix_bookings_decided_at", "decided_at"),
        sa.Index("ix_bookings_cancelled_at", "cancelled_at"),
        sa.Index(
            "ix_bookings_pending",
            "venue_id",
            "starts_at",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        ),
        # bookings of a home that end after a moment: what overlaps a coming slot (the approval queue's
        # collisions). By start the index reads the home's whole history up to the slot; by end only
        # what is still to come.
        sa.Index("ix_bookings_venue_ends", "venue_id", "ends_at"),
        # the soonest pending requests of many homes (a city's or an admin's queue on the home page): read
        # in order up to the first few, where sorting every pending request took milliseconds on PostgreSQL
        sa.Index(
            "ix_bookings_pending_starts",
            "starts_at",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        ),
    )

    @property
    def is_open(self) -> bool:
        """Still waiting for a decision, or approved: it holds (or asks for) the slot."""
        return self.state in ("pending", "approved")

    def can_cancel(self, user, now: datetime) -> bool:
        """The requester may cancel a pending or approved booking until it starts."""
        return (
            getattr(user, "id", None) == self.requester_id
            and self.state in ("pending", "approved")
            and self.starts_at > now
        )

    def overlaps(self, other: Booking) -> bool:
        return self.venue_id == other.venue_id and self.starts_at < other.ends_at and other.starts_at < self.ends_at

    def approve(self, by, now: datetime) -> None:
        self.state, self.decided_by_id, self.decided_at = "approved", by.id, now

    def reject(self, by, note: str, now: datetime) -> None:
        self.state, self.decided_by_id, self.decided_at, self.decision_note = "rejected", by.id, now, note

    def cancel(self, now: datetime) -> None:
        self.state, self.cancelled_at = "cancelled", now


_OVERLAP = (
    "NEW.state = 'approved' AND EXISTS (SELECT 1 FROM bookings b WHERE b.venue_id = NEW.venue_id "
    "AND b.state = 'approved' AND b.id != NEW.id AND b.starts_at < NEW.ends_at AND NEW.starts_at < b.ends_at)"
)
invariant_ddl(
    Booking.__table__,
    "bookings_no_overlap",
    sqlite=[
        "CREATE TRIGGER trg_bookings_no_overlap_insert BEFORE INSERT ON bookings "
        f"WHEN {_OVERLAP.replace('b.id != NEW.id AND ', '')} "
        "BEGIN SELECT RAISE(ABORT, 'booking_overlap'); END",
        "CREATE TRIGGER trg_bookings_no_overlap_update BEFORE UPDATE OF state, starts_at, ends_at, venue_id "
        f"ON bookings WHEN {_OVERLAP} BEGIN SELECT RAISE(ABORT, 'booking_overlap'); END",
    ],
    postgresql=[
        "CREATE EXTENSION IF NOT EXISTS btree_gist",
        "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
        "(venue_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (state = 'approved')",
    ],
)
