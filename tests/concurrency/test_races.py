"""The race suite across processes and instances: seats, waitlist, bookings, check-in storms.

Real gunicorn servers (PostgreSQL: two instances x two sync workers on one database, as two
machines behind a proxy would be; SQLite: one instance x four workers), bounded traffic from
several client processes, each volunteer with a signed-in session and a real CSRF token; a
client's consecutive requests alternate between the instances. After each scenario every database
invariant is checked (see _race.violations) and no answer may be a 5xx. Each scenario prints

    <scenario> <backend>: requests=N successes=N refusals=N violations=0 5xx=0 ...

and appends it to /tmp/qingyi-race-results.txt (QINGYI_RACE_RESULTS).
"""

from __future__ import annotations

from collections import Counter
from datetime import time as clock
from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import utcnow
from blueprints.events.models import Event, Registration
from blueprints.hours.tokens import scan_token
from blueprints.notifications.models import Notification
from blueprints.venues.models import Booking
from blueprints.venues.services import SLOT_TAKEN_NOTE
from tests.fixtures.venues import future_day

from ._race import (
    SCENARIO_LIMIT,
    Action,
    count_5xx,
    create_volunteers,
    describe,
    report,
    run_clients,
    violations,
)

pytestmark = pytest.mark.concurrency


def _registrations(event_id: int) -> dict[int, tuple[str, int | None]]:
    db.session.rollback()
    rows = db.session.execute(
        sa.select(Registration.user_id, Registration.state, Registration.waitlist_position).where(
            Registration.event_id == event_id, Registration.state != "cancelled"
        )
    ).all()
    return {u: (s, p) for u, s, p in rows}


def _interleave(pairs: list[tuple[int, int, Action]], processes: int) -> list[list[Action]]:
    """(process, order, action) -> plans, each sorted by order (twin taps fire at about the same moment)."""
    plans: list[list[tuple[int, Action]]] = [[] for _ in range(processes)]
    for proc, order, action in pairs:
        plans[proc].append((order, action))
    return [[a for _o, a in sorted(p, key=lambda x: x[0])] for p in plans]


# --- seats ------------------------------------------------------------------------------------------

SEATS = 50
REGISTRANTS = 200
SEAT_PROCESSES = 8


def test_seat_race(app, cluster, city_tree, make_team, make_event):
    """200 volunteers tap Register for 50 seats at once; 40 of them tap twice (from two processes and,
    on PostgreSQL, usually two instances). Exactly 50 seats, 150 on the waitlist at 1..150, one place
    per volunteer; the second taps are refused in words."""
    team = make_team(org=city_tree["c1"])
    event = make_event(team=team, capacity=SEATS, starts_in=timedelta(days=2), hours=3)
    users = create_volunteers(REGISTRANTS, "1361000", city_tree["c1"].id)
    phones = sorted(users)
    c = cluster()
    path = f"/events/{event.id}/register"
    pairs = []
    for i, phone in enumerate(phones):
        pairs.append((i % SEAT_PROCESSES, i // SEAT_PROCESSES, Action(phone, path, "register")))
        if i % 5 == 0:  # a twin tap from another process at the same moment
            pairs.append(((i + 3) % SEAT_PROCESSES, i // SEAT_PROCESSES, Action(phone, path, "twin")))
    outcomes, elapsed = run_clients(c, _interleave(pairs, SEAT_PROCESSES))

    statuses = Counter(o[2] for o in outcomes)
    found = violations()
    regs = _registrations(event.id)
    confirmed = [u for u, (s, _p) in regs.items() if s == "confirmed"]
    waiting = sorted(p for s, p in regs.values() if s == "waitlisted")
    if len(confirmed) != SEATS:
        found.append(f"{len(confirmed)} confirmed, expected {SEATS}")
    if waiting != list(range(1, REGISTRANTS - SEATS + 1)):
        found.append(f"waitlist positions {waiting}")
    if set(regs) != set(users.values()):
        found.append(f"{len(regs)} volunteers hold a place, expected {REGISTRANTS}")
    report("seats", c, outcomes, statuses[303], statuses[409], found, elapsed, seats=SEATS)

    assert count_5xx(outcomes) == 0, describe([o for o in outcomes if o[2] >= 500])
    assert not found, found
    assert len(outcomes) == REGISTRANTS + REGISTRANTS // 5
    assert statuses == {303: REGISTRANTS, 409: REGISTRANTS // 5}, statuses
    for o in outcomes:
        if o[2] == 409:
            assert "You are already registered" in o[3] or "already on the waitlist" in o[3], o[3][:500]
    assert elapsed < SCENARIO_LIMIT, f"{elapsed:.1f} s"


# --- waitlist promotion under cancellations ---------------------------------------------------------

CAPACITY = 40
QUEUE = 80
NEWCOMERS = 20
WAIT_PROCESSES = 8


def test_waitlist_promotion_under_concurrent_cancellations(app, cluster, city_tree, make_team, make_event):
    """40 seats taken, 80 waiting. At once: 20 seated and 20 waiting volunteers cancel (10 of them
    twice), 20 newcomers register. Exactly 20 move up, taken from the head of the queue in order;
    everyone else keeps their order at 1..n, newcomers behind; the twin cancels are refused."""
    team = make_team(org=city_tree["c1"])
    event = make_event(team=team, capacity=CAPACITY, starts_in=timedelta(days=2), hours=2)
    users = create_volunteers(CAPACITY + QUEUE + NEWCOMERS, "1362000", city_tree["c1"].id)
    ids = [users[p] for p in sorted(users)]
    seated, queue, newcomers = ids[:CAPACITY], ids[CAPACITY : CAPACITY + QUEUE], ids[CAPACITY + QUEUE :]
    for uid in seated:
        db.session.add(Registration(event_id=event.id, user_id=uid, state="confirmed"))
    for pos, uid in enumerate(queue, start=1):
        db.session.add(Registration(event_id=event.id, user_id=uid, state="waitlisted", waitlist_position=pos))
    event.confirmed_count, event.waitlist_count = CAPACITY, QUEUE
    db.session.commit()
    phone_of = {uid: phone for phone, uid in users.items()}
    leaving_seated = seated[:20]
    leaving_queue = queue[::4]  # positions 1, 5, 9, ... 77: the head and all along the queue
    twins = leaving_seated[:5] + leaving_queue[:5]
    cancel = f"/events/{event.id}/registration/cancel"
    actions = [Action(phone_of[u], cancel, "cancel") for u in leaving_seated + leaving_queue]
    actions += [Action(phone_of[u], f"/events/{event.id}/register", "register") for u in newcomers]
    pairs = [(i % WAIT_PROCESSES, i // WAIT_PROCESSES, a) for i, a in enumerate(actions)]
    for j, u in enumerate(twins):
        i = (leaving_seated + leaving_queue).index(u)
        pairs.append(((i + 3) % WAIT_PROCESSES, i // WAIT_PROCESSES, Action(phone_of[u], cancel, "twin")))
    c = cluster()
    outcomes, elapsed = run_clients(c, _interleave(pairs, WAIT_PROCESSES))

    statuses = Counter(o[2] for o in outcomes)
    found = violations()
    regs = _registrations(event.id)
    stayers = [u for u in queue if u not in leaving_queue]
    states = [regs[u][0] for u in stayers]
    promoted = states.count("confirmed")
    if states != ["confirmed"] * promoted + ["waitlisted"] * (len(stayers) - promoted):
        found.append(f"promotion skipped the queue order: {states}")
    if promoted != len(leaving_seated):
        found.append(f"{promoted} of the queue moved up, expected {len(leaving_seated)}")
    by_position = [u for u, (s, p) in sorted(regs.items(), key=lambda kv: kv[1][1] or 0) if s == "waitlisted"]
    if by_position[: len(stayers) - promoted] != stayers[promoted:]:
        found.append("the remaining queue changed order")
    if set(by_position[len(stayers) - promoted :]) != set(newcomers):
        found.append("newcomers are not behind the queue")
    if any(u in regs for u in leaving_seated + leaving_queue):
        found.append("a cancelled volunteer still holds a place")
    if sum(1 for s, _p in regs.values() if s == "confirmed") != CAPACITY:
        found.append("seats left empty while people wait")
    notified = set(db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "waitlist_promoted")))
    if not set(stayers[:promoted]) <= notified <= set(queue):
        found.append("promotion notices went to the wrong people")
    report("waitlist", c, outcomes, statuses[303], statuses[409], found, elapsed, promoted=promoted)

    assert count_5xx(outcomes) == 0, describe([o for o in outcomes if o[2] >= 500])
    assert not found, found
    assert statuses == {303: len(leaving_seated) + len(leaving_queue) + NEWCOMERS, 409: len(twins)}, statuses
    for o in outcomes:
        if o[2] == 409:
            assert "no place at this event to cancel" in o[3] or "already cancelled" in o[3], o[3][:500]
    assert elapsed < SCENARIO_LIMIT, f"{elapsed:.1f} s"


# --- one volunteer, two overlapping events ---------------------------------------------------------

OVERLAPPERS = 40
OVERLAP_PROCESSES = 8


def test_overlapping_events_tapped_at_once(app, cluster, city_tree, make_team, make_event):
    """40 volunteers each tap Register on two events at overlapping times, from two processes at about the
    same moment (on PostgreSQL usually two instances): each ends with exactly one place, the other tap is
    refused naming the event they hold (the volunteer's lock, taken before the event's)."""
    team = make_team(org=city_tree["c1"])
    first = make_event(team=team, capacity=OVERLAPPERS, starts_in=timedelta(days=3), hours=3)
    second = make_event(team=team, capacity=OVERLAPPERS, starts_in=timedelta(days=3, hours=1), hours=3)
    users = create_volunteers(OVERLAPPERS, "1365000", city_tree["c1"].id)
    phones = sorted(users)
    pairs = []
    for i, phone in enumerate(phones):
        one, other = (first, second) if i % 2 else (second, first)  # half start with each event
        pairs.append((i % OVERLAP_PROCESSES, i, Action(phone, f"/events/{one.id}/register", "register")))
        pairs.append(((i + 3) % OVERLAP_PROCESSES, i, Action(phone, f"/events/{other.id}/register", "other")))
    c = cluster()
    outcomes, elapsed = run_clients(c, _interleave(pairs, OVERLAP_PROCESSES))

    statuses = Counter(o[2] for o in outcomes)
    found = violations()
    held = Counter(
        db.session.scalars(
            sa.select(Registration.user_id).where(
                Registration.event_id.in_((first.id, second.id)), Registration.state != "cancelled"
            )
        )
    )
    if set(held) != set(users.values()):
        found.append(f"{len(set(users.values()) - set(held))} volunteers hold no place")
    if any(n != 1 for n in held.values()):
        found.append(f"{sum(1 for n in held.values() if n > 1)} volunteers hold places at both events")
    report("overlap", c, outcomes, statuses[303], statuses[409], found, elapsed)

    assert count_5xx(outcomes) == 0, describe([o for o in outcomes if o[2] >= 500])
    assert not found, found
    assert statuses == {303: OVERLAPPERS, 409: OVERLAPPERS}, statuses
    for o in outcomes:
        if o[2] == 409:
            assert "which overlaps this event" in o[3], o[3][:500]
    assert elapsed < SCENARIO_LIMIT, f"{elapsed:.1f} s"


# --- overlapping booking approvals ------------------------------------------------------------------

SLOTS = 12
SHAPES = ((clock(9), clock(11)), (clock(9, 30), clock(11, 30)), (clock(10), clock(11)), (clock(8, 30), clock(10, 30)))


def test_overlapping_booking_approvals(
    app, cluster, city_tree, make_venue, make_manager, make_coordinator, make_user, make_booking
):
    """12 slots with 4 overlapping requests each; 2 managers, the district coordinator and an admin each
    approve a different request of every slot at the same moment (8 processes, both instances).
    Exactly one approval per slot; the other requests end rejected as "time slot taken"."""
    venue = make_venue(org=city_tree["c1"], max_days_ahead=30)
    approvers = [
        make_manager(venue, name="管理员甲", phone="13630000001"),
        make_manager(venue, name="管理员乙", phone="13630000002"),
        make_coordinator(city_tree["d1"], name="区团委", phone="13630000003"),
        make_user(name="系统管理员", phone="13630000004", is_admin=True),
    ]
    slots = [
        [
            make_booking(venue, make_user(name=f"申请人{s}{i}"), day=future_day(2 + s), start=a, end=b)
            for i, (a, b) in enumerate(SHAPES)
        ]
        for s in range(SLOTS)
    ]
    # process p: approver p % 4, the even (p < 4) or odd slots; all approvers hit a slot together
    plans = [
        [
            Action(approvers[p % 4].phone, f"/venues/bookings/{slots[s][p % 4].id}/approve", f"slot{s}", htmx=True)
            for s in range(SLOTS)
            if s % 2 == p // 4
        ]
        for p in range(8)
    ]
    c = cluster()
    outcomes, elapsed = run_clients(c, plans)

    statuses = Counter(o[2] for o in outcomes)
    found = violations()
    for s, requests in enumerate(slots):
        states = [db.session.get(Booking, b.id) for b in requests]
        approved = [b for b in states if b.state == "approved"]
        if len(approved) != 1:
            found.append(f"slot {s}: {len(approved)} approved")
        for b in states:
            if b.state != "approved" and not (b.state == "rejected" and b.decision_note == SLOT_TAKEN_NOTE):
                found.append(f"booking {b.id}: {b.state} ({b.decision_note})")
        ok = [o for o in outcomes if o[0] == f"slot{s}" and o[2] == 200]
        if len(ok) != 1:
            found.append(f"slot {s}: {len(ok)} approvers were told it worked")
    approvals = db.session.scalar(sa.select(sa.func.count()).where(AuditLog.action == "booking.approve"))
    if approvals != SLOTS:
        found.append(f"{approvals} approvals in the audit log")
    report("bookings", c, outcomes, statuses[200], statuses[409], found, elapsed, slots=SLOTS)

    assert count_5xx(outcomes) == 0, describe([o for o in outcomes if o[2] >= 500])
    assert not found, found
    assert statuses == {200: SLOTS, 409: SLOTS * 3}, statuses
    for o in outcomes:
        if o[2] == 409:
            assert "already rejected: time slot taken" in o[3] or "just taken" in o[3], o[3][:500]
        else:
            assert "Approved:" in o[3]
    assert elapsed < SCENARIO_LIMIT, f"{elapsed:.1f} s"


# --- check-in storm ---------------------------------------------------------------------------------

REGISTERED = 20
WALK_UPS = 5
SCANS = 4
STORM_PROCESSES = 8


def test_checkin_storm(app, cluster, city_tree, make_team, make_event):
    """20 registered volunteers and 5 walk-ups each scan the QR code 4 times at once (4 sessions in 4
    processes). One check-in per person, each walk-up admitted once to a seat; repeats are told
    they were already checked in."""
    team = make_team(org=city_tree["c1"])
    event = make_event(
        team=team, capacity=30, starts_in=timedelta(minutes=-30), hours=2, allow_walk_ins=True, planned_minutes=120
    )
    users = create_volunteers(REGISTERED + WALK_UPS, "1363000", city_tree["c1"].id)
    phones = sorted(users)
    for phone in phones[:REGISTERED]:
        db.session.add(Registration(event_id=event.id, user_id=users[phone], state="confirmed"))
    event.confirmed_count = REGISTERED
    db.session.commit()
    c = cluster()
    # the QR code's token of this minute (valid for two; opening it keeps it usable for 10 minutes)
    path = f"/hours/scan/{scan_token(event.id, 'in', utcnow())}"
    pairs = [
        ((k + j * 2) % STORM_PROCESSES, k, Action(phone, path, "scan", htmx=True))
        for k, phone in enumerate(phones)
        for j in range(SCANS)
    ]
    # opening the QR link once (as a phone does before it posts) keeps the token usable after sign-in
    outcomes, elapsed = run_clients(c, _interleave(pairs, STORM_PROCESSES), warmups=(path,))

    statuses = Counter(o[2] for o in outcomes)
    first = [o for o in outcomes if "You are checked in" in o[3]]
    again = [o for o in outcomes if "already checked in" in o[3]]
    found = violations()
    regs = db.session.scalars(sa.select(Registration).where(Registration.event_id == event.id)).all()
    if sorted(r.user_id for r in regs) != sorted(users.values()):
        found.append(f"{len(regs)} registrations for {len(users)} people")
    if not all(r.state == "attended" and r.checked_in_at is not None for r in regs):
        found.append("someone who scanned is not checked in")
    if db.session.get(Event, event.id).confirmed_count != REGISTERED + WALK_UPS:
        found.append("walk-ups not counted once each")
    checkins = db.session.scalar(sa.select(sa.func.count()).where(AuditLog.action == "attendance.check_in"))
    if checkins != len(phones):
        found.append(f"{checkins} check-ins for {len(phones)} people")
    for phone in phones:
        mine = [o for o in first if o[1] == phone]
        if len(mine) != 1:
            found.append(f"{phone} was told {len(mine)} times that the check-in worked")
    report("checkin", c, outcomes, len(first), len(again), found, elapsed, people=len(phones))

    assert count_5xx(outcomes) == 0, describe([o for o in outcomes if o[2] >= 500])
    assert not found, found
    assert statuses == {200: len(phones) * SCANS}, (statuses, describe([o for o in outcomes if o[2] != 200]))
    assert len(first) + len(again) == len(outcomes)
    assert elapsed < SCENARIO_LIMIT, f"{elapsed:.1f} s"
