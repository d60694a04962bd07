"""The signed-in home page ("/") for every demo role: SQL statements and in-process time.

    .venv/bin/python -m bench.home_page --db sqlite -n 30
    .venv/bin/python -m bench.home_page --url postgresql+psycopg://postgres@127.0.0.1:5432/qingyi_bench

Through the Flask test client in this process with the production config (no TESTING), against the
city database bench/seed_bench.py builds. Each role is signed in on its own client; after three
warm-up views per role, the roles take turns for N rounds (so that a load spike on a shared machine
hits them all alike). Prints per role the statements of one view, the median and 25th percentile of
the N views' wall time, and the median CPU time of this process (Python, and SQLite's work) per view;
on a PostgreSQL server of this machine also the server's CPU time per view (its backend's
/proc/PID/stat). CPU time leaves out the waiting for a CPU that a loaded machine adds to wall time.
Target: at most 8 statements and about 10 ms for every role.
"""

from __future__ import annotations

import argparse
import os
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

    backend = None
    if engine.dialect.name == "postgresql":
        with app.app_context():  # one client at a time: the pool hands every request the same connection
            backend = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            db.session.rollback()
    times: dict[str, list[float]] = {role: [] for role in clients}
    cpu: dict[str, list[float]] = {role: [] for role in clients}
    server: dict[str, float] = dict.fromkeys(clients, 0.0)
    for _ in range(args.n):
        for role, client in clients.items():
            server_before = _server_cpu_ms(backend)
            started, started_cpu = time.perf_counter(), time.process_time()
            client.get("/", headers=headers)
            times[role].append((time.perf_counter() - started) * 1000)
            cpu[role].append((time.process_time() - started_cpu) * 1000)
            server[role] += _server_cpu_ms(backend) - server_before

    print(f"{url.split('@')[-1]}: / by role, {args.n} views each")
    for role, values in times.items():
        values.sort()
        line = (
            f"  {role:10} {statements[role]:2} statements  median {statistics.median(values):6.1f} ms"
            f"  p25 {values[len(values) // 4]:6.1f} ms  CPU {statistics.median(cpu[role]):5.1f} ms"
        )
        if backend is not None and os.path.exists(f"/proc/{backend}/stat"):
            line += f" + server {server[role] / args.n:5.1f} ms"
        print(line)
    return 0


def _server_cpu_ms(pid: int | None) -> float:
    """User + system CPU time of a PostgreSQL backend running on this machine (0 when not readable)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    raise SystemExit(main())
