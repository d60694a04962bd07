"""Several processes approving overlapping requests at once: exactly one approved per slot, the others
told why, never a 5xx — on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import time as clock
from concurrent.futures import ThreadPoolExecutor
from datetime import time, timedelta
from threading import Barrier

import pytest
import sqlalchemy as sa

from blueprints.core.db import SQLITE_BUSY_TIMEOUT_MS
from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.venues.models import Booking
from blueprints.venues.services import SLOT_TAKEN_NOTE
from tests.fixtures.core import PASSWORD
from tests.fixtures.venues import future_day
from tests.support.live import signed_in_session

from . import _race_worker

pytestmark = pytest.mark.concurrency

SLOTS = 3
APPROVERS = 4
#: overlapping variations of one slot: every pair overlaps
SHAPES = ((time(9), time(11)), (time(9, 30), time(11, 30)), (time(10), time(11)), (time(8, 30), time(10, 30)))


def _slots(venue, make_user, make_booking) -> list[list[Booking]]:
    slots = []
    for s in range(SLOTS):
        day = future_day(2 + s)
        slots.append(
            [
                make_booking(venue, make_user(name=f"申请人{s}{i}"), day=day, start=a, end=b, purpose=f"活动{s}-{i}")
                for i, (a, b) in enumerate(SHAPES[:APPROVERS])
            ]
        )
    return slots


def _check_database(slots) -> None:
    db.session.rollback()  # end the test's read snapshot: see what the servers committed
    for requests in slots:
        states = [db.session.get(Booking, b.id) for b in requests]
        approved = [b for b in states if b.state == "approved"]
        assert len(approved) == 1, [b.state for b in states]
        for b in states:
            if b.state != "approved":
                assert b.state == "rejected" and b.decision_note == SLOT_TAKEN_NOTE
    approvals = db.session.scalar(sa.select(sa.func.count()).where(AuditLog.action == "booking.approve"))
    assert approvals == SLOTS


def test_concurrent_approvals_over_http(
    app, city_tree, make_venue, make_manager, make_coordinator, make_user, make_booking, live_server
):
    """4 gunicorn workers; 3 managers and a coordinator each approve a different request of every slot at once."""
    venue = make_venue(org=city_tree["c1"], max_days_ahead=30)
    approvers = [make_manager(venue, name=f"管理员{i}") for i in range(APPROVERS - 1)]
    approvers.append(make_coordinator(city_tree["d1"], name="区团委"))
    slots = _slots(venue, make_user, make_booking)
    db.session.commit()
    server = live_server(workers=4)
    sessions = [[signed_in_session(server.url, a.phone, PASSWORD) for a in approvers] for _ in range(SLOTS)]
    ids = [[b.id for b in requests] for requests in slots]
    barrier = Barrier(SLOTS * APPROVERS)

    def approve(s: int, i: int):
        session = sessions[s][i]
        booking_id = ids[s][i]
        barrier.wait(timeout=30)
        response = session.post(
            f"{server.url}/venues/bookings/{booking_id}/approve",
            headers={"HX-Request": "true", "Accept-Language": "en"},
            timeout=30,
        )
        return s, response.status_code, response.text

    started = clock.monotonic()
    with ThreadPoolExecutor(max_workers=SLOTS * APPROVERS) as pool:
        results = list(pool.map(lambda si: approve(*si), [(s, i) for s in range(SLOTS) for i in range(APPROVERS)]))
    elapsed = clock.monotonic() - started
    assert elapsed < 30, f"approvals took {elapsed:.1f} s"
    assert all(code < 500 for _s, code, _t in results), [(c, t[:200]) for _s, c, t in results if c >= 500]
    for s in range(SLOTS):
        codes = sorted(code for slot, code, _t in results if slot == s)
        assert codes == [200] + [409] * (APPROVERS - 1), codes
    for _s, code, text in results:
        if code == 409:  # told why, in words
            assert "This request was already rejected: time slot taken." in text or "just taken" in text, text[:300]
        else:
            assert "Approved:" in text
    _check_database(slots)


def _run_processes(target, args_list) -> list[tuple]:
    # Each process has its own app and connections, none inherited from this test's process: forked from a
    # fresh server process that imported the app once (per test process), not spawned to import it again
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["app", "tests.conftest", _race_worker.__name__])
    barrier = ctx.Barrier(len(args_list))
    results = ctx.Queue()
    processes = [ctx.Process(target=target, args=(*args, barrier, results)) for args in args_list]
    for p in processes:
        p.start()
    out = [results.get(timeout=240) for _ in processes]  # a spawned process imports the app first: generous
    for p in processes:
        p.join(timeout=30)
        assert p.exitcode == 0
    return out


def test_concurrent_approvals_in_processes(app, db_url, make_venue, make_manager, make_user, make_booking):
    """A pool of processes, each with its own engine, calls the approval service for overlapping requests."""
    venue = make_venue()
    manager = make_manager(venue)
    requests = [make_booking(venue, make_user(name=f"申请人{i}"), start=a, end=b) for i, (a, b) in enumerate(SHAPES)]
    db.session.commit()
    out = _run_processes(_race_worker.approve_in_process, [(db_url, b.id, manager.id) for b in requests])
    # once the processes met at the barrier, no approval waited out a lock (each process times its own
    # approval from the barrier: starting the processes, which import the app, is not the database's time)
    assert max(seconds for _id, _state, _m, seconds in out) < SQLITE_BUSY_TIMEOUT_MS / 1000, out
    outcomes = sorted(state for _id, state, _m, _t in out)
    assert outcomes == ["approved"] + ["refused"] * (len(SHAPES) - 1), out
    for _id, state, message, _t in out:
        if state == "refused":
            assert message in (
                "This request was already rejected: time slot taken.",
                "That time slot was just taken by another approved booking. Nothing was changed.",
            )
    db.session.rollback()
    states = [db.session.get(Booking, b.id).state for b in requests]
    assert states.count("approved") == 1 and states.count("rejected") == len(SHAPES) - 1


def test_database_alone_refuses_overlapping_approvals(app, db_url, backend, make_venue, make_user, make_booking):
    """No service, no lock: bare UPDATEs from several processes. The exclusion constraint (PostgreSQL) or
    the trigger (SQLite) lets exactly one through; the others get the overlap error."""
    venue = make_venue()
    requests = [make_booking(venue, make_user(name=f"申请人{i}"), start=a, end=b) for i, (a, b) in enumerate(SHAPES)]
    # a booking of another slot and another venue is not affected
    other = make_booking(make_venue(name="别的青年之家"), start=time(9), end=time(11))
    db.session.commit()
    out = _run_processes(_race_worker.raw_approve_in_process, [(db_url, b.id) for b in [*requests, other]])
    by_id = {booking_id: state for booking_id, state, _m in out}
    assert by_id.pop(other.id) == "approved"
    outcomes = list(by_id.values())
    assert outcomes.count("approved") == 1, out
    # refused by the overlap check; on PostgreSQL two checks waiting on each other may end in a detected
    # deadlock instead — refused all the same (this is why the service takes the venue's row lock first)
    refused = {"overlap", "deadlock"} if backend == "postgresql" else {"overlap"}
    assert set(outcomes) - {"approved"} <= refused, out
    db.session.rollback()
    approved = db.session.scalars(
        sa.select(Booking.id).where(Booking.venue_id == venue.id, Booking.state == "approved")
    ).all()
    assert len(approved) == 1


def test_trigger_also_guards_moving_an_approved_booking(app, make_venue, make_booking):
    """UPDATE of the times (not only the state) is checked too."""
    from sqlalchemy.exc import IntegrityError

    venue = make_venue()
    make_booking(venue, start=time(9), end=time(10), state="approved")
    later = make_booking(venue, start=time(11), end=time(12), state="approved")
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.execute(
                sa.update(Booking).where(Booking.id == later.id).values(starts_at=later.starts_at - timedelta(hours=2))
            )
    db.session.rollback()
