"""In-app notifications with an unread badge; email copies when MAIL_SERVER is set."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def init_app(app: Flask) -> None:
    from blueprints.core.registry import NavItem, get_registry
    from blueprints.core.translate import lazy_gettext as _l

    from . import models, routes  # noqa: F401
    from .services import send_queued_mail, unread_count, unread_fact

    app.register_blueprint(bp)
    app.teardown_request(send_queued_mail)
    registry = get_registry(app)
    registry.add_badge("unread", unread_count)
    registry.add_fact("unread", unread_fact)
    registry.add_nav(
        NavItem(
            "notifications.index",
            _l("Notifications"),
            order=90,
            visible=lambda user: user.is_authenticated,
            badge="unread",
        )
    )
