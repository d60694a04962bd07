"""Authorization helpers used by every blueprint's routes."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import abort, request
from flask_login import current_user, login_required

__all__ = ["login_required", "admin_required", "require", "safe_next", "current_user"]


def require(condition: bool) -> None:
    """403 unless `condition`; call after loading the object, before any change."""
    if not condition:
        abort(403)


def admin_required(view):
    """Only admins; others get 403, anonymous users the login page."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        require(current_user.is_admin)
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to next; anything pointing elsewhere falls back to `default`."""
    if not target:
        return default
    target = target.strip()
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def next_from_request(default: str = "/") -> str:
    return safe_next(request.values.get("next"), default)
