"""Where one page's time goes: its SQL statements (with their times) and a cProfile of N requests.

    .venv/bin/python -m bench.profile_page --db sqlite /events/?org=1
    .venv/bin/python -m bench.profile_page --db postgresql --phone 13800000030 /hours/mine -n 50

In-process through the Flask test client with the production config (no TESTING), signed in as
the user with --phone (none: signed out), against the city database bench/seed_bench.py builds.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time

import sqlalchemy as sa

from bench.seed_bench import database_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", help="a database URL instead of the bench database")
    parser.add_argument("--phone")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--width", type=int, default=220, help="characters of each statement to print")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="cumulative")
    args = parser.parse_args(argv)

    from app import create_app
    from blueprints.auth.models import User
    from blueprints.core.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": args.url or database_url(args.db),
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
        }
    )
    client = app.test_client()
    headers = {"Accept-Language": "zh-CN", "Accept-Encoding": "gzip"}
    if args.phone:
        with app.app_context():
            uid = db.session.scalar(sa.select(User.id).where(User.phone == args.phone))
        with client.session_transaction() as sess:
            sess["_user_id"] = str(uid)
            sess["_fresh"] = True
    first = client.get(args.path, headers=headers)
    print(f"{args.path}: {first.status_code}, {len(first.data)} bytes sent ({first.headers.get('Content-Encoding')})")

    statements: list[tuple[str, float]] = []

    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        conn.info["t0"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append((statement, time.perf_counter() - conn.info["t0"]))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    started = time.perf_counter()
    client.get(args.path, headers=headers)
    total = time.perf_counter() - started
    sa.event.remove(engine, "before_cursor_execute", before)
    sa.event.remove(engine, "after_cursor_execute", after)
    print(
        f"one request {total * 1000:.1f} ms, {len(statements)} statements, SQL {sum(t for _s, t in statements) * 1000:.1f} ms"
    )
    for statement, seconds in statements:
        print(f"  {seconds * 1000:7.2f} ms  {' '.join(statement.split())[: args.width]}")

    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for _ in range(args.n):
        client.get(args.path, headers=headers)
    profile.disable()
    print(f"{args.n} requests: {(time.perf_counter() - started) / args.n * 1000:.1f} ms each (profiled)")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
    print("\n".join(line[:200] for line in out.getvalue().splitlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
