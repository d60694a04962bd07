"""The database going away under PostgreSQL: requests fail cleanly with a 503 page, then recover.

The outage is made for this test's database only (connections refused and existing ones
terminated), which is what a restart looks like to the app, without disturbing other databases.
"""

from __future__ import annotations

import time

import pytest
import requests
import sqlalchemy as sa

from blueprints.core.extensions import db
from tests.conftest import PG_URL, _pg_admin_url

pytestmark = pytest.mark.concurrency


def _set_connections(db_name: str, allowed: bool) -> None:
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}'))
        if not allowed:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": db_name}
            )
    admin.dispose()


def test_postgres_outage_gives_503_then_recovers(app, backend, city_tree, live_server):
    if backend != "postgresql" or not PG_URL:
        pytest.skip("PostgreSQL only")
    db.session.commit()
    db.session.remove()
    db.engine.dispose()
    server = live_server(workers=2)
    db_name = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    _set_connections(db_name, allowed=False)
    try:
        statuses = []
        for _ in range(6):
            r = requests.get(server.url + "/orgs/search?org_query=向阳", timeout=20)
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert "try again" in r.text.lower() or "再试" in r.text
        assert set(statuses) == {503}, statuses
    finally:
        _set_connections(db_name, allowed=True)
    deadline = time.monotonic() + 60  # a bound, not a wait: on a loaded machine reconnecting takes a while
    while time.monotonic() < deadline:
        r = requests.get(server.url + "/orgs/search?org_query=向阳", timeout=20)
        if r.status_code == 200:
            break
        time.sleep(0.5)
    assert r.status_code == 200 and "向阳社区" in r.text
