"""Users: register, log in and out, profile, password."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("auth", __name__, url_prefix="/account")


def init_app(app: Flask) -> None:
    from blueprints.core.extensions import db, login_manager

    from . import cli, routes  # noqa: F401
    from .models import User

    @login_manager.user_loader
    def load_user(user_id: str):
        try:
            user = db.session.get(User, int(user_id))
        except (TypeError, ValueError):
            return None
        return user if user is not None and user.active else None

    app.register_blueprint(bp)
    app.cli.add_command(cli.users_cli)
