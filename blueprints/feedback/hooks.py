"""Invite attendees to rate an event as soon as it is completed and attendance is known.

The events and hours blueprints need not call us: a flush that completes an event, marks a
registration attended, or writes service records queues the event, and once the flush has run we
invite (in the same transaction) whoever attended and was not invited yet. `invite_feedback` is
idempotent, so repeated triggers cost a few queries and send nothing twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from blueprints.core.extensions import db
from blueprints.events.models import Event, Registration
from blueprints.hours.models import ServiceRecord

QUEUE = "qingyi_feedback_invite"


def _added(obj, attr: str):
    history = sa.inspect(obj).attrs[attr].history
    return history.added or ()


@event.listens_for(Session, "before_flush")
def _queue_invitations(session, flush_context, instances) -> None:  # noqa: ANN001
    queued: set[int] = set()
    for obj in session.dirty:
        if isinstance(obj, Event) and "completed" in _added(obj, "state"):
            queued.add(obj.id)
        elif isinstance(obj, Registration) and "attended" in _added(obj, "state"):
            queued.add(obj.event_id)
    for obj in session.new:
        if isinstance(obj, ServiceRecord) and obj.event_id is not None:
            queued.add(obj.event_id)
    if queued:
        session.info.setdefault(QUEUE, set()).update(queued)


@event.listens_for(Session, "after_flush_postexec")
def _send_invitations(session, flush_context) -> None:  # noqa: ANN001
    queued = session.info.pop(QUEUE, None)
    if not queued or not has_app_context() or session is not db.session():
        return
    from .services import invite_feedback

    for event_id in sorted(queued):
        found = session.get(Event, event_id)
        if found is not None and found.state == "completed":
            # the notifications are added now and written by the next flush (the commit's)
            invite_feedback(found, flush=False)


@event.listens_for(Session, "after_rollback")
def _forget(session) -> None:  # noqa: ANN001
    session.info.pop(QUEUE, None)
