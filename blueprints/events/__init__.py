"""Events, registration with waitlist, weekly activity list, calendar feeds."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("events", __name__, url_prefix="/events")


def init_app(app: Flask) -> None:
    from . import models  # noqa: F401

    app.register_blueprint(bp)
