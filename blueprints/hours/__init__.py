"""Service hours: check-in/out, attendance, the append-only ledger, beneficiaries, certificates."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("hours", __name__, url_prefix="/hours")


def init_app(app: Flask) -> None:
    from blueprints.core.registry import HomePanel, NavItem, Slot, get_registry
    from blueprints.core.translate import lazy_gettext as _l
    from blueprints.notifications.services import register_kind

    from . import models, routes  # noqa: F401
    from .slots import (
        event_url,
        home_hours_panel,
        home_leader_panel,
        leader_slot,
        past_row_slot,
        summary_slot,
        volunteer_slot,
    )

    app.register_blueprint(bp)
    app.add_template_global(event_url, "hours_event_url")

    register_kind("hours_recorded", _l("Your service hours for “%(event)s” were recorded: %(hours)s h."))
    register_kind("hours_corrected", _l("Your hours for “%(event)s” were corrected to %(hours)s h: %(reason)s"))
    register_kind("hours_request_new", _l("%(name)s asks for an hour correction for “%(event)s”."))
    register_kind("hours_request_approved", _l("Your hour request for “%(event)s” was approved: %(hours)s h recorded."))
    register_kind("hours_request_rejected", _l("Your hour request for “%(event)s” was rejected: %(reason)s"))
    register_kind("certificate_issued", _l("A service certificate (%(number)s) was issued to you."))

    registry = get_registry(app)
    registry.add_nav(NavItem("hours.mine", _l("My hours"), order=45, visible=lambda user: bool(user.is_authenticated)))
    registry.add_panel(HomePanel("hours/_panel_hours.html", home_hours_panel, order=30))
    registry.add_panel(HomePanel("hours/_panel_leader.html", home_leader_panel, order=35))
    registry.add_slot("event.volunteer", Slot("hours/_slot_volunteer.html", volunteer_slot, order=30))
    registry.add_slot("event.leader", Slot("hours/_slot_leader.html", leader_slot, order=30))
    registry.add_slot("event.summary", Slot("hours/_slot_summary.html", summary_slot, order=30))
    registry.add_slot("my_events.past_row", Slot("hours/_slot_past_row.html", past_row_slot, order=30))
