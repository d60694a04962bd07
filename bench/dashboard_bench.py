"""The coordinator dashboard for a whole year of the whole city: median of 20 requests.

    .venv/bin/python -m bench.dashboard_bench --database-url sqlite:////tmp/qingyi-city.db [--live]

By default through the Flask test client in this process, signed in as the first admin; with
--live against gunicorn (2 sync workers, bench/common.Server) signed in as the demo admin
(13800000000 / qingyi2026). Prints the first (cold: nothing cached) request, then the median,
90th percentile and slowest of the next N. Target: median ≤ 200 ms.
Works on whatever data the database holds (build a city with bench/export_seed.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def _target(url: str, org_id: int | None) -> tuple[int, int]:
    """(org id, admin user id)."""
    import sqlalchemy as sa

    from app import create_app
    from blueprints.auth.models import User
    from blueprints.core.extensions import db
    from blueprints.reports.cli import resolve_org

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        org = resolve_org(org_id)
        admin = db.session.scalar(sa.select(User.id).where(User.is_admin.is_(True)).order_by(User.id).limit(1))
        if admin is None:
            raise SystemExit("no admin in this database (flask users create-admin, or the demo seed)")
        result = org.id, admin
        db.session.remove()
        db.engine.dispose()
    return result


def _with_client(url: str, path: str, admin_id: int, n: int, sections: bool = True) -> list[float]:
    from app import create_app
    from blueprints.core.registry import get_registry

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})
    if not sections:
        get_registry(app).dashboard_sections.clear()
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(admin_id)
        sess["_fresh"] = True
    times = []
    for _ in range(n + 1):
        started = time.perf_counter()
        response = client.get(path, headers={"Accept-Language": "zh-CN"})
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code}")
    return times


def _live(url: str, path: str, n: int, phone: str, password: str) -> list[float]:
    from bench.common import Server
    from tests.support.live import signed_in_session

    with Server(url, workers=2) as server:
        session = signed_in_session(server.url, phone, password)
        times = []
        for _ in range(n + 2):  # a cold request for each worker
            started = time.perf_counter()
            response = session.get(server.url + path, timeout=120)
            times.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"GET {path}: {response.status_code}")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/qingyi-city.db")
    parser.add_argument("--year", type=int, default=None, help="default: this year")
    parser.add_argument("--org", type=int, default=None, help="default: the top-level organisation")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--live", action="store_true", help="gunicorn with 2 workers instead of the test client")
    parser.add_argument(
        "--without-sections", action="store_true", help="leave out other blueprints' dashboard sections (test client)"
    )
    parser.add_argument("--phone", default="13800000000")
    parser.add_argument("--password", default="qingyi2026")
    args = parser.parse_args(argv)
    year = args.year or time.localtime().tm_year
    org_id, admin_id = _target(args.database_url, args.org)
    path = f"/reports/?org={org_id}&period=year&year={year}"
    if args.live:
        times = _live(args.database_url, path, args.requests, args.phone, args.password)
        cold, warm = times[:2], times[2:]
    else:
        times = _with_client(args.database_url, path, admin_id, args.requests, not args.without_sections)
        cold, warm = times[:1], times[1:]
    median = statistics.median(warm)
    p90 = sorted(warm)[max(0, int(len(warm) * 0.9) - 1)]
    how = "gunicorn, 2 workers" if args.live else "Flask test client"
    if args.without_sections:
        how += ", without other blueprints' dashboard sections"
    print(f"database   {args.database_url}  ({how})")
    print(f"GET        {path}")
    print(f"cold       {', '.join(f'{c * 1000:.0f} ms' for c in cold)}  (first request of a process: nothing cached)")
    print(
        f"median     {median * 1000:6.1f} ms of {len(warm)} (target ≤ 200 ms: {'met' if median <= 0.2 else 'NOT met'})"
    )
    print(f"p90        {p90 * 1000:6.1f} ms;  slowest {max(warm) * 1000:.1f} ms")
    return 0 if median <= 0.2 else 1


if __name__ == "__main__":
    sys.exit(main())
