"""EXPLAIN (ANALYZE, BUFFERS) of every statement the coordinator dashboard runs for a district.

    .venv/bin/python -m bench.explain                      # PostgreSQL qingyi_bench (bench/seed_bench.py)
    .venv/bin/python -m bench.explain --year 2025 --org 2 --phone 13800000002 [--all-plans]

Requests /reports/?org=<district>&period=year&year=<this year> signed in as the district's
coordinator through the Flask test client on a fresh app (nothing cached: the first, expensive
request), records each statement with its parameters as the driver got them, and runs EXPLAIN
(ANALYZE, BUFFERS) on each. Prints one line per statement (time, rows, the plan's scans) and the
full plan of any statement that scans a big table sequentially; exits 1 if one does.
"""

from __future__ import annotations

import argparse
import re
import sys

import sqlalchemy as sa

from bench.seed_bench import database_url

BIG_TABLES = ("service_records", "registrations", "events", "bookings", "users")


def capture(url: str, path: str, phone: str) -> list[tuple[str, object]]:
    from app import create_app
    from blueprints.auth.models import User
    from blueprints.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})
    client = app.test_client()
    with app.app_context():
        uid = db.session.scalar(sa.select(User.id).where(User.phone == phone))
        engine = db.engine
    with client.session_transaction() as sess:
        sess["_user_id"] = str(uid)
        sess["_fresh"] = True
    statements: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    response = client.get(path, headers={"Accept-Language": "zh-CN"})
    sa.event.remove(engine, "before_cursor_execute", before)
    if response.status_code != 200:
        raise SystemExit(f"GET {path}: {response.status_code}")
    return statements


def explain(url: str, statements: list[tuple[str, object]]) -> list[dict]:
    engine = sa.create_engine(url)
    results = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        for statement, parameters in statements:
            with raw.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = "\n".join(row[0] for row in cur.fetchall())
            raw.rollback()
            seq = sorted({t for t in re.findall(r"Seq Scan on (\w+)", plan) if t in BIG_TABLES})
            scans = sorted(
                set(re.findall(r"((?:Index Only Scan|Index Scan|Bitmap Heap Scan|Seq Scan)[^(]*?) on (\w+)", plan))
            )
            total = re.search(r"Execution Time: ([\d.]+) ms", plan)
            results.append(
                {
                    "statement": " ".join(statement.split()),
                    "plan": plan,
                    "ms": float(total.group(1)) if total else 0.0,
                    "seq_big": seq,
                    "scans": [f"{kind.split(' using ')[0].strip()} {table}" for kind, table in scans],
                }
            )
    engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=database_url("postgresql"))
    parser.add_argument("--org", type=int, help="the district (default: the first district)")
    parser.add_argument("--phone", default="13800000002", help="a coordinator of that district")
    parser.add_argument("--year", type=int)
    parser.add_argument("--all-plans", action="store_true")
    args = parser.parse_args(argv)
    if not args.url.startswith("postgresql"):
        raise SystemExit("EXPLAIN (ANALYZE, BUFFERS) here is PostgreSQL's")
    from blueprints.core.timeutil import local_today

    engine = sa.create_engine(args.url)
    with engine.connect() as conn:
        org = args.org or conn.scalar(sa.text("SELECT id FROM orgs WHERE kind = 'district' ORDER BY id LIMIT 1"))
    engine.dispose()
    from app import create_app

    with create_app({"SQLALCHEMY_DATABASE_URI": args.url, "SECRET_KEY": "bench"}).app_context():
        year = args.year or local_today().year
    path = f"/reports/?org={org}&period=year&year={year}"
    statements = capture(args.url, path, args.phone)
    results = explain(args.url, statements)
    print(f"GET {path} as {args.phone}: {len(results)} SELECT statements (first request, nothing cached)\n")
    bad = 0
    for i, r in enumerate(results, 1):
        flag = "SEQ SCAN OF " + ",".join(r["seq_big"]) if r["seq_big"] else "ok"
        print(f"{i:>2}. {r['ms']:8.2f} ms  {flag:<12}  {r['statement'][:150]}")
        print(f"      scans: {'; '.join(r['scans']) or '—'}")
        if r["seq_big"] or args.all_plans:
            print("\n".join("      | " + line for line in r["plan"].splitlines()))
        bad += bool(r["seq_big"])
    total = sum(r["ms"] for r in results)
    print(f"\n{total:.1f} ms in all; {bad} statement(s) scan a big table ({', '.join(BIG_TABLES)}) sequentially")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
