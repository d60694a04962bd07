"""`flask demo seed`: deterministic demo data for every blueprint, at small or city scale."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("demo", __name__)


def init_app(app: Flask) -> None:
    from .cli import demo_cli

    app.cli.add_command(demo_cli)
