"""Write audit log entries in the caller's transaction."""

from __future__ import annotations

from typing import Any

from .extensions import db
from .models import AuditLog


def record_audit(actor, action: str, obj: Any = None, *, org_id: int | None = None, **detail: Any) -> AuditLog:
    """Add an audit entry: `actor` did `action` to `obj`. The caller commits with its change."""
    entry = AuditLog(
        actor_id=getattr(actor, "id", None),
        action=action,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=getattr(obj, "id", None),
        org_id=org_id,
        detail={k: v for k, v in detail.items() if v is not None},
    )
    db.session.add(entry)
    return entry
