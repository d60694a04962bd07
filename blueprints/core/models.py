"""Declarative base, column types and the audit log shared by every blueprint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, MetaData, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        ident = getattr(self, "id", None)
        label = getattr(self, "name", None) or getattr(self, "title", None) or getattr(self, "state", None)
        return f"<{type(self).__name__} {ident}{' ' + str(label) if label is not None else ''}>"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC: timestamptz on PostgreSQL, naive UTC text on SQLite.

    SQLite compares the stored text, so every value is normalised to UTC before it is written;
    that keeps range checks in triggers correct.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone first")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class AuditLog(Base):
    """Who did what to which object, when. Written in the same transaction as the change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(40))
    object_id: Mapped[int | None]
    #: the org whose subtree this entry belongs to, so coordinators see only their part of the log
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="SET NULL"), index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (sa.Index("ix_audit_log_object", "object_type", "object_id"),)


# --- Invariant DDL (triggers, exclusion constraints) -------------------------------------------
#: name -> {"table": Table, "sqlite": [sql...], "postgresql": [sql...]}; migrations carry the same text
INVARIANT_DDL: dict[str, dict[str, Any]] = {}


def invariant_ddl(table: sa.Table, name: str, *, sqlite: list[str], postgresql: list[str]) -> None:
    """Attach raw DDL that enforces an invariant to `table` so that create_all() builds it too.

    The same statements are written into an Alembic revision (tests check the names exist after
    `flask db upgrade`).
    """
    INVARIANT_DDL[name] = {"table": table.name, "sqlite": sqlite, "postgresql": postgresql}
    for stmt in sqlite:
        event.listen(table, "after_create", sa.DDL(stmt).execute_if(dialect="sqlite"))
    for stmt in postgresql:
        event.listen(table, "after_create", sa.DDL(stmt).execute_if(dialect="postgresql"))


def alembic_render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write UTCDateTime into revisions as the plain column type it stores."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
