"""Youth homes (青年之家): catalogue, opening hours, closures, booking requests and approval."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("venues", __name__, url_prefix="/venues")


def init_app(app: Flask) -> None:
    from . import models  # noqa: F401

    app.register_blueprint(bp)
