"""Youth evaluation (青年评议) of events and youth-home star ratings."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("feedback", __name__, url_prefix="/feedback")


def init_app(app: Flask) -> None:
    from blueprints.core.registry import DashboardSection, HomePanel, NavItem, Slot, get_registry
    from blueprints.core.translate import lazy_gettext as _l
    from blueprints.notifications.services import register_kind
    from blueprints.orgs.services import is_coordinator

    from . import cli, hooks, models, routes, slots  # noqa: F401
    from .services import ASSESSED_KIND, DEFAULT_REASSESS_DAYS, DEFAULT_WINDOW_DAYS, INVITE_KIND

    #: days after an event ends during which it can be rated
    app.config.setdefault("FEEDBACK_WINDOW_DAYS", DEFAULT_WINDOW_DAYS)
    #: a youth home is due for re-assessment this many days after its last one
    app.config.setdefault("FEEDBACK_REASSESS_DAYS", DEFAULT_REASSESS_DAYS)
    #: ratings through the public QR link, per network address and per phone (device cookie)
    app.config.setdefault("FEEDBACK_PUBLIC_LIMIT_IP", "60 per hour")
    app.config.setdefault("FEEDBACK_PUBLIC_LIMIT_DEVICE", "10 per hour")

    app.register_blueprint(bp)
    app.cli.add_command(cli.feedback_cli)

    register_kind(INVITE_KIND, _l("%(event)s is over. How was it? Rate it with 1 to 5 stars by %(until)s."))
    register_kind(ASSESSED_KIND, _l("%(venue)s was assessed: %(stars)s stars."))

    registry = get_registry(app)
    registry.add_nav(
        NavItem("feedback.venues", _l("Youth-home ratings"), order=75, visible=is_coordinator, group="admin")
    )
    registry.add_panel(HomePanel("feedback/_panel_rate.html", slots.home_panel, order=20))
    registry.add_slot("my_events.past_row", Slot("feedback/_slot_rate.html", slots.rate_link))
    registry.add_slot("event.volunteer", Slot("feedback/_slot_rate.html", slots.rate_link, order=60))
    registry.add_slot("event.leader", Slot("feedback/_slot_leader.html", slots.leader_view))
    registry.add_slot("event.summary", Slot("feedback/_slot_summary.html", slots.event_summary))
    registry.add_slot("venue.page", Slot("feedback/_slot_venue.html", slots.venue_page))
    registry.add_dashboard_section(DashboardSection("feedback/_dashboard.html", slots.dashboard, order=60))
