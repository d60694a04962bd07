"""`cluster()`: the race suite's servers against this test's database (stopped after the test)."""

from __future__ import annotations

import pytest

from blueprints.core.extensions import db

from ._race import Cluster, start_cluster


@pytest.fixture
def cluster(app, db_url, backend):
    """Start the servers: PostgreSQL two instances x two sync workers, SQLite one x four.

    Commit the test data first; the test's own connection stays open for checking afterwards.
    """
    started: list[Cluster] = []

    def _start() -> Cluster:
        db.session.commit()
        c = start_cluster(db_url, backend)
        started.append(c)
        return c

    yield _start
    for c in started:
        c.stop()
