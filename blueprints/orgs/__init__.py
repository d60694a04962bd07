"""Organisation tree and coordinator scope."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("orgs", __name__, url_prefix="/orgs")


def init_app(app: Flask) -> None:
    from blueprints.core.registry import NavItem, get_registry
    from blueprints.core.translate import lazy_gettext as _l

    from . import models, routes  # noqa: F401
    from .services import coordinates_fact, is_coordinator

    app.register_blueprint(bp)
    get_registry(app).add_fact("coordinates", coordinates_fact)
    get_registry(app).add_nav(
        NavItem("orgs.index", _l("Organisations"), order=80, visible=is_coordinator, group="admin")
    )
