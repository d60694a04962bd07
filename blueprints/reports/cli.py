"""`flask reports export-hours`: the hour tally of a period as CSV or XLSX, from the shell."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import click
import sqlalchemy as sa
from flask.cli import AppGroup
from flask_babel import force_locale

from blueprints.core.extensions import db
from blueprints.orgs.models import Org

from .periods import Period, parse_date
from .services import EXPORT_FORMATS

reports_cli = AppGroup("reports", help="Coordinator reports and exports.")


def _date(value: str, name: str):
    try:
        return parse_date(value)
    except ValueError:
        raise click.UsageError(f"{name} must be a date as YYYY-MM-DD (got {value!r})") from None


def resolve_org(org_id: int | None) -> Org:
    """The org given, else the only top-level org."""
    if org_id is not None:
        org = db.session.get(Org, org_id)
        if org is None:
            raise click.UsageError(f"no organisation with id {org_id}")
        return org
    roots = list(db.session.scalars(sa.select(Org).where(Org.parent_id.is_(None)).order_by(Org.id).limit(2)))
    if not roots:
        raise click.UsageError("there are no organisations yet")
    if len(roots) > 1:
        raise click.UsageError("there are several top-level organisations: choose one with --org ID")
    return roots[0]


def export_hours(org: Org, period: Period, fmt: str, target) -> None:  # noqa: ANN001
    """Write the hour tally of `org`'s subtree for `period` to a binary stream (the CLI's code path)."""
    from .exports import hours_header, hours_rows, write_export, write_hours_csv

    if fmt == "csv":
        write_hours_csv(target, org, period)
    else:
        write_export(fmt, target, hours_header(), hours_rows(org, period), sheet_title="hours")


@reports_cli.command("export-hours")
@click.option("--start", required=True, help="First day, YYYY-MM-DD.")
@click.option("--end", required=True, help="Last day (inclusive), YYYY-MM-DD.")
@click.option("--org", "org_id", type=int, help="Organisation id (default: the top-level organisation).")
@click.option("--format", "fmt", default="csv", show_default=True, help="csv or xlsx.")
@click.option("--output", type=click.Path(dir_okay=False), help="File to write (default: standard output).")
@click.option("--locale", type=click.Choice(["zh_CN", "en"]), default="zh_CN", show_default=True)
def export_hours_command(start: str, end: str, org_id: int | None, fmt: str, output: str | None, locale: str):
    """Hour tally per volunteer for a period and an organisation's subtree."""
    fmt = fmt.lower()
    if fmt not in EXPORT_FORMATS:
        raise click.UsageError(f"unknown format {fmt!r}: use csv or xlsx")
    first, last = _date(start, "--start"), _date(end, "--end")
    if first > last:
        raise click.UsageError(f"--start {first} is after --end {last}")
    org = resolve_org(org_id)
    period = Period("custom", first, last)
    with force_locale(locale):
        if output:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(output)), suffix=".part")
            try:
                with os.fdopen(fd, "wb") as fh:
                    export_hours(org, period, fmt, fh)
                os.replace(tmp, output)
            except BaseException:
                os.unlink(tmp)
                raise
            click.echo(f"wrote {output}", err=True)
        elif fmt == "xlsx":
            # a zip needs a seekable file: build it on disk, then copy it out
            with tempfile.TemporaryFile() as fh:
                export_hours(org, period, fmt, fh)
                fh.seek(0)
                shutil.copyfileobj(fh, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            export_hours(org, period, fmt, sys.stdout.buffer)
            sys.stdout.buffer.flush()
