"""`flask i18n …` and `flask db backup`."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

i18n_cli = AppGroup("i18n", help="Translation catalogs.")


@i18n_cli.command("compile")
def compile_command() -> None:
    """Merge translations/<locale>/parts/*.po into the compiled catalog."""
    from .i18n import compile_catalogs

    for path in compile_catalogs():
        click.echo(f"wrote {path}")


@i18n_cli.command("missing")
@click.option("--stub", is_flag=True, help="Print a .po stub of the missing strings to fill in.")
def missing_command(stub: bool) -> None:
    """List strings without a Chinese translation; exit 1 if there are any."""
    from .i18n import missing_messages, po_stub

    missing = missing_messages()
    if stub:
        click.echo(po_stub(missing))
    else:
        for key, where in missing.items():
            click.echo(f"{where[0]}: {key!r}")
    if missing:
        click.echo(f"{len(missing)} untranslated", err=True)
        sys.exit(1)


def register(app: Flask) -> None:
    from flask_migrate.cli import db as db_group

    app.cli.add_command(i18n_cli)
    if "backup" not in db_group.commands:
        db_group.add_command(backup_command)


@i18n_cli.command("add")
@click.argument("part")
@click.argument("tsv", type=click.File("r", encoding="utf-8"))
def add_command(part: str, tsv) -> None:  # noqa: ANN001
    """Add translations to translations/zh_CN/parts/PART.po from a TSV of 'English<TAB>中文' lines."""
    import io

    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    from .i18n import compile_catalogs, parts_dir

    path = parts_dir("zh_CN") / f"{part}.po"
    catalog = Catalog(locale="zh_CN")
    if path.exists():
        with path.open("rb") as fh:
            for message in read_po(fh, locale="zh_CN"):
                if message.id:
                    catalog[message.id] = message
    added = 0
    for lineno, line in enumerate(tsv, 1):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        if line.count("\t") != 1:
            raise click.ClickException(f"line {lineno}: expected 'English<TAB>中文'")
        english, chinese = line.split("\t")
        catalog.add(english, chinese)
        added += 1
    buf = io.BytesIO()
    write_po(buf, catalog, width=0, sort_output=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    compile_catalogs()
    click.echo(f"{added} translations added to {path}")


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, writable=True))
def backup_command(target: str) -> None:
    """Copy the database to TARGET while the app keeps running.

    SQLite: the online backup API (a consistent snapshot, safe under load). PostgreSQL: pg_dump in
    its custom format (restore with pg_restore --clean --dbname URL TARGET).
    """
    import os
    import shutil
    import sqlite3
    import subprocess
    from pathlib import Path

    from flask import current_app
    from sqlalchemy.engine import URL, make_url

    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        source_path = url.database
        if not source_path or source_path == ":memory:":
            raise click.ClickException("an in-memory database cannot be backed up")
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{target}.part"
        src = sqlite3.connect(source_path)
        dst = sqlite3.connect(tmp)
        try:
            with dst:
                src.backup(dst, pages=1024)
        finally:
            dst.close()
            src.close()
        Path(tmp).replace(target)
        click.echo(f"backed up {source_path} to {target}")
        return
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise click.ClickException("pg_dump is not installed; install postgresql-client")
    # the password goes to pg_dump in its environment: on the command line any local user could read it (ps)
    env = {**os.environ, "PGPASSWORD": url.password} if url.password else None
    bare = URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)
    plain = bare.render_as_string(hide_password=False)
    result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [pg_dump, "--format=custom", "--file", target, plain], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        raise click.ClickException(f"pg_dump failed: {result.stderr.strip()}")
    click.echo(f"backed up to {target} (restore: pg_restore --clean --dbname URL {target})")
