"""Service hours: check-in/out, attendance, the append-only ledger, beneficiaries, certificates."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("hours", __name__, url_prefix="/hours")


def init_app(app: Flask) -> None:
    from . import models  # noqa: F401

    app.register_blueprint(bp)
