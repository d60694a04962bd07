"""Machinery of the cross-instance race suite: real gunicorn servers, client processes, invariants.

- `start_cluster(db_url, backend)`: on PostgreSQL two app instances with two sync workers each
  (a stand-in for two machines behind a proxy), on SQLite one instance with four workers.
- `run_clients(cluster, plans)`: one process per plan, each with its own requests.Session per
  volunteer (signed in with a real password and CSRF token); all processes sign in, meet at a
  barrier, then fire their actions; consecutive actions alternate between the instances.
- `violations()`: every database invariant, checked with SQL after the run (a list of findings).
- `report(...)`: the scenario's one line, printed and appended to RESULTS_FILE.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from blueprints.auth.models import User, new_feed_token
from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow
from blueprints.demo.bulk import insert_rows
from tests.fixtures.core import PASSWORD
from tests.support.live import LiveServer

RESULTS_FILE = Path(os.environ.get("QINGYI_RACE_RESULTS", "/tmp/qingyi-race-results.txt"))
SCENARIO_LIMIT = 30  # seconds from the barrier to the last answer
CONNECTION_ERROR = 0  # status recorded when a request failed below HTTP (reset, refused)


# --- servers -------------------------------------------------------------------------------------


@dataclass
class Cluster:
    backend: str
    servers: list[LiveServer]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def shape(self) -> str:
        return "x".join(str(s.workers) for s in self.servers)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_cluster(db_url: str, backend: str) -> Cluster:
    """Start the servers (in parallel: each takes a few seconds to import the app)."""
    layout = [2, 2] if backend == "postgresql" else [4]
    servers = [LiveServer(db_url, workers=n) for n in layout]
    errors: list[BaseException] = []

    def start(server: LiveServer) -> None:
        try:
            server.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cluster = Cluster(backend, servers)
    if errors:
        cluster.stop()
        raise errors[0]
    return cluster


# --- people --------------------------------------------------------------------------------------


def create_volunteers(n: int, prefix: str, org_id: int | None = None) -> dict[str, int]:
    """n volunteers in one bulk insert (one password hash for all): {phone: user_id}."""
    password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    now = utcnow()
    rows = [
        {
            "name": f"并发志愿者{prefix}{i:03d}",
            "phone": f"{prefix}{i:04d}",
            "password_hash": password_hash,
            "home_org_id": org_id,
            "is_admin": False,
            "active": True,
            "created_at": now,
            "feed_token": new_feed_token(),
        }
        for i in range(n)
    ]
    insert_rows(User, rows)
    db.session.commit()
    return dict(db.session.execute(sa.select(User.phone, User.id).where(User.phone.like(f"{prefix}%"))).all())


# --- clients -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One HTTP request of a client: `phone`'s session sends it."""

    phone: str
    path: str
    tag: str = ""
    method: str = "POST"
    htmx: bool = False


#: (tag, phone, status, text, server index, started, ended) — status 0: a connection-level failure
Outcome = tuple


def _client(urls, index, plan, warmups, barrier, results):  # noqa: ANN001
    """One client process: sign in each of its volunteers, warm up, wait for the others, fire."""
    import requests

    from tests.support.live import signed_in_session

    try:
        sessions = {}
        for j, phone in enumerate(dict.fromkeys(a.phone for a in plan)):
            sessions[phone] = signed_in_session(urls[(index + j) % len(urls)], phone, PASSWORD)
            sessions[phone].headers["Accept-Language"] = "en"
            for path in warmups:
                sessions[phone].get(urls[(index + j) % len(urls)] + path, timeout=60)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        barrier.abort()
        results.put(("error", repr(exc)))
        return
    barrier.wait(timeout=180)
    out = []
    for k, action in enumerate(plan):
        server = (index + k) % len(urls)
        headers = {"HX-Request": "true"} if action.htmx else {}
        started = time.time()
        try:
            r = sessions[action.phone].request(
                action.method, urls[server] + action.path, headers=headers, allow_redirects=False, timeout=60
            )
            status, text = r.status_code, r.text[:4000]
        except requests.RequestException as exc:
            status, text = CONNECTION_ERROR, repr(exc)
        out.append((action.tag, action.phone, status, text, server, started, time.time()))
    results.put(("ok", out))


def run_clients(cluster: Cluster, plans: list[list[Action]], warmups: tuple[str, ...] = ()) -> tuple[list, float]:
    """Run one client process per plan; returns (outcomes, seconds from the barrier to the last answer)."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(plans) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(cluster.urls, i, plan, warmups, barrier, results))
        for i, plan in enumerate(plans)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=180)
        started = time.monotonic()
        answers = [results.get(timeout=120) for _ in procs]
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [a[1] for a in answers if a[0] == "error"]
    assert not errors, errors
    outcomes = [o for _kind, batch in answers for o in batch]
    return outcomes, elapsed


def split(actions: list[Action], processes: int) -> list[list[Action]]:
    """Deal actions round-robin to `processes` plans (neighbours run in different processes)."""
    return [actions[i::processes] for i in range(processes)]


# --- invariants ----------------------------------------------------------------------------------


def _rows(sql: str, **params) -> list:
    return db.session.execute(sa.text(sql), params).all()


def violations() -> list[str]:
    """Every invariant the suite promises, checked in the database; returns what is broken."""
    db.session.rollback()  # end the test's snapshot: read what the servers committed
    found: list[str] = []
    # seats: confirmed <= capacity, the counter equals the rows, the waitlist counter too
    for eid, cap, counted, waiting_count, seated, waiting in _rows(
        "SELECT e.id, e.capacity, e.confirmed_count, e.waitlist_count,"
        " (SELECT count(*) FROM registrations r WHERE r.event_id = e.id"
        "   AND r.state IN ('confirmed', 'attended', 'no_show')),"
        " (SELECT count(*) FROM registrations r WHERE r.event_id = e.id AND r.state = 'waitlisted')"
        " FROM events e"
    ):
        if seated > cap:
            found.append(f"event {eid}: {seated} seated > capacity {cap}")
        if counted != seated:
            found.append(f"event {eid}: confirmed_count {counted} != {seated} seated registrations")
        if waiting_count != waiting:
            found.append(f"event {eid}: waitlist_count {waiting_count} != {waiting} waitlisted registrations")
    # one active registration per volunteer and event
    for eid, uid, n in _rows(
        "SELECT event_id, user_id, count(*) FROM registrations WHERE state != 'cancelled'"
        " GROUP BY event_id, user_id HAVING count(*) > 1"
    ):
        found.append(f"event {eid}: user {uid} holds {n} active registrations")
    # waitlist positions 1..n, no gaps, no duplicates
    positions: dict[int, list[int]] = defaultdict(list)
    for eid, pos in _rows(
        "SELECT event_id, waitlist_position FROM registrations WHERE state = 'waitlisted'"
        " ORDER BY event_id, waitlist_position"
    ):
        positions[eid].append(pos)
    for eid, got in positions.items():
        if got != list(range(1, len(got) + 1)):
            found.append(f"event {eid}: waitlist positions {got[:12]}... are not 1..{len(got)}")
    # no two approved bookings of one venue overlap
    for a, b in _rows(
        "SELECT a.id, b.id FROM bookings a JOIN bookings b ON a.venue_id = b.venue_id AND a.id < b.id"
        " WHERE a.state = 'approved' AND b.state = 'approved'"
        " AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at"
    ):
        found.append(f"bookings {a} and {b} are both approved and overlap")
    # one check-in per registration, and it is visible on the registration
    for rid, n in _rows(
        "SELECT object_id, count(*) FROM audit_log WHERE action = 'attendance.check_in'"
        " GROUP BY object_id HAVING count(*) > 1"
    ):
        found.append(f"registration {rid}: {n} check-ins recorded")
    for (rid,) in _rows(
        "SELECT a.object_id FROM audit_log a LEFT JOIN registrations r ON r.id = a.object_id"
        " WHERE a.action = 'attendance.check_in' AND (r.id IS NULL OR r.checked_in_at IS NULL)"
    ):
        found.append(f"registration {rid}: a check-in is logged but not recorded")
    # every service record belongs to an existing attendance; one effective record per person and event
    for (sid,) in _rows(
        "SELECT s.id FROM service_records s LEFT JOIN registrations r ON r.id = s.registration_id"
        " WHERE s.registration_id IS NOT NULL AND (r.id IS NULL OR r.event_id != s.event_id"
        " OR r.user_id != s.volunteer_id OR r.state != 'attended')"
    ):
        found.append(f"service record {sid} does not belong to an attendance")
    for vid, eid, n in _rows(
        "SELECT s.volunteer_id, s.event_id, count(*) FROM service_records s"
        " WHERE NOT EXISTS (SELECT 1 FROM service_records n WHERE n.supersedes_id = s.id)"
        " GROUP BY s.volunteer_id, s.event_id HAVING count(*) > 1"
    ):
        found.append(f"volunteer {vid} has {n} effective records for event {eid}")
    # hours confirmed all at once: the audit's figures equal the records written, none without it
    written = {
        eid: (n, total)
        for eid, n, total in _rows(
            "SELECT event_id, count(*), coalesce(sum(minutes), 0) FROM service_records"
            " WHERE registration_id IS NOT NULL AND supersedes_id IS NULL GROUP BY event_id"
        )
    }
    confirmed_events = {eid for (eid,) in _rows("SELECT id FROM events WHERE hours_confirmed_at IS NOT NULL")}
    audits: dict[int, list] = defaultdict(list)
    for oid, detail in _rows("SELECT object_id, detail FROM audit_log WHERE action = 'hours.confirm'"):
        audits[oid].append(json.loads(detail) if isinstance(detail, str) else detail)
    for eid in set(written) | confirmed_events | set(audits):
        entries = audits.get(eid, [])
        if eid not in confirmed_events and eid in written:
            found.append(f"event {eid}: {written[eid][0]} service records but its hours are not confirmed")
        if eid in confirmed_events and len(entries) != 1:
            found.append(f"event {eid}: hours confirmed with {len(entries)} audit entries")
        if entries and (entries[0].get("records", 0), entries[0].get("minutes", 0)) != written.get(eid, (0, 0)):
            found.append(f"event {eid}: audit says {entries[0]}, the ledger holds {written.get(eid, (0, 0))}")
    return found


# --- reporting -----------------------------------------------------------------------------------


def count_5xx(outcomes: list) -> int:
    return sum(1 for o in outcomes if o[2] >= 500)


def report(
    scenario: str,
    cluster: Cluster,
    outcomes: list,
    successes: int,
    refusals: int,
    found: list[str],
    elapsed: float,
    **extra,
) -> str:
    """Print the scenario's line (visible with -s) and append it to RESULTS_FILE."""
    line = (
        f"{scenario} {cluster.backend}: requests={len(outcomes)} successes={successes} refusals={refusals}"
        f" violations={len(found)} 5xx={count_5xx(outcomes)}"
    )
    details = " ".join(f"{k}={v}" for k, v in extra.items())
    line += f" {details}" if details else ""
    line += f" workers={cluster.shape} seconds={elapsed:.1f}"
    print("\n" + line)
    with RESULTS_FILE.open("a", encoding="utf-8") as fh:
        fh.write(f"{datetime.now():%Y-%m-%d %H:%M} {line}\n")
    return line


def describe(outcomes: list, limit: int = 5) -> str:
    """A few unexpected outcomes, for assertion messages."""
    return "\n".join(f"{o[0]} {o[1]} -> {o[2]}: {o[3][:300]!r}" for o in outcomes[:limit])
