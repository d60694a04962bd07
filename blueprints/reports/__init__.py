"""Coordinator reports: dashboard, hour tallies, exports, annual-target compliance."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("reports", __name__, url_prefix="/reports")


def init_app(app: Flask) -> None:
    from blueprints.core.registry import HomePanel, NavItem, get_registry
    from blueprints.core.translate import lazy_gettext as _l
    from blueprints.orgs.services import is_coordinator

    from . import models, routes  # noqa: F401
    from .cli import reports_cli
    from .routes import home_panel_context

    app.register_blueprint(bp)
    app.cli.add_command(reports_cli)
    registry = get_registry(app)
    registry.add_nav(NavItem("reports.dashboard", _l("Reports"), order=70, visible=is_coordinator))
    registry.add_panel(HomePanel("reports/_home_panel.html", home_panel_context, order=30))
