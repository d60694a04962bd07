"""The notification list; opening one marks it read."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, redirect, request, url_for
from flask_login import current_user, login_required

from blueprints.core.authz import safe_next
from blueprints.core.extensions import db
from blueprints.core.forms import EmptyForm, TokenForm
from blueprints.core.htmx import render_page
from blueprints.core.timeutil import utcnow
from blueprints.core.translate import gettext as _

from . import bp
from .models import Notification
from .services import mark_read, render

PAGE = 30


@bp.get("/")
@login_required
def index():
    """Newest first, unread highlighted."""
    page = max(1, request.args.get("page", 1, type=int))
    rows = list(
        db.session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == current_user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(PAGE + 1)
            .offset((page - 1) * PAGE)
        )
    )
    items = [(n, render(n)) for n in rows[:PAGE]]
    return render_page(
        "notifications/index.html",
        "list",
        items=items,
        page=page,
        has_more=len(rows) > PAGE,
        form=TokenForm(),
    )


@bp.post("/<int:note_id>/open")
@login_required
def open_one(note_id: int):
    """Mark read and go to the notification's link."""
    note = db.get_or_404(Notification, note_id)
    if note.user_id != current_user.id:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if note.read_at is None:
        note.read_at = utcnow()
        db.session.commit()
    return redirect(safe_next(note.link, url_for("notifications.index")), 303)


@bp.post("/read-all")
@login_required
def read_all():
    """Mark every notification read."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    mark_read(current_user)
    db.session.commit()
    from flask import flash

    flash(_("All notifications are marked read."), "success")
    return redirect(url_for("notifications.index"), 303)
