"""`flask db upgrade` builds the schema on an empty database; `flask db check` finds no drift;
the invariant triggers and constraints exist after the upgrade."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from blueprints.core.models import INVARIANT_DDL
from tests.conftest import PG_URL, ROOT, _pg_admin_url


def _flask(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "migration-test", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _trigger_and_constraint_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = set(conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        else:
            names = set(conn.execute(sa.text("SELECT conname FROM pg_constraint WHERE contype = 'x'")).scalars())
            names |= set(conn.execute(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    engine.dispose()
    return names


def _expected_names(dialect: str) -> set[str]:
    import re

    names = set()
    for ddl in INVARIANT_DDL.values():
        for stmt in ddl[dialect]:
            names |= set(re.findall(r"(?:TRIGGER|CONSTRAINT)\s+(\w+)", stmt))
    return names


def _upgrade_then_check(url: str, dialect: str) -> None:
    up = _flask(url, "upgrade")
    assert up.returncode == 0, up.stderr[-3000:]
    check = _flask(url, "check")
    assert check.returncode == 0, (check.stdout + check.stderr)[-3000:]
    missing = _expected_names(dialect) - _trigger_and_constraint_names(url)
    assert not missing, f"invariants missing after upgrade: {missing}"


@pytest.mark.slow
def test_upgrade_and_check_on_sqlite(tmp_path: Path):
    _upgrade_then_check(f"sqlite:///{tmp_path / 'fresh.db'}", "sqlite")


@pytest.mark.slow
def test_upgrade_and_check_on_postgresql():
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"qingyi_migr_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.engine.make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
        _upgrade_then_check(url, "postgresql")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
