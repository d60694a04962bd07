"""The check-in holds under a storm: the same volunteer scanning several times at once.

A gunicorn with 4 worker processes; 8 client processes, each signed in as the same registered
volunteer (and 8 more as the same walk-up), fire the QR URL at the same moment. Exactly one
check-in is written for each person, the walk-up gets one registration and one seat, no 5xx.
Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import utcnow
from blueprints.events.models import Event, Registration
from blueprints.hours.tokens import scan_token
from tests.fixtures.core import PASSWORD

pytestmark = pytest.mark.concurrency

PROCESSES = 8
SCANS_PER_PROCESS = 2
TIME_LIMIT = 120


def _scanner(base_url, phone, path, barrier, results):  # noqa: ANN001
    """One phone: sign in, wait for the others, then open the scan URL twice in a row."""
    from tests.support.live import signed_in_session

    outcomes = []
    try:
        session = signed_in_session(base_url, phone, PASSWORD)
        session.headers["Accept-Language"] = "en"
        session.get(base_url + path, timeout=30)  # opening the URL shows the page that posts at once
        barrier.wait(timeout=60)
        for _ in range(SCANS_PER_PROCESS):
            response = session.post(base_url + path, headers={"HX-Request": "true"}, timeout=60)
            outcomes.append((phone, response.status_code, response.text[:1500]))
    except Exception as exc:  # noqa: BLE001 - reported to the test process
        outcomes.append((phone, 0, repr(exc)))
    results.put(outcomes)


def test_same_volunteer_scanning_at_once(app, h_world, make_user, live_server):
    world = h_world
    world.event.allow_walk_ins = True
    walk_up = make_user(name="现场志愿者", phone="13655550001")
    world.volunteer.phone = "13655550002"
    db.session.commit()
    server = live_server(workers=4)
    path = f"/hours/scan/{scan_token(world.event.id, 'in', utcnow())}"

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES * 2)
    results = ctx.Queue()
    phones = [world.volunteer.phone, walk_up.phone] * PROCESSES
    procs = [ctx.Process(target=_scanner, args=(server.url, phone, path, barrier, results)) for phone in phones]
    for proc in procs:
        proc.start()
    outcomes = []
    for _ in procs:
        outcomes.extend(results.get(timeout=TIME_LIMIT))
    for proc in procs:
        proc.join(timeout=30)

    assert len(outcomes) == len(phones) * SCANS_PER_PROCESS, outcomes
    assert all(status == 200 for _, status, _ in outcomes), [o for o in outcomes if o[1] != 200]
    for phone in (world.volunteer.phone, walk_up.phone):
        texts = [text for p, _, text in outcomes if p == phone]
        assert sum("You are checked in" in t for t in texts) == 1, texts
        assert sum("already checked in" in t for t in texts) == len(texts) - 1

    db.session.commit()  # end the test's read snapshot (SQLite WAL) before looking
    registrations = db.session.scalars(sa.select(Registration).where(Registration.event_id == world.event.id)).all()
    assert sorted(r.user_id for r in registrations) == sorted([world.volunteer.id, walk_up.id])
    assert all(r.checked_in_at is not None and r.state == "attended" for r in registrations)
    assert db.session.get(Event, world.event.id).confirmed_count == 2
    check_ins = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "attendance.check_in")).all()
    assert len(check_ins) == 2
