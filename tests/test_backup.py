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


def _restored_engine(app, backend, target, name_suffix: str):
    """An engine on the restored copy, and a function that drops it (PostgreSQL) afterwards."""
    if backend == "sqlite":
        engine = sa.create_engine(f"sqlite:///{target}")
        return engine, engine.dispose
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"{url.database}_{name_suffix}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    plain = url.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    subprocess.run(["pg_restore", "--no-owner", "--dbname", plain, str(target)], check=True, capture_output=True)
    engine = sa.create_engine(url.set(database=name))

    def drop() -> None:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return engine, drop


def test_restored_backup_has_every_blueprints_rows_and_keeps_the_invariants(
    app,
    runner,
    backend,
    city_tree,
    make_user,
    make_venue,
    make_booking,
    make_team,
    make_event,
    h_make_registration,
    h_make_record,
    f_rating,
    tmp_path,
):
    """Rows in the tables of every blueprint survive a backup and restore; so do the database's own
    guards (the append-only ledger, no overlapping approved bookings, the seat counter's CHECK)."""
    from datetime import time, timedelta

    volunteer = make_user(name="备份志愿者", org=city_tree["c1"])
    venue = make_venue(org=city_tree["c1"])
    booking = make_booking(venue, volunteer, start=time(9), end=time(11), state="approved")
    team = make_team(org=city_tree["c1"], members=[volunteer])
    event = make_event(team=team, starts_in=timedelta(days=-2), state="completed", capacity=5)
    h_make_registration(event, volunteer, state="attended")
    record = h_make_record(event, volunteer, minutes=150)
    f_rating(event, volunteer, rating=5, comment="很好")
    db.session.commit()
    if backend == "postgresql" and shutil.which("pg_restore") is None:
        pytest.skip("pg_restore is not installed")
    target = tmp_path / "full.dump"
    result = runner.invoke(args=["db", "backup", str(target)])
    assert result.exit_code == 0, result.output
    before = _counts(db.engine)
    filled = {t for t, n in before.items() if n}
    assert {"users", "venues", "bookings", "teams", "memberships", "events", "registrations"} <= filled
    assert {"service_records", "feedback", "opening_hours"} <= filled

    restored, drop = _restored_engine(app, backend, target, "restore_full")
    try:
        assert _counts(restored) == before
        with restored.connect() as conn:
            minutes = conn.execute(sa.text("SELECT minutes FROM service_records WHERE id = :i"), {"i": record.id})
            assert minutes.scalar() == 150
        refused = [
            ("UPDATE service_records SET minutes = 1 WHERE id = :i", {"i": record.id}, "append_only"),
            ("DELETE FROM service_records WHERE id = :i", {"i": record.id}, "append_only"),
            ("UPDATE events SET confirmed_count = capacity + 1 WHERE id = :i", {"i": event.id}, "seats_within"),
            (
                "INSERT INTO bookings (venue_id, requester_id, purpose, starts_at, ends_at, attendees, state, created_at)"
                " SELECT venue_id, requester_id, purpose, starts_at, ends_at, attendees, 'approved', created_at"
                " FROM bookings WHERE id = :i",
                {"i": booking.id},
                "overlap",
            ),
        ]
        for sql, params, guard in refused:
            with pytest.raises(sa.exc.DBAPIError, match=guard), restored.begin() as conn:
                conn.execute(sa.text(sql), params)
    finally:
        drop()
