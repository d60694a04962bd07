"""Volunteer service teams and membership."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("teams", __name__, url_prefix="/teams")


def init_app(app: Flask) -> None:
    from . import models  # noqa: F401

    app.register_blueprint(bp)
