"""Youth evaluation (青年评议) of events and youth-home star ratings."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("feedback", __name__, url_prefix="/feedback")


def init_app(app: Flask) -> None:
    from . import models  # noqa: F401

    app.register_blueprint(bp)
