"""Shared plumbing: extensions, htmx helpers, authorization, time, exports, error pages."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("core", __name__)


def init_app(app: Flask) -> None:
    from . import cli, routes  # noqa: F401

    app.register_blueprint(bp)
    cli.register(app)
