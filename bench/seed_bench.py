"""Time `flask db upgrade` + `flask demo seed --scale city` on a fresh database.

    .venv/bin/python -m bench.seed_bench --db sqlite        # /tmp/qingyi-city.db (recreated)
    .venv/bin/python -m bench.seed_bench --db postgresql    # database qingyi_bench at 127.0.0.1:5432 (recreated)
    .venv/bin/python -m bench.seed_bench --db sqlite --profile /tmp/seed.prof   # cProfile of the seed

Prints each demo step's time (as the seed command reports it), the total, the row counts and the
machine's load average before and after. Targets: ≤ 180 s on SQLite, ≤ 300 s on PostgreSQL.
The database it leaves behind is the one bench/load.py and bench/explain.py read.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQLITE_PATH = "/tmp/qingyi-city.db"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_NAME = "qingyi_bench"
TARGET_S = {"sqlite": 180, "postgresql": 300}


def database_url(kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{SQLITE_PATH}"
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_NAME}"


def fresh_database(kind: str) -> str:
    """Drop and create the bench database; returns its URL."""
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(SQLITE_PATH + suffix).unlink(missing_ok=True)
        return database_url(kind)
    import sqlalchemy as sa

    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {PG_NAME}"))
    engine.dispose()
    return database_url(kind)


def _env(url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-key"),
        "PYTHONPATH": str(ROOT),
    }


def _load() -> str:
    return "%.2f %.2f %.2f" % os.getloadavg()


def run(kind: str, profile: str | None = None) -> dict:
    url = fresh_database(kind)
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    load_before = _load()
    started = time.perf_counter()
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=_env(url), check=True, capture_output=True)
    upgrade_s = time.perf_counter() - started
    seed_started = time.perf_counter()
    if profile:
        cmd = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "flask", "--app", "app"]
    else:
        cmd = flask
    proc = subprocess.Popen(
        [*cmd, "demo", "seed", "--scale", "city"],
        cwd=ROOT,
        env=_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    steps: list[tuple[str, float]] = []
    summary = ""
    for line in proc.stdout:
        if m := re.match(r"\s+(\w+)\s+([\d.]+) s$", line):
            steps.append((m.group(1), float(m.group(2))))
            print(f"  {m.group(1):<10} {float(m.group(2)):6.1f} s", flush=True)
        elif line.startswith("seeded"):
            summary = line.strip()
    if proc.wait() != 0:
        raise SystemExit(f"seed failed ({proc.returncode})")
    seed_s = time.perf_counter() - seed_started
    total = time.perf_counter() - started
    return {
        "kind": kind,
        "upgrade_s": upgrade_s,
        "steps": steps,
        "seed_s": seed_s,
        "total_s": total,
        "summary": summary,
        "load": f"{load_before} → {_load()}",
    }


def report(result: dict) -> str:
    lines = [
        f"{result['kind']}: db upgrade {result['upgrade_s']:.1f} s",
        *(f"  {name:<10} {secs:6.1f} s" for name, secs in result["steps"]),
        f"  seed total {result['seed_s']:6.1f} s (process start included)",
        f"  total      {result['total_s']:6.1f} s   target ≤ {TARGET_S[result['kind']]} s"
        f"   {'OK' if result['total_s'] <= TARGET_S[result['kind']] else 'MISSED'}",
        f"  load average (1/5/15 min) before → after: {result['load']}",
        f"  {result['summary'][:300]}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--profile", help="write a cProfile of the seed process to this file")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    failed = False
    for kind in kinds:
        result = run(kind, args.profile)
        print(report(result), flush=True)
        failed |= result["total_s"] > TARGET_S[kind]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
