"""Volunteer service teams (志愿服务队) and their members."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blueprints.core.extensions import db
from blueprints.core.models import UTCDateTime, utcnow

JOIN_POLICIES = ("open", "approval")
MEMBER_ROLES = ("member", "leader")
MEMBERSHIP_STATES = ("pending", "active", "declined", "left", "removed")
ACTIVE_MEMBERSHIP = "state IN ('pending', 'active')"


class Team(db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    join_policy: Mapped[str] = mapped_column(sa.String(12), default="open")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org = relationship("Org")

    __table_args__ = (
        sa.UniqueConstraint("org_id", "name", name="uq_teams_org_name"),
        sa.CheckConstraint(f"join_policy IN {JOIN_POLICIES!r}", name="join_policy"),
        sa.CheckConstraint("length(name) > 0", name="name_nonempty"),
    )


class Membership(db.Model):
    """A user in a team, as member or leader. One pending or active membership per user and team."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(10), default="member")
    state: Mapped[str] = mapped_column(sa.String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[Team] = relationship()
    user = relationship("User", foreign_keys=[user_id])

    __table_args__ = (
        sa.CheckConstraint(f"role IN {MEMBER_ROLES!r}", name="role"),
        sa.CheckConstraint(f"state IN {MEMBERSHIP_STATES!r}", name="state"),
        sa.Index(
            "uq_memberships_one_active",
            "team_id",
            "user_id",
            unique=True,
            sqlite_where=sa.text(ACTIVE_MEMBERSHIP),
            postgresql_where=sa.text(ACTIVE_MEMBERSHIP),
        ),
        sa.Index("ix_memberships_team_state", "team_id", "state"),
    )
