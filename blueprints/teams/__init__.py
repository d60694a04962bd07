"""Volunteer service teams and membership."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("teams", __name__, url_prefix="/teams")


def init_app(app: Flask) -> None:
    from blueprints.core.registry import NavItem, get_registry
    from blueprints.core.translate import lazy_gettext as _l
    from blueprints.notifications.services import register_kind

    from . import models, routes  # noqa: F401
    from .services import leads_fact, pending_requests_count, team_requests_fact

    register_kind("team_leader_granted", _l("You are now a leader of %(team)s."))
    register_kind("team_join_requested", _l("%(name)s asks to join %(team)s."))
    register_kind("team_join_approved", _l("Your request to join %(team)s was accepted. Welcome!"))
    register_kind("team_join_declined", _l("Your request to join %(team)s was declined."))

    app.register_blueprint(bp)
    registry = get_registry(app)
    registry.add_badge("team_requests", pending_requests_count)
    registry.add_fact("team_requests", team_requests_fact)
    registry.add_fact("leads", leads_fact)
    registry.add_nav(NavItem("teams.index", _l("Teams"), order=30, badge="team_requests"))
