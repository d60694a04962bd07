"""`flask db backup FILE`: a copy that restores with every row."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in db.metadata.sorted_tables
        }


def test_backup_and_restore_finds_every_row(app, runner, backend, city_tree, make_user, make_coordinator, tmp_path):
    for i in range(5):
        make_user(name=f"用户{i}", org=city_tree["c1"])
    make_coordinator(city_tree["d1"])
    db.session.commit()
    target = tmp_path / "backup.dump"
    result = runner.invoke(args=["db", "backup", str(target)])
    if backend == "postgresql" and shutil.which("pg_restore") is None:
        pytest.skip("pg_restore is not installed")
    assert result.exit_code == 0, result.output
    before = _counts(db.engine)
    assert before["users"] == 6 and before["orgs"] == 7
    if backend == "sqlite":
        restored = sa.create_engine(f"sqlite:///{target}")
        assert _counts(restored) == before
        restored.dispose()
        return
    # PostgreSQL: restore into a fresh database and compare
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"{url.database}_restore"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        plain = url.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
        subprocess.run(["pg_restore", "--no-owner", "--dbname", plain, str(target)], check=True, capture_output=True)
        restored = sa.create_engine(url.set(database=name))
        assert _counts(restored) == before
        restored.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
