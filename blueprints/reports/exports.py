"""Headers and rows of the report exports, shared by the download routes and `flask reports`.

Rows come straight from the streamed aggregate query (no query per row); headers follow the
current language (Chinese in a Chinese UI, and by default on the command line).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

from flask_babel import format_datetime

from blueprints.core.exports import csv_chunks, neutralise, write_xlsx
from blueprints.core.extensions import db
from blueprints.core.translate import gettext as _
from blueprints.orgs.models import Org

from .periods import Period
from .services import hours_value, iter_events, iter_targets, tally_export_query

#: rows fetched per round trip: a server-side cursor on PostgreSQL, a lazily stepped one on SQLite
STREAM = {"yield_per": 1000}


def hours_header() -> list[str]:
    return [
        _("Name"),
        _("Mobile (masked)"),
        _("Home organisation"),
        _("Teams"),
        _("Events attended"),
        _("Hours"),
        _("Minutes"),
        _("Annual target (hours)"),
        _("Hours this year"),
        _("Annual target met"),
    ]


def hours_query(org: Org, period: Period, team_id=None, sort="hours", descending=True):
    return tally_export_query(org, period, _("Yes"), _("No"), team_id, sort, descending)


def hours_rows(org: Org, period: Period, team_id=None, sort="hours", descending=True) -> Iterator:
    """The tally, one row per volunteer, streamed from a server-side cursor; the cells come ready
    from the database (see services.tally_export_query), so no Python runs per cell."""
    statement = hours_query(org, period, team_id, sort, descending)
    result = db.session.connection().execute(statement, execution_options=STREAM)
    for partition in result.partitions():
        yield from partition


def targets_header() -> list[str]:
    return [
        _("Name"),
        _("Mobile (masked)"),
        _("Home organisation"),
        _("Hours this year"),
        _("Annual target (hours)"),
        _("Hours missing"),
        _("Annual target met"),
    ]


def targets_rows(org: Org, year: int, status="all", sort="missing") -> Iterator[list]:
    yes, no = _("Yes"), _("No")
    for r in iter_targets(org, year, status, sort):
        yield [
            r.name,
            r.phone,
            r.home_org,
            hours_value(r.minutes),
            r.target_hours,
            hours_value(r.missing_minutes),
            yes if r.met else no,
        ]


def events_header() -> list[str]:
    return [
        _("Date"),
        _("Event"),
        _("Category"),
        _("Team"),
        _("Youth home"),
        _("Volunteers"),
        _("Hours"),
        _("People served"),
        _("Satisfaction (1-5)"),
        _("Ratings"),
    ]


def events_rows(org: Org, period: Period, team_id=None, locale="zh_CN") -> Iterator[list]:
    for r in iter_events(org, period, team_id, locale):
        yield [
            format_datetime(r.starts_at, "yyyy-MM-dd HH:mm"),
            r.title,
            r.category,
            r.team,
            r.venue,
            r.volunteers,
            hours_value(r.minutes),
            r.people,
            r.rating if r.rating is not None else "",
            r.ratings,
        ]


def write_export(fmt: str, out: IO[bytes], header: list, rows, sheet_title: str) -> None:
    """Write CSV (UTF-8 with BOM, as core.exports.send_csv) or XLSX to a binary stream."""
    if fmt == "xlsx":
        write_xlsx(out, header, rows, sheet_title)
        return
    for chunk in csv_chunks(header, rows):
        out.write(chunk.encode("utf-8"))


def write_hours_csv(out: IO[bytes], org: Org, period: Period, team_id=None) -> None:
    """The tally as CSV, byte for byte what send_csv makes of hours_rows(), written partition by
    partition with the csv module's C writer (the export's cells need no conversion)."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    text.write("\ufeff")
    writer = csv.writer(text)
    writer.writerow([neutralise(h) for h in hours_header()])
    # Core execution on the session's connection: plain rows, no ORM loading step per row
    result = db.session.connection().execute(hours_query(org, period, team_id), execution_options=STREAM)
    for partition in result.partitions():
        writer.writerows(partition)
    text.flush()
    text.detach()
