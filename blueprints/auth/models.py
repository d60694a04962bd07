"""Users and their credentials."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from blueprints.core.extensions import db
from blueprints.core.models import UTCDateTime, utcnow

PHONE_PATTERN = r"^1[3-9]\d{9}$"


def mask_phone(phone: str) -> str:
    """138****5678: the first three and last four digits."""
    if len(phone) >= 7:
        return phone[:3] + "****" + phone[-4:]
    return "****"


def phone_shown_to(phone: str, owner_id: int, viewer) -> str:  # noqa: ANN001
    """`owner_id`'s phone as `viewer` may see it: in full for the person and admins, else masked."""
    if viewer is not None and getattr(viewer, "is_authenticated", False):
        if viewer.id == owner_id or viewer.is_admin:
            return phone
    return mask_phone(phone)


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    """A person: volunteer, team leader, venue manager, coordinator or admin (roles are grants)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    #: mainland mobile number, the login id
    phone: Mapped[str] = mapped_column(sa.String(20), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    home_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="SET NULL"), index=True)
    locale: Mapped[str | None] = mapped_column(sa.String(8))
    is_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: secret for personal calendar feeds; rotating it revokes old feed URLs
    feed_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_feed_token)

    home_org = relationship("Org", foreign_keys=[home_org_id])
    coordinator_grants = relationship(
        "CoordinatorGrant", foreign_keys="CoordinatorGrant.user_id", back_populates="user", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint("length(name) > 0", name="name_nonempty"),
        # new volunteers of a subtree in a period (the coordinator dashboard) without a scan of users
        sa.Index("ix_users_home_org_created", "home_org_id", "created_at"),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def set_password(self, password: str) -> None:
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    def phone_for(self, viewer) -> str:
        """The full number for the person and admins; masked for everyone else."""
        return phone_shown_to(self.phone, self.id, viewer)
