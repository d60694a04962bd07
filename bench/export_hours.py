"""A year's hour tally exported the CLI's way, against the database's own command-line client.

    .venv/bin/python -m bench.export_hours --database-url sqlite:////tmp/qingyi-city.db [--year 2026]

The export runs in a child process (the code path of `flask reports export-hours`:
blueprints.reports.cli.export_hours, CSV to a file) that reports its wall time and its peak
RSS (resource.getrusage). In the same run, `sqlite3 -csv FILE "<SQL>"` prints the same aggregate
(the export's own statement, values inlined: the same rows and cells) to a file; for a PostgreSQL URL, `psql --csv`
does. Each side runs --runs times, alternating; the medians are compared.
Targets: export time ≤ 1.5 × the command-line client's, peak RSS ≤ 100 MB.
Works on whatever data the database holds (build a city with bench/export_seed.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, resource, sys, time
from app import create_app
from blueprints.core.extensions import db
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "bench"})
with app.app_context():
    from flask_babel import force_locale
    from blueprints.reports.cli import export_hours, resolve_org
    from blueprints.reports.periods import Period
    org = resolve_org(int(sys.argv[3]) if sys.argv[3] != "-" else None)
    period = Period.year_of(int(sys.argv[2]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with force_locale("zh_CN"), open(sys.argv[4], "wb") as fh:
        export_hours(org, period, sys.argv[5], fh)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_kb": peak, "before_kb": before}))
"""


def export_sql(url: str, year: int, org_id: int | None) -> tuple[str, str, str]:
    """The export's SQL with its values inlined, and the org's name."""
    from flask_babel import force_locale

    from app import create_app
    from blueprints.core.extensions import db
    from blueprints.reports.cli import resolve_org
    from blueprints.reports.exports import hours_query
    from blueprints.reports.periods import Period
    from blueprints.reports.services import tally_query

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context(), force_locale("zh_CN"):
        org = resolve_org(org_id)
        stmt = hours_query(org, Period.year_of(year))  # the very statement the export streams
        sql = str(stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
        bare = tally_query(org, Period.year_of(year))  # the aggregate alone, cells unformatted
        bare_sql = str(bare.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
        org_name = org.name
        db.session.remove()
        db.engine.dispose()
    return sql, bare_sql, org_name


def run_export(url: str, year: int, org_id: int | None, out: str, fmt: str = "csv") -> dict:
    cmd = [sys.executable, "-c", CHILD, url, str(year), str(org_id) if org_id else "-", out, fmt]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_client(url: str, sql: str, out: str) -> float:
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[1]
        cmd = ["sqlite3", "-csv", path, "PRAGMA case_sensitive_like = ON; " + sql]
    else:
        plain = "postgresql://" + url.split("://", 1)[1]
        cmd = ["psql", plain, "--csv", "-q", "-c", sql]
    started = time.perf_counter()
    with open(out, "wb") as fh:
        subprocess.run(cmd, stdout=fh, check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/qingyi-city.db")
    parser.add_argument("--year", type=int, default=None, help="default: this year")
    parser.add_argument("--org", type=int, default=None, help="default: the top-level organisation")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", default="csv", choices=["csv", "xlsx"])
    args = parser.parse_args(argv)
    year = args.year or time.localtime().tm_year
    client = "sqlite3" if args.database_url.startswith("sqlite") else "psql"
    if not shutil.which(client):
        raise SystemExit(
            f"{client} is not installed (apt-get install -y {'sqlite3' if client == 'sqlite3' else 'postgresql-client'})"
        )
    sql, bare_sql, org_name = export_sql(args.database_url, year, args.org)
    exports, clients, bares, peaks = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        out_export, out_client = os.path.join(tmp, f"export.{args.format}"), os.path.join(tmp, "client.csv")
        for _ in range(args.runs):
            result = run_export(args.database_url, year, args.org, out_export, args.format)
            exports.append(result["seconds"])
            peaks.append(result["peak_kb"] / 1024)
            clients.append(run_client(args.database_url, sql, out_client))
            bares.append(run_client(args.database_url, bare_sql, out_client + ".bare"))
        with open(out_client, "rb") as fh:
            client_rows = sum(1 for _ in fh)
        same = None
        if args.format == "csv" and client == "sqlite3":
            import csv

            with (
                open(out_export, encoding="utf-8-sig", newline="") as a,
                open(out_client, encoding="utf-8", newline="") as b,
            ):
                mine = list(csv.reader(a))[1:]
                theirs = list(csv.reader(b))
            same = mine == theirs
        if args.format == "csv":
            with open(out_export, "rb") as fh:
                export_rows = sum(1 for _ in fh) - 1  # less the header
        else:
            export_rows = client_rows
        size = os.path.getsize(out_export)
    export_s, client_s = statistics.median(exports), statistics.median(clients)
    ratio = export_s / client_s
    bare_s = statistics.median(bares)
    peak = max(peaks)
    print(f"database     {args.database_url}")
    print(f"tally        {org_name}, year {year}: {export_rows:,} volunteers ({client} printed {client_rows:,} rows)")
    print(
        f"export       {export_s:6.2f} s  median of {args.runs} (runs: {', '.join(f'{x:.2f}' for x in exports)}); "
        f"{args.format.upper()} {size / 1e6:.1f} MB"
    )
    if same is not None:
        print(f"content      {'identical rows and cells' if same else 'DIFFERENT'} (export vs {client})")
    print(f"{client:<12} {client_s:6.2f} s  median of {args.runs} (runs: {', '.join(f'{x:.2f}' for x in clients)})")
    print(
        f"{client:<12} {bare_s:6.2f} s  median of {args.runs}, the bare aggregate (cells unformatted); "
        f"export / this = {export_s / bare_s:.2f}"
    )
    print(f"ratio        {ratio:6.2f}   (target ≤ 1.5: {'met' if ratio <= 1.5 else 'NOT met'})")
    print(f"peak RSS     {peak:6.1f} MB (target ≤ 100 MB: {'met' if peak <= 100 else 'NOT met'})")
    return 0 if ratio <= 1.5 and peak <= 100 else 1


if __name__ == "__main__":
    sys.exit(main())
