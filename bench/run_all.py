"""`make bench`: the city data on SQLite and PostgreSQL, the load benchmark on both, the dashboard's plans.

    .venv/bin/python -m bench.run_all                 # seed each database only when it has no city data
    .venv/bin/python -m bench.run_all --fresh         # seed both anew (and time it: bench/seed_bench.py)
    .venv/bin/python -m bench.run_all --db sqlite     # one database only
    .venv/bin/python -m bench.run_all --markdown      # the tables as Markdown too (for bench/RESULTS.md)

PostgreSQL: 127.0.0.1:5432, user postgres, database qingyi_bench (created here); skipped with a
note when no server answers. Exit status 1 when a target is missed (the tables say which).
"""

from __future__ import annotations

import argparse
import os
import sys

import sqlalchemy as sa

from bench import load, seed_bench


def _has_city(url: str) -> bool:
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            n = conn.scalar(sa.text("SELECT count(*) FROM events"))
        engine.dispose()
        return (n or 0) >= 20_000
    except sa.exc.SQLAlchemyError:
        return False


def _postgres_up() -> bool:
    try:
        engine = sa.create_engine(seed_bench.PG_ADMIN)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.SQLAlchemyError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--fresh", action="store_true", help="seed anew even when the city data is there")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    ok = True
    print(f"load average at the start: {'{:.2f} {:.2f} {:.2f}'.format(*os.getloadavg())} (2 cores)", flush=True)
    for kind in kinds:
        if kind == "postgresql" and not _postgres_up():
            print("postgresql: no server at 127.0.0.1:5432 (user postgres); skipped", flush=True)
            ok = False
            continue
        url = seed_bench.database_url(kind)
        if args.fresh or not _has_city(url):
            print(f"{kind}: seeding the city (flask db upgrade, flask demo seed --scale city) …", flush=True)
            result = seed_bench.run(kind)
            print(seed_bench.report(result), flush=True)
            ok &= result["total_s"] <= seed_bench.TARGET_S[kind]
        else:
            added = seed_bench.sync_indexes(url)
            if added:
                print(f"{kind}: indexes brought in line with the models: {', '.join(added)}", flush=True)
        print(f"{kind}: load benchmark (wrk -t2 -c32 -d{args.duration}s per scenario) …", flush=True)
        result = load.run(kind, args.duration)
        text, passed = load.table(result)
        print(text, flush=True)
        if args.markdown:
            print("\n" + load.table(result, markdown=True)[0] + "\n", flush=True)
        ok &= passed
    if "postgresql" in kinds and _postgres_up():
        from bench import explain

        print("\npostgresql: the dashboard's statements for a district, EXPLAIN (ANALYZE) …", flush=True)
        ok &= explain.main([]) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
