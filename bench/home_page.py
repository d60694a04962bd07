"""The signed-in home page ("/") for every demo role: SQL statements and in-process time.

    .venv/bin/python -m bench.home_page --db sqlite -n 30
    .venv/bin/python -m bench.home_page --url postgresql+psycopg://postgres@127.0.0.1:5432/qingyi_bench

Through the Flask test client in this process with the production config (no TESTING), against the
city database bench/seed_bench.py builds. Each role is signed in on its own client; after three
warm-up views per role, the roles take turns for N rounds (so that a load spike on a shared machine
hits them all alike). Prints per role the statements of one view and the median and 25th percentile
of the N views. Target: at most 8 statements and about 10 ms for every role.
"""

from __future__ import annotations

import argparse
import statistics
import time

import sqlalchemy as sa

from bench.seed_bench import database_url

ROLES = (
    ("anonymous", None),
    ("volunteer", "13800000030"),
    ("leader", "13800000020"),
    ("manager", "13800000010"),
    ("district", "13800000002"),
    ("city", "13800000001"),
    ("admin", "13800000000"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", help="a database URL instead of the bench database")
    parser.add_argument("-n", type=int, default=30)
    args = parser.parse_args(argv)

    from app import create_app
    from blueprints.auth.models import User
    from blueprints.core.extensions import db

    url = args.url or database_url(args.db)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})
    headers = {"Accept-Language": "zh-CN"}
    with app.app_context():
        engine = db.engine
        ids = {phone: db.session.scalar(sa.select(User.id).where(User.phone == phone)) for _r, phone in ROLES if phone}
    clients = {}
    for role, phone in ROLES:
        client = app.test_client()
        if phone:
            with client.session_transaction() as sess:
                sess["_user_id"] = str(ids[phone])
                sess["_fresh"] = True
        clients[role] = client

    log: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            log.append(statement)

    statements: dict[str, int] = {}
    for role, client in clients.items():
        for _ in range(3):
            assert client.get("/", headers=headers).status_code == 200, role
        log.clear()
        sa.event.listen(engine, "before_cursor_execute", before)
        client.get("/", headers=headers)
        sa.event.remove(engine, "before_cursor_execute", before)
        statements[role] = len(log)

    times: dict[str, list[float]] = {role: [] for role in clients}
    for _ in range(args.n):
        for role, client in clients.items():
            started = time.perf_counter()
            client.get("/", headers=headers)
            times[role].append((time.perf_counter() - started) * 1000)

    print(f"{url.split('@')[-1]}: / by role, {args.n} views each")
    for role, values in times.items():
        values.sort()
        print(
            f"  {role:10} {statements[role]:2} statements  median {statistics.median(values):6.1f} ms"
            f"  p25 {values[len(values) // 4]:6.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
