"""Coordinator reports: dashboard, hour tallies, exports, annual-target compliance."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("reports", __name__, url_prefix="/reports")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
