"""`flask users create-admin`."""

from __future__ import annotations

import re
import sys

import click
from flask.cli import AppGroup

users_cli = AppGroup("users", help="User accounts.")


@users_cli.command("create-admin")
@click.option("--phone", required=True, help="Mobile number, the login id.")
@click.option("--name", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_admin(phone: str, name: str, password: str) -> None:
    """Create an admin account, or make an existing account admin."""
    from blueprints.core.audit import record_audit
    from blueprints.core.extensions import db

    from .forms import MIN_PASSWORD, normalise_phone
    from .models import PHONE_PATTERN, User
    from .services import user_by_phone

    phone = normalise_phone(phone)
    if not re.match(PHONE_PATTERN, phone or ""):
        click.echo("error: the phone must be an 11-digit mainland mobile number", err=True)
        sys.exit(2)
    if len(password) < MIN_PASSWORD:
        click.echo(f"error: the password needs at least {MIN_PASSWORD} characters", err=True)
        sys.exit(2)
    user = user_by_phone(phone)
    if user is None:
        user = User(name=name, phone=phone, is_admin=True)
        db.session.add(user)
    user.is_admin = True
    user.set_password(password)
    db.session.flush()
    record_audit(None, "user.admin", user)
    db.session.commit()
    click.echo(f"admin {user.name} ({user.phone}) is ready")
