"""Notify users: in-app rows now (same transaction), email after commit when MAIL_SERVER is set.

Blueprints register the kinds they send with a translatable template:

    register_kind("booking_approved", _l("Your booking of %(venue)s on %(when)s was approved."))
    notify(user, "booking_approved", link=url, venue=venue.name, when=...)

Parameters are stored, and the text is rendered in the reader's language when shown.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app, g, has_request_context
from flask_babel import force_locale
from sqlalchemy import event
from sqlalchemy.orm import Session

from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow

from .models import Notification

KINDS: dict[str, object] = {}


def register_kind(kind: str, template) -> None:  # noqa: ANN001 - a lazy_gettext string
    KINDS[kind] = template


def render(notification: Notification) -> str:
    """The notification text in the current locale."""
    template = KINDS.get(notification.kind)
    if template is None:
        return notification.kind
    try:
        return str(template) % notification.params
    except (KeyError, TypeError, ValueError):
        return str(template)


def notify(user, kind: str, link: str | None = None, **params) -> Notification:
    """Add a notification for `user` to the current transaction; email it after commit."""
    if kind not in KINDS:
        raise KeyError(f"unregistered notification kind {kind!r}")
    note = Notification(user_id=user.id, kind=kind, params=params, link=link)
    db.session.add(note)
    if current_app.config.get("MAIL_SERVER") and getattr(user, "email", None):
        pending = db.session.info.setdefault("qingyi_mail", [])
        pending.append((note, user.email, user.locale or "zh_CN"))
    return note


def unread_count(user) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
        or 0
    )


def unread_fact(user):
    """The unread badge, read with the other layout facts in one statement."""
    return (
        sa.select(sa.func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .scalar_subquery()
    )


def mark_read(user, ids: list[int] | None = None) -> int:
    stmt = sa.update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    return db.session.execute(stmt.values(read_at=utcnow())).rowcount


def _send_mail(app, items) -> None:  # noqa: ANN001
    """Send the email copies; a failure is logged and never undoes the in-app notification."""
    cfg = app.config
    try:
        smtp = smtplib.SMTP(cfg["MAIL_SERVER"], int(cfg.get("MAIL_PORT") or 25), timeout=10)
    except OSError:
        app.logger.warning("mail server unreachable; %d notifications stay in-app only", len(items))
        return
    sent_ids = []
    try:
        if cfg.get("MAIL_USE_TLS"):
            smtp.starttls()
        if cfg.get("MAIL_USERNAME"):
            smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
        for note_id, kind, params, link, address, locale in items:
            fake = Notification(kind=kind, params=params)
            with force_locale(locale):
                body = render(fake)
                subject = "[Qingyi] " + body[:60]
            message = EmailMessage()
            message["From"] = cfg["MAIL_SENDER"]
            message["To"] = address
            message["Subject"] = subject
            base = cfg.get("PUBLIC_URL", "").rstrip("/")
            message.set_content(body + (f"\n\n{base}{link}" if link and base else ""))
            try:
                smtp.send_message(message)
                sent_ids.append(note_id)
            except smtplib.SMTPException:
                app.logger.warning("mail to %s failed", address)
    except smtplib.SMTPException:
        app.logger.warning("mail session failed")
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
    if sent_ids:
        with app.app_context():
            db.session.execute(sa.update(Notification).where(Notification.id.in_(sent_ids)).values(emailed_at=utcnow()))
            db.session.commit()


@event.listens_for(Session, "after_flush")
def _after_flush(session, flush_context) -> None:  # noqa: ANN001
    pending = session.info.pop("qingyi_mail", None)
    if pending:
        ready = session.info.setdefault("qingyi_mail_ready", [])
        ready.extend((n.id, n.kind, dict(n.params or {}), n.link, addr, loc) for n, addr, loc in pending)


@event.listens_for(Session, "after_commit")
def _after_commit(session) -> None:  # noqa: ANN001
    items = session.info.pop("qingyi_mail_ready", None)
    if not items:
        return
    if has_request_context():
        g.setdefault("qingyi_mail_after", []).extend(items)
    else:
        _send_mail(current_app._get_current_object(), items)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session) -> None:  # noqa: ANN001
    session.info.pop("qingyi_mail", None)
    session.info.pop("qingyi_mail_ready", None)


def send_queued_mail(exc=None) -> None:  # noqa: ANN001
    """teardown_request: send the email copies of notifications committed by this request."""
    items = g.pop("qingyi_mail_after", None)
    if items:
        _send_mail(current_app._get_current_object(), items)
