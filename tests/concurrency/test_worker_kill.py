"""kill -9 of a gunicorn worker in the middle of a load run: no partial write, the rest keep answering.

8 client processes register and cancel in a loop at four upcoming events (few seats, so cancellations
promote from the waitlist) while a leader confirms the hours of four past events (40 attendees each:
40 service records, 40 notifications and an audit entry in one transaction). A few seconds in, a
worker that is serving a request is killed with SIGKILL, three times over the run. Afterwards:

- no 5xx at any time; only the requests the killed workers were serving may fail, at the connection
  level, and every request started after the kills is answered (each instance answers afterwards);
- gunicorn has replaced the workers;
- the database holds no partial write: every seat counted, counters equal row counts, waitlists
  1..n, every service record belongs to an attendance, each event's hours are written all or none
  and the audit's sums equal the ledger's (see _race.violations).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow
from blueprints.demo.bulk import insert_rows
from blueprints.events.models import Event, Registration
from blueprints.hours.models import ServiceRecord
from tests.fixtures.core import PASSWORD

from ._race import CONNECTION_ERROR, count_5xx, create_volunteers, describe, report, violations

pytestmark = pytest.mark.concurrency

PROCESSES = 8
PER_PROCESS = 4
UPCOMING = 4
PAST = 4
ATTENDEES = 40
RUN_SECONDS = 12
#: seconds after the start when a busy worker is killed (PostgreSQL: in turn on each instance); the
#: run goes on for 6 s after the last kill
KILLS_AT = (2, 4, 6)


def _load_client(urls, index, phones, leader, upcoming, past, barrier, results):  # noqa: ANN001
    """Sign in, wait for the others, then register and cancel in turn until the run ends; client
    0..3 also confirms the hours of one past event, at a different moment each."""
    from tests.support.live import signed_in_session

    rng = random.Random(index)
    try:
        sessions = {p: signed_in_session(urls[(index + j) % len(urls)], p, PASSWORD) for j, p in enumerate(phones)}
        boss = signed_in_session(urls[index % len(urls)], leader, PASSWORD) if index < len(past) else None
    except Exception as exc:  # noqa: BLE001 - reported to the test
        barrier.abort()
        results.put(("error", repr(exc)))
        return
    barrier.wait(timeout=180)
    start = time.time()
    confirm_at = start + 1 + 1.5 * index  # 1 s, 2.5 s, 4 s, 5.5 s: some before, some around the kills
    holding: dict[str, int] = {}
    out = []
    k = 0
    while time.time() < start + RUN_SECONDS:
        if boss is not None and time.time() >= confirm_at:
            phone, session, path, tag = leader, boss, f"/hours/events/{past[index]}/hours/confirm", "confirm"
            headers = {"HX-Request": "true"}
            boss = None
        else:
            phone = phones[k % len(phones)]
            session, headers = sessions[phone], {}
            if phone in holding:
                path, tag = f"/events/{holding.pop(phone)}/registration/cancel", "cancel"
            else:
                event_id = rng.choice(upcoming)
                holding[phone] = event_id
                path, tag = f"/events/{event_id}/register", "register"
            k += 1
        server = (index + k) % len(urls)
        began = time.time()
        try:
            r = session.post(urls[server] + path, headers=headers, allow_redirects=False, timeout=60)
            status, text = r.status_code, r.text[:2000]
        except requests.RequestException as exc:
            status, text = CONNECTION_ERROR, repr(exc)
        out.append((tag, phone, status, text, server, began, time.time()))
    results.put(("ok", out))


def _busy_worker(server) -> tuple[int, bool]:  # noqa: ANN001
    """A worker of `server` that is serving a request right now (an accepted connection), else any."""
    workers = server.worker_pids()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( sport = :{server.port} )"], capture_output=True, text=True
        ).stdout
        busy = [pid for pid in workers if f"pid={pid}," in out]
        if busy:
            return busy[0], True
        time.sleep(0.01)
    return workers[0], False


def _past_event(team, i: int) -> Event:  # noqa: ANN001
    ends = (utcnow() - timedelta(days=1 + i)).replace(second=0, microsecond=0)
    from tests.fixtures.events import first_category

    event = Event(
        team_id=team.id,
        org_id=team.org_id,
        category_id=first_category().id,
        title=f"已结束的活动{i}",
        starts_at=ends - timedelta(hours=3),
        ends_at=ends,
        capacity=ATTENDEES,
        confirmed_count=ATTENDEES,
        state="completed",
        planned_minutes=180,
    )
    db.session.add(event)
    db.session.flush()
    return event


def test_kill_a_worker_mid_load(app, cluster, city_tree, make_user, make_team, make_event):
    leader = make_user(name="王队长", phone="13640000001", org=city_tree["c1"])
    team = make_team(org=city_tree["c1"], leader=leader)
    upcoming = [make_event(team=team, capacity=6, starts_in=timedelta(days=2 + i), hours=2).id for i in range(UPCOMING)]
    volunteers = create_volunteers(PROCESSES * PER_PROCESS, "1364100", city_tree["c1"].id)
    attendees = list(create_volunteers(ATTENDEES, "1364200", city_tree["c1"].id).values())
    past = []
    for i in range(PAST):
        event = _past_event(team, i)
        insert_rows(Registration, [{"event_id": event.id, "user_id": u, "state": "attended"} for u in attendees])
        past.append(event.id)
    db.session.commit()
    c = cluster()
    phones = sorted(volunteers)

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_load_client,
            args=(
                c.urls,
                i,
                phones[i * PER_PROCESS : (i + 1) * PER_PROCESS],
                leader.phone,
                upcoming,
                past,
                barrier,
                results,
            ),
        )
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=180)
        started = time.monotonic()
        kills = []  # (server, pid, was serving a request, when)
        for n, at in enumerate(KILLS_AT):
            time.sleep(max(0.0, started + at - time.monotonic()))
            server = c.servers[n % len(c.servers)]
            victim, was_busy = _busy_worker(server)
            os.kill(victim, signal.SIGKILL)
            kills.append((server, victim, was_busy, time.time()))
        answers = [results.get(timeout=120) for _ in procs]
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert not [a for a in answers if a[0] == "error"], answers
    outcomes = [o for _kind, batch in answers for o in batch]

    statuses = Counter(o[2] for o in outcomes)
    broken = [o for o in outcomes if o[2] == CONNECTION_ERROR]
    after = [o for o in outcomes if o[5] > kills[-1][3] + 0.5]

    def replaced() -> bool:
        return all(
            len(s.worker_pids()) == s.workers and not {pid for _s, pid, _b, _t in kills} & set(s.worker_pids())
            for s in c.servers
        )

    deadline = time.monotonic() + 30  # a new worker imports the app: seconds on a loaded machine
    while time.monotonic() < deadline and not replaced():
        time.sleep(0.2)

    found = violations()
    for event_id in past:
        event = db.session.get(Event, event_id)
        records = db.session.scalar(
            sa.select(sa.func.count()).select_from(ServiceRecord).where(ServiceRecord.event_id == event_id)
        )
        if (event.hours_confirmed_at is None and records) or (event.hours_confirmed_at and records != ATTENDEES):
            found.append(f"event {event_id}: {records} records, confirmed at {event.hours_confirmed_at}")
    successes = statuses[303] + statuses[204]
    report(
        "worker-kill",
        c,
        outcomes,
        successes,
        statuses[409],
        found,
        elapsed,
        kills=len(kills),
        busy_when_killed=sum(b for _s, _p, b, _t in kills),
        connection_errors=len(broken),
        after_kills=len(after),
    )

    assert count_5xx(outcomes) == 0, describe([o for o in outcomes if o[2] >= 500])
    assert not found, found
    assert set(statuses) <= {303, 204, 409, CONNECTION_ERROR}, (statuses, describe(outcomes))
    # only what a killed worker was serving fails, and only then
    assert len(broken) <= len(kills), describe(broken)
    assert all(any(abs(o[6] - t) < 2 for _s, _p, _b, t in kills) for o in broken), describe(broken)
    # the remaining workers (and the replacements) keep answering
    assert after and all(o[2] != CONNECTION_ERROR for o in after), describe(after)
    for server in c.servers:  # and each instance answers a page that reads the database
        assert requests.get(server.url + f"/events/{upcoming[0]}", timeout=60).status_code == 200
    assert replaced(), "gunicorn did not replace the killed workers"
    assert sum(1 for o in outcomes if o[0] == "confirm") == PAST
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.id.in_(upcoming))) == UPCOMING
