"""The seat and waitlist invariants under real concurrency: several processes, a real server.

200 volunteers, each in one of 8 client processes, tap "Register" at the same moment against a
gunicorn with 4 worker processes: exactly 50 get a seat and 150 are waitlisted at positions
1..150, no gaps, no duplicates, no 5xx. Then 20 confirmed and 10 waitlisted volunteers cancel at
the same moment: exactly 20 move up (the first 20 of the waitlist), the rest keep their order at
positions 1..120. Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from blueprints.auth.models import User, new_feed_token
from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow
from blueprints.demo.bulk import insert_rows
from blueprints.events.models import Event, Registration
from blueprints.notifications.models import Notification
from tests.fixtures.core import PASSWORD

pytestmark = pytest.mark.concurrency

PROCESSES = 8
VOLUNTEERS = 200
SEATS = 50
TIME_LIMIT = 240  # seconds for the whole test, logins included


def _client_process(base_url, phones, action_path, barrier, results):  # noqa: ANN001
    """One client process: sign its volunteers in, wait for the others, then fire its requests."""
    from tests.support.live import signed_in_session

    outcomes = []
    try:
        sessions = [(phone, signed_in_session(base_url, phone, PASSWORD)) for phone in phones]
        barrier.wait(timeout=120)
        for phone, session in sessions:
            response = session.post(base_url + action_path, allow_redirects=False, timeout=60)
            outcomes.append((phone, response.status_code))
    except Exception as exc:  # noqa: BLE001 - reported to the test process
        outcomes.append(("error", repr(exc)))
    results.put(outcomes)


def _run_concurrently(base_url: str, phones: list[str], action_path: str) -> list[tuple[str, int]]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    chunks = [phones[i::PROCESSES] for i in range(PROCESSES)]
    procs = [
        ctx.Process(target=_client_process, args=(base_url, chunk, action_path, barrier, results)) for chunk in chunks
    ]
    for p in procs:
        p.start()
    outcomes = []
    for _ in procs:
        outcomes.extend(results.get(timeout=TIME_LIMIT))
    for p in procs:
        p.join(timeout=30)
    return outcomes


def _create_volunteers(n: int) -> dict[str, int]:
    """n volunteers in one bulk insert (the password hash computed once): {phone: user_id}."""
    password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    now = utcnow()
    rows = [
        {
            "name": f"并发志愿者{i}",
            "phone": f"1360000{i:04d}",
            "password_hash": password_hash,
            "is_admin": False,
            "active": True,
            "created_at": now,
            "feed_token": new_feed_token(),
        }
        for i in range(n)
    ]
    insert_rows(User, rows)
    db.session.commit()
    return dict(db.session.execute(sa.select(User.phone, User.id).where(User.phone.like("1360000%"))).all())


def _state(event_id: int) -> tuple[Event, list[tuple[int, str, int | None]]]:
    db.session.rollback()  # end this test's read transaction: see what the server processes committed
    event = db.session.get(Event, event_id)
    rows = db.session.execute(
        sa.select(Registration.user_id, Registration.state, Registration.waitlist_position)
        .where(Registration.event_id == event_id)
        .order_by(Registration.id)
    ).all()
    return event, [tuple(r) for r in rows]


def test_concurrent_registrations_and_cancellations_keep_seats_and_waitlist_exact(
    app, backend, live_server, make_event
):
    started = time.monotonic()
    event = make_event(capacity=SEATS, starts_in=timedelta(days=2), hours=3)
    event_id = event.id
    users = _create_volunteers(VOLUNTEERS)
    phones = sorted(users)
    db.session.commit()
    server = live_server(workers=4)

    # --- 200 registrations at once -----------------------------------------------------------
    outcomes = _run_concurrently(server.url, phones, f"/events/{event_id}/register")
    errors = [o for o in outcomes if o[0] == "error"]
    assert not errors, errors
    statuses = [code for _phone, code in outcomes]
    assert len(statuses) == VOLUNTEERS
    assert all(code < 500 for code in statuses), sorted(set(statuses))
    assert set(statuses) == {303}, sorted(set(statuses))

    event, rows = _state(event_id)
    confirmed = [u for u, s, _p in rows if s == "confirmed"]
    waitlisted = sorted((p, u) for u, s, p in rows if s == "waitlisted")
    assert len(rows) == VOLUNTEERS and len(set(u for u, _s, _p in rows)) == VOLUNTEERS
    assert len(confirmed) == SEATS
    assert [p for p, _u in waitlisted] == list(range(1, VOLUNTEERS - SEATS + 1))  # 1..150, no gaps
    assert (event.confirmed_count, event.waitlist_count) == (SEATS, VOLUNTEERS - SEATS)

    # --- 20 confirmed and 10 waitlisted (from the back half) cancel at once ----------------------
    phone_of = {uid: phone for phone, uid in users.items()}
    leaving_confirmed = confirmed[:20]
    leaving_waitlisted = [u for _p, u in waitlisted[100:110]]
    queue_before = [u for _p, u in waitlisted]
    leavers = [phone_of[u] for u in leaving_confirmed + leaving_waitlisted]
    outcomes = _run_concurrently(server.url, leavers, f"/events/{event_id}/registration/cancel")
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    assert {code for _phone, code in outcomes} == {303}

    event, rows = _state(event_id)
    state_of = {u: (s, p) for u, s, p in rows}
    now_confirmed = {u for u, (s, _p) in state_of.items() if s == "confirmed"}
    assert len(now_confirmed) == SEATS
    promoted = now_confirmed - set(confirmed)
    assert promoted == set(queue_before[:20])  # exactly as many as cancelled, from the head of the queue
    remaining = [u for u in queue_before[20:] if u not in leaving_waitlisted]
    assert [state_of[u] for u in remaining] == [("waitlisted", i) for i in range(1, len(remaining) + 1)]
    assert len(remaining) == VOLUNTEERS - SEATS - 20 - 10
    assert (event.confirmed_count, event.waitlist_count) == (SEATS, len(remaining))
    db.session.rollback()
    notified = set(db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "waitlist_promoted")))
    assert notified == promoted
    assert time.monotonic() - started < TIME_LIMIT
