"""Users: register, log in and out, profile, password."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("auth", __name__, url_prefix="/account")


def _user_with_facts(app: Flask):
    """SELECT users.*, <facts> WHERE users.id = :facts_user_id — built once per process."""
    from blueprints.core.registry import facts_columns, get_registry

    registry = get_registry(app)
    statement = registry.facts_statements.get("user")
    if statement is None:
        import sqlalchemy as sa

        from .models import User

        columns = facts_columns(admin=False)
        statement = False
        if columns:
            statement = sa.select(*User.__table__.columns, *columns).where(
                User.id == sa.bindparam("facts_user_id", type_=sa.Integer)
            )
        registry.facts_statements["user"] = statement
    return None if statement is False else statement


def init_app(app: Flask) -> None:
    from blueprints.core.db import adopt, fetch
    from blueprints.core.extensions import db, login_manager
    from blueprints.core.registry import remember_user_facts

    from . import cli, routes  # noqa: F401
    from .models import User

    @login_manager.user_loader
    def load_user(user_id: str):
        """The signed-in user, with the layout's facts about them in the same statement (one round trip
        on every signed-in page instead of two; admins' facts differ and are read when needed)."""
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            return None
        statement = _user_with_facts(app)
        if statement is None:
            user = db.session.get(User, uid)
        else:
            # the row made the session's User without the ORM's loading path (~0.4 ms of every signed-in page)
            rows = fetch(statement, {"facts_user_id": uid})
            user = adopt(User, rows[0]) if rows else None
            if user is not None and user.active and not user.is_admin:
                remember_user_facts(user, rows[0])
        return user if user is not None and user.active else None

    app.register_blueprint(bp)
    app.cli.add_command(cli.users_cli)
