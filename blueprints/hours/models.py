"""Service-hour ledger (append-only), correction requests, beneficiaries, certificates."""

from __future__ import annotations

import functools
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, aliased, mapped_column, relationship

from blueprints.core.extensions import db
from blueprints.core.models import UTCDateTime, invariant_ddl, utcnow

RECORD_SOURCES = ("checkin", "leader", "correction", "backfill")
REQUEST_STATES = ("pending", "approved", "rejected")
BENEFICIARY_CATEGORIES = ("children", "elderly", "disabled", "residents", "other")
MAX_RECORD_MINUTES = 24 * 60
CERTIFICATE_EVENTS = 60


class ServiceRecord(db.Model):
    """Minutes of service one volunteer gave at one event. Never updated, never deleted.

    A correction is a new record with `supersedes_id` pointing at the record it replaces (a record
    can be superseded once). The effective records are those nobody supersedes; tallies sum them.
    Triggers in the database refuse UPDATE and DELETE on this table.
    """

    __tablename__ = "service_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="RESTRICT"))
    registration_id: Mapped[int | None] = mapped_column(sa.ForeignKey("registrations.id", ondelete="RESTRICT"))
    minutes: Mapped[int]
    #: how the record was made: check-in/out, by the leader, a correction, a backfill (补录)
    source: Mapped[str] = mapped_column(sa.String(12))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    supersedes_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_records.id", ondelete="RESTRICT"))
    #: the event's start, copied so that period tallies need no join
    served_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the event's org, copied so that subtree tallies need no join
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    volunteer = relationship("User", foreign_keys=[volunteer_id])
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])
    event = relationship("Event")

    __table_args__ = (
        sa.CheckConstraint(f"minutes BETWEEN 0 AND {MAX_RECORD_MINUTES}", name="minutes_range"),
        sa.CheckConstraint(f"source IN {RECORD_SOURCES!r}", name="source"),
        sa.CheckConstraint(
            "source NOT IN ('correction') OR length(coalesce(reason, '')) > 0", name="correction_needs_reason"
        ),
        sa.UniqueConstraint("supersedes_id", name="uq_service_records_supersedes_once"),
        sa.Index("ix_service_records_volunteer_served", "volunteer_id", "served_at"),
        sa.Index("ix_service_records_event", "event_id"),
        # a subtree's ledger in a period; on PostgreSQL covering (the dashboard reads only these columns:
        # a district's year from the index alone instead of a sequential scan of the ledger)
        sa.Index(
            "ix_service_records_org_served_cov",
            "org_id",
            "served_at",
            postgresql_include=["id", "event_id", "volunteer_id", "minutes"],
        ),
    )


@functools.cache
def _newer():
    """The superseding record in "not superseded" subqueries: one alias per process (made on first
    use, once the mappers are configured); an alias per call cost about a millisecond a page."""
    return aliased(ServiceRecord, name="newer_record")


def effective_records():
    """A SELECT of the effective (not superseded) service records, to filter further."""
    return sa.select(ServiceRecord).where(is_effective_clause())


def is_effective_clause(record=ServiceRecord):
    newer = _newer()
    return ~sa.exists(sa.select(newer.id).where(newer.supersedes_id == record.id))


invariant_ddl(
    ServiceRecord.__table__,
    "service_records_append_only",
    sqlite=[
        "CREATE TRIGGER trg_service_records_no_update BEFORE UPDATE ON service_records "
        "BEGIN SELECT RAISE(ABORT, 'service_records_append_only'); END",
        "CREATE TRIGGER trg_service_records_no_delete BEFORE DELETE ON service_records "
        "BEGIN SELECT RAISE(ABORT, 'service_records_append_only'); END",
    ],
    postgresql=[
        "CREATE OR REPLACE FUNCTION service_records_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'service_records_append_only' USING ERRCODE = 'integrity_constraint_violation'; "
        "END $$",
        "CREATE TRIGGER trg_service_records_append_only BEFORE UPDATE OR DELETE ON service_records "
        "FOR EACH ROW EXECUTE FUNCTION service_records_append_only()",
    ],
)


class CorrectionRequest(db.Model):
    """A volunteer reports a wrong or missing record (补录申请); the leader approves or rejects it."""

    __tablename__ = "correction_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    #: the record to correct; None asks for a missing record
    record_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_records.id", ondelete="RESTRICT"))
    requested_minutes: Mapped[int]
    message: Mapped[str] = mapped_column(sa.String(500))
    state: Mapped[str] = mapped_column(sa.String(10), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(sa.String(500))
    #: the record written when the request was approved
    result_record_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_records.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    volunteer = relationship("User", foreign_keys=[volunteer_id])
    event = relationship("Event")

    __table_args__ = (
        sa.CheckConstraint(f"state IN {REQUEST_STATES!r}", name="state"),
        sa.CheckConstraint(f"requested_minutes BETWEEN 0 AND {MAX_RECORD_MINUTES}", name="minutes_range"),
        sa.CheckConstraint("length(message) > 0", name="message_nonempty"),
        sa.CheckConstraint(
            "state != 'rejected' OR length(coalesce(decision_note, '')) > 0", name="rejection_needs_reason"
        ),
        sa.Index(
            "uq_correction_requests_one_pending",
            "volunteer_id",
            "event_id",
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        ),
    )


class BeneficiaryCount(db.Model):
    """People served by an event, per category (受益群众)."""

    __tablename__ = "beneficiary_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(sa.String(12))
    count: Mapped[int]
    note: Mapped[str | None] = mapped_column(sa.String(300))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("event_id", "category", name="uq_beneficiary_counts_event_category"),
        sa.CheckConstraint(f"category IN {BENEFICIARY_CATEGORIES!r}", name="category"),
        sa.CheckConstraint("count >= 0 AND count <= 1000000", name="count_range"),
        # the latest change: what cached report figures (people served) are checked against
        sa.Index("ix_beneficiary_counts_updated_at", "updated_at"),
    )


class Certificate(db.Model):
    """A service certificate (志愿服务证明) as issued: the figures are frozen at issue time."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: printed certificate number, e.g. QY-2026-000123
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    volunteer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    minutes: Mapped[int]
    events_count: Mapped[int]
    #: the events counted, frozen at issue time: [{"title", "date", "minutes"}], at most CERTIFICATE_EVENTS
    events_detail: Mapped[list] = mapped_column(sa.JSON, default=list)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    volunteer = relationship("User", foreign_keys=[volunteer_id])
    org = relationship("Org")

    __table_args__ = (
        sa.CheckConstraint("period_end >= period_start", name="period"),
        sa.CheckConstraint("minutes >= 0", name="minutes_nonnegative"),
    )
