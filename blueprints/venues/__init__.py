"""Youth homes (青年之家): catalogue, opening hours, closures, booking requests and approval."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.core.translate import lazy_gettext as _l

bp = Blueprint("venues", __name__, url_prefix="/venues")

NOTIFICATION_KINDS = {
    "booking_requested": _l("%(requester)s asks to book %(venue)s on %(when)s."),
    "booking_approved": _l("Your booking of %(venue)s on %(when)s was approved."),
    "booking_rejected": _l("Your booking request for %(venue)s on %(when)s was rejected: %(reason)s"),
    "booking_slot_taken": _l(
        "Your booking request for %(venue)s on %(when)s was rejected: the time slot went to another booking."
    ),
    "booking_cancelled": _l("%(requester)s cancelled the booking of %(venue)s on %(when)s."),
    "venue_manager_granted": _l("You now manage %(venue)s and decide its booking requests."),
}


def _home_panel(user):
    from blueprints.core.registry import user_fact

    from .services import home_queue, is_approver

    if not is_approver(user):
        return None
    total = user_fact(user, "approvals")
    if not total and not user_fact(user, "manages_venues"):
        return None
    return {"rows": home_queue(user, limit=5) if total else [], "total": total}


def init_app(app: Flask) -> None:
    from blueprints.core.registry import HomePanel, NavItem, get_registry
    from blueprints.notifications.services import register_kind

    from . import models, routes  # noqa: F401
    from .services import approvals_fact, is_approver, manages_venues_fact, pending_count

    for kind, template in NOTIFICATION_KINDS.items():
        register_kind(kind, template)
    app.register_blueprint(bp)
    registry = get_registry(app)
    registry.add_badge("approvals", pending_count)
    registry.add_fact("approvals", approvals_fact)
    registry.add_fact("manages_venues", manages_venues_fact)
    registry.add_nav(NavItem("venues.index", _l("Youth homes"), order=20))
    registry.add_nav(NavItem("venues.approvals", _l("Approvals"), order=60, visible=is_approver, badge="approvals"))
    registry.add_nav(
        NavItem("venues.my_bookings", _l("My bookings"), order=65, visible=lambda user: user.is_authenticated)
    )
    registry.add_panel(HomePanel("venues/_home_panel.html", _home_panel, order=30))
