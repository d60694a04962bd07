"""Service events, their categories, and volunteer registrations (with a waitlist)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blueprints.core.extensions import db
from blueprints.core.models import UTCDateTime, utcnow

EVENT_STATES = ("draft", "published", "completed", "cancelled")
REGISTRATION_STATES = ("confirmed", "waitlisted", "cancelled", "attended", "no_show")
#: states that hold a place (a seat, or a waitlist position) — one per volunteer and event
ACTIVE_REGISTRATION = "state != 'cancelled'"
#: states that count against capacity
SEATED_STATES = ("confirmed", "attended", "no_show")
DEFAULT_CATEGORIES = (
    ("children", "关爱儿童", "Caring for children"),
    ("elderly_disabled", "助老助残", "Helping the elderly and disabled"),
    ("community", "社区服务", "Community service"),
    ("environment", "环境保护", "Environmental protection"),
    ("culture_sports", "文化体育", "Culture and sports"),
    ("emergency", "应急救援", "Emergency response"),
    ("other", "其他", "Other"),
)


class EventCategory(db.Model):
    """A service category (configurable by admins); names in both languages."""

    __tablename__ = "event_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(60))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    def label(self, locale: str) -> str:
        return self.name_en if str(locale).startswith("en") else self.name_zh


class Event(db.Model):
    """A service event run by a team: draft -> published -> completed | cancelled.

    `confirmed_count` is the seat counter: a seat is taken only by
    `UPDATE events SET confirmed_count = confirmed_count + 1 WHERE id = ? AND confirmed_count < capacity`,
    and the CHECK below makes overbooking impossible even for code that forgets.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="RESTRICT"))
    #: the team's org, copied so that subtree lists and reports need no join
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"))
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("event_categories.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: an approved youth-home booking of the team (the event is held there), else `address`
    booking_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bookings.id", ondelete="SET NULL"), index=True)
    address: Mapped[str] = mapped_column(sa.String(255), default="")
    capacity: Mapped[int]
    confirmed_count: Mapped[int] = mapped_column(default=0)
    #: the last waitlist position handed out (positions are renumbered 1..n on promotion)
    waitlist_count: Mapped[int] = mapped_column(default=0)
    reg_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reg_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    members_only: Mapped[bool] = mapped_column(default=False)
    allow_walk_ins: Mapped[bool] = mapped_column(default=False)
    #: planned service time per volunteer, in minutes
    planned_minutes: Mapped[int | None]
    state: Mapped[str] = mapped_column(sa.String(12), default="draft")
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(500))
    #: when the leader confirmed the event's hours (service records written)
    hours_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    team = relationship("Team")
    org = relationship("Org")
    category: Mapped[EventCategory] = relationship()
    booking = relationship("Booking")

    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        sa.CheckConstraint("capacity > 0", name="capacity_positive"),
        sa.CheckConstraint("confirmed_count >= 0 AND confirmed_count <= capacity", name="seats_within_capacity"),
        sa.CheckConstraint("waitlist_count >= 0", name="waitlist_nonnegative"),
        sa.CheckConstraint("reg_closes_at IS NULL OR reg_closes_at <= starts_at", name="reg_closes_before_start"),
        sa.CheckConstraint(
            "reg_opens_at IS NULL OR reg_closes_at IS NULL OR reg_opens_at < reg_closes_at", name="reg_window"
        ),
        sa.CheckConstraint("planned_minutes IS NULL OR planned_minutes BETWEEN 0 AND 1440", name="planned_minutes"),
        sa.CheckConstraint(f"state IN {EVENT_STATES!r}", name="state"),
        sa.CheckConstraint(
            "state != 'cancelled' OR length(coalesce(cancel_reason, '')) > 0", name="cancel_needs_reason"
        ),
        sa.CheckConstraint("length(title) > 0", name="title_nonempty"),
        # a subtree's events in a period; on PostgreSQL covering for the reports (team, state, place)
        sa.Index(
            "ix_events_org_starts_cov",
            "org_id",
            "starts_at",
            postgresql_include=["id", "team_id", "state", "booking_id"],
        ),
        sa.Index("ix_events_team_starts", "team_id", "starts_at"),
        # covering for the weekly list (state, week, then the org's subtree without reading the rows)
        sa.Index("ix_events_state_starts_org", "state", "starts_at", "org_id"),
        # the latest change of any event: what the cached public weekly list is checked against
        sa.Index("ix_events_updated_at", "updated_at"),
        # ended events whose hours are still to be confirmed (the leaders' and coordinators' home panel):
        # a few rows (coming events, and the past ones not confirmed yet), where a scan of every past
        # event took 25-85 ms at city scale
        sa.Index(
            "ix_events_hours_unconfirmed",
            "ends_at",
            sqlite_where=sa.text("hours_confirmed_at IS NULL"),
            postgresql_where=sa.text("hours_confirmed_at IS NULL"),
        ),
    )

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.confirmed_count)


class Registration(db.Model):
    """A volunteer's place at an event: confirmed | waitlisted (with a position) | cancelled | attended | no_show."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(sa.String(12))
    waitlist_position: Mapped[int | None]
    #: admitted at the door without registering first
    walk_in: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: who last set the attendance (check-in by the volunteer, or the leader on the roster)
    attendance_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    event: Mapped[Event] = relationship()
    user = relationship("User", foreign_keys=[user_id])

    __table_args__ = (
        sa.CheckConstraint(f"state IN {REGISTRATION_STATES!r}", name="state"),
        sa.CheckConstraint(
            "(state = 'waitlisted' AND waitlist_position IS NOT NULL AND waitlist_position > 0) "
            "OR (state != 'waitlisted' AND waitlist_position IS NULL)",
            name="waitlist_position",
        ),
        sa.CheckConstraint(
            "checked_out_at IS NULL OR (checked_in_at IS NOT NULL AND checked_out_at >= checked_in_at)",
            name="checkout_after_checkin",
        ),
        sa.Index(
            "uq_registrations_one_active",
            "event_id",
            "user_id",
            unique=True,
            sqlite_where=sa.text(ACTIVE_REGISTRATION),
            postgresql_where=sa.text(ACTIVE_REGISTRATION),
        ),
        sa.Index("ix_registrations_user_state", "user_id", "state"),
        sa.Index("ix_registrations_event_state", "event_id", "state"),
    )
