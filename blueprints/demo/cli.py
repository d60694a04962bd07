"""`flask demo seed [--scale small|city] [--seed N]`."""

from __future__ import annotations

import importlib
import importlib.util
import random
import sys
import time

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from .context import DEMO_PASSWORD, DemoContext

demo_cli = AppGroup("demo", help="Demo data.")

#: blueprints seeded in dependency order; each may provide `<blueprint>/demo.py` with `seed(ctx)`
STEPS = ("orgs", "venues", "teams", "events", "hours", "feedback")


def _steps():
    for name in STEPS:
        module_name = f"blueprints.{name}.demo"
        if importlib.util.find_spec(module_name) is not None:
            yield name, importlib.import_module(module_name)


def has_data() -> bool:
    from blueprints.core.extensions import db
    from blueprints.orgs.models import Org

    return db.session.scalar(sa.select(sa.func.count()).select_from(Org)) > 0


def run_seed(scale: str = "small", seed: int = 2026, quiet: bool = False) -> DemoContext:
    """Fill an empty database with demo data; returns the context (logins, counts)."""
    from flask import current_app
    from werkzeug.security import generate_password_hash

    from blueprints.core.db import write_intent
    from blueprints.core.extensions import db
    from blueprints.core.timeutil import local_today, utcnow

    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    ctx = DemoContext(
        scale=scale,
        seed=seed,
        today=local_today(),
        now=utcnow(),
        rng=random.Random(seed),
        password_hash=generate_password_hash(DEMO_PASSWORD, method=method),
    )
    with write_intent():
        for name, module in _steps():
            started = time.perf_counter()
            ctx.rng = random.Random(f"{seed}:{name}")
            module.seed(ctx)
            db.session.commit()
            if not quiet:
                click.echo(f"  {name:<10} {time.perf_counter() - started:6.1f} s", err=True)
        # bulk-loaded tables have no planner statistics yet; without them PostgreSQL picks bad plans.
        # PostgreSQL: VACUUM too (outside a transaction), which sets the visibility map, so the
        # covering indexes serve index-only scans at once, and autovacuum does not start working
        # through a million fresh rows while the first users (or a benchmark) arrive
        started = time.perf_counter()
        db.session.commit()
        if db.session.get_bind().dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        if not quiet:
            click.echo(f"  {'analyze':<10} {time.perf_counter() - started:6.1f} s", err=True)
    return ctx


def login_table(ctx: DemoContext) -> str:
    lines = ["", f"Demo logins (password for all: {DEMO_PASSWORD})", f"  {'role':<22} {'phone':<13} name"]
    for login in ctx.logins:
        note = f"  — {login.note}" if login.note else ""
        lines.append(f"  {login.role:<22} {login.phone:<13} {login.name}{note}")
    return "\n".join(lines)


def _logins_file():
    from pathlib import Path

    from flask import current_app

    return Path(current_app.instance_path) / "demo_logins.txt"


@demo_cli.command("seed")
@click.option("--scale", type=click.Choice(["small", "city"]), default="small", show_default=True)
@click.option("--seed", "seed_", type=int, default=2026, show_default=True, help="Random seed (same seed, same data).")
@click.option("--if-empty", is_flag=True, help="Do nothing (but print the logins) when data exists.")
def seed_command(scale: str, seed_: int, if_empty: bool) -> None:
    """Load deterministic demo data into an empty database and print the demo logins."""
    if has_data():
        if if_empty:
            path = _logins_file()
            click.echo(path.read_text() if path.exists() else "The database has data; no demo logins on record.")
            return
        click.echo("error: the database already has data; demo data goes into an empty database", err=True)
        sys.exit(1)
    started = time.perf_counter()
    ctx = run_seed(scale, seed_)
    click.echo(
        f"seeded {scale} demo data in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{v} {k}" for k, v in ctx.counts.items())
    )
    table = login_table(ctx)
    _logins_file().write_text(table + "\n")
    click.echo(table)
