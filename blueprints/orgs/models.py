"""Organisations (a tree with a materialised path) and coordinator grants."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blueprints.core.extensions import db
from blueprints.core.models import UTCDateTime, utcnow

ORG_KINDS = ("city", "district", "town", "community", "school", "enterprise", "other")
ROUNDING_RULES = ("nearest_half_hour", "local_15_45", "down_half_hour", "nearest_quarter", "exact")
CERTIFICATE_ISSUERS = ("self", "leader", "coordinator")
DEFAULT_TARGET_HOURS = 20
DEFAULT_STAR_THRESHOLDS = (100, 300, 600, 1000, 1500)
DEFAULT_ROUNDING = "nearest_half_hour"


class Org(db.Model):
    """An organisation: city, district, town/street, community, school or enterprise.

    `path` is the chain of ids from the root, "/1/5/23/", so a subtree is `path LIKE '/1/5/%'`.
    Settings left empty are inherited from the nearest ancestor that sets them.
    """

    __tablename__ = "orgs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[str] = mapped_column(sa.String(20), default="other")
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    path: Mapped[str] = mapped_column(sa.String(255), default="")
    depth: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    #: annual volunteer-hour target for members, in hours (None: inherit; default 20)
    annual_target_hours: Mapped[int | None]
    #: five comma-separated hour thresholds for star levels 1-5 (None: inherit)
    star_thresholds: Mapped[str | None] = mapped_column(sa.String(60))
    rounding_rule: Mapped[str | None] = mapped_column(sa.String(30))
    #: hours count only when attendance reached this share of the event, in percent (None: inherit; 0 = off)
    min_attendance_percent: Mapped[int | None]
    #: who may issue service certificates: self-service, a team leader, or a coordinator
    certificate_issuer: Mapped[str | None] = mapped_column(sa.String(20))

    parent: Mapped[Org | None] = relationship(remote_side="Org.id", back_populates="children")
    children: Mapped[list[Org]] = relationship(back_populates="parent", order_by="Org.name")

    __table_args__ = (
        sa.UniqueConstraint("parent_id", "name", name="uq_orgs_parent_name"),
        sa.CheckConstraint(f"kind IN {ORG_KINDS!r}", name="kind"),
        sa.CheckConstraint("annual_target_hours IS NULL OR (annual_target_hours BETWEEN 0 AND 2000)", name="target"),
        sa.CheckConstraint(
            "min_attendance_percent IS NULL OR (min_attendance_percent BETWEEN 0 AND 100)", name="attendance"
        ),
        sa.CheckConstraint(f"rounding_rule IS NULL OR rounding_rule IN {ROUNDING_RULES!r}", name="rounding"),
        sa.CheckConstraint(
            f"certificate_issuer IS NULL OR certificate_issuer IN {CERTIFICATE_ISSUERS!r}", name="issuer"
        ),
        sa.CheckConstraint("length(name) > 0", name="name_nonempty"),
        sa.Index("ix_orgs_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this org, inclusive."""
        return [int(part) for part in self.path.strip("/").split("/") if part]

    def is_within(self, other: Org) -> bool:
        """True when this org is `other` or below it."""
        return self.path.startswith(other.path)


class CoordinatorGrant(db.Model):
    """A user coordinates an org and everything below it."""

    __tablename__ = "coordinator_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User", foreign_keys=[user_id], back_populates="coordinator_grants")
    org: Mapped[Org] = relationship()

    __table_args__ = (sa.UniqueConstraint("user_id", "org_id", name="uq_coordinator_grants_user_org"),)
