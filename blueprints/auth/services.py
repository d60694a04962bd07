"""Account services: register, authenticate, change password, find users."""

from __future__ import annotations

import sqlalchemy as sa

from blueprints.core.audit import record_audit
from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow

from .models import User


class PhoneTaken(ValueError):
    pass


def user_by_phone(phone: str | None) -> User | None:
    if not phone:
        return None
    return db.session.scalar(sa.select(User).where(User.phone == phone))


def register_user(name: str, phone: str, password: str, home_org_id: int | None, locale: str | None = None) -> User:
    """Create a volunteer account. Raises PhoneTaken if the number is registered (also under a race)."""
    if user_by_phone(phone) is not None:
        raise PhoneTaken(phone)
    user = User(name=name.strip(), phone=phone, home_org_id=home_org_id, locale=locale)
    user.set_password(password)
    db.session.add(user)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise PhoneTaken(phone) from exc
    record_audit(user, "user.register", user, org_id=home_org_id)
    return user


def authenticate(phone: str, password: str) -> User | None:
    """The active user with this phone and password, else None (same time cost either way)."""
    user = user_by_phone(phone)
    if user is None:
        # hash anyway, so a missing account is not faster to detect than a wrong password
        User(name="x", phone="", password_hash="").set_password(password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    user.last_login_at = utcnow()
    return user


def change_password(user: User, password: str) -> None:
    user.set_password(password)
    record_audit(user, "user.password", user)
