"""Build the city-scale database that bench/export_hours.py and bench/dashboard_bench.py read.

    .venv/bin/python -m bench.export_seed --database-url sqlite:////tmp/qingyi-city.db

Organisations and people come from `flask demo seed --scale city` (run_seed("city"), every demo
step that exists). When no demo step has written a service-hour ledger yet, this script adds one
of its own with bulk inserts: 2,000 teams (every volunteer a member of one), 500 youth homes with
opening hours, closures and approved bookings, 20,000 completed events this year, 1,000,000
service records (about 1 % of them corrected, so superseded records exist), people served per
event and some feedback. Deterministic (a fixed random seed). A database that already has service
records is left as it is.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import sqlalchemy as sa

EVENTS = 20_000
RECORDS_PER_EVENT = 50
TEAMS = 2_000
VENUES = 500
BOOKINGS_PER_VENUE = 100


def _app(url: str):
    from app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-secret-key",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


def _count(model) -> int:
    from blueprints.core.extensions import db

    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def _log(msg: str, started: float) -> None:
    print(f"  {msg:<40} {time.perf_counter() - started:7.1f} s", file=sys.stderr, flush=True)


def seed_ledger(events: int = EVENTS, per_event: int = RECORDS_PER_EVENT, seed: int = 2026) -> dict:
    """Bulk-insert teams, youth homes, events and a service-hour ledger for the orgs and users present."""
    from blueprints.auth.models import User
    from blueprints.core.extensions import db
    from blueprints.core.timeutil import local_to_utc, local_today
    from blueprints.demo.bulk import insert_rows, next_id, reset_sequence
    from blueprints.events.models import DEFAULT_CATEGORIES, Event, EventCategory
    from blueprints.feedback.models import Feedback
    from blueprints.hours.models import BENEFICIARY_CATEGORIES, BeneficiaryCount, ServiceRecord
    from blueprints.orgs.models import Org
    from blueprints.teams.models import Membership, Team
    from blueprints.venues.models import Booking, Closure, OpeningHours, Venue

    rng = random.Random(seed)
    started = time.perf_counter()
    now = datetime.now(UTC)
    today = local_today()
    first_day = date(today.year, 1, 1)
    if (today - first_day).days < 60:
        first_day = today - timedelta(days=365)
    span_days = (today - first_day).days

    orgs = db.session.execute(sa.select(Org.id, Org.kind, Org.path)).all()
    by_kind: dict[str, list[int]] = {}
    district_of: dict[int, int] = {}
    for oid, kind, path in orgs:
        by_kind.setdefault(kind, []).append(oid)
        parts = [int(p) for p in path.strip("/").split("/")]
        district_of[oid] = parts[1] if len(parts) > 1 else parts[0]
    team_orgs = by_kind.get("community", []) + by_kind.get("school", [])
    extra = by_kind.get("town", []) or team_orgs
    team_orgs = (team_orgs + extra * ((TEAMS // max(1, len(extra))) + 1))[:TEAMS]
    users = db.session.execute(
        sa.select(User.id, User.home_org_id).where(User.is_admin.is_(False)).order_by(User.id)
    ).all()
    by_district: dict[int, list[int]] = {}
    by_home: dict[int, list[int]] = {}
    for uid, home in users:
        if home is not None:
            by_district.setdefault(district_of.get(home, 0), []).append(uid)
            by_home.setdefault(home, []).append(uid)
    everyone = [u for u, _h in users]

    if not _count(EventCategory):
        insert_rows(
            EventCategory,
            [
                {"id": i + 1, "code": c, "name_zh": zh, "name_en": en, "position": i, "active": True}
                for i, (c, zh, en) in enumerate(DEFAULT_CATEGORIES)
            ],
        )
        reset_sequence(EventCategory)
    category_ids = list(db.session.scalars(sa.select(EventCategory.id)))

    # --- teams and members ---
    tid = next_id(Team)
    team_rows, seen = [], set()
    for i, oid in enumerate(team_orgs):
        name = f"青年志愿服务队{i + 1}"
        if (oid, name) in seen:
            continue
        seen.add((oid, name))
        team_rows.append(
            {
                "id": tid,
                "org_id": oid,
                "name": name,
                "description": "",
                "join_policy": "open",
                "active": True,
                "created_at": now,
            }
        )
        tid += 1
    insert_rows(Team, team_rows)
    reset_sequence(Team)
    teams_at: dict[int, list[int]] = {}
    for row in team_rows:
        teams_at.setdefault(row["org_id"], []).append(row["id"])
    members = []
    mid = next_id(Membership)
    for home, uids in by_home.items():
        tids = teams_at.get(home)
        if not tids:
            continue
        for uid in uids:
            members.append(
                {
                    "id": mid,
                    "team_id": tids[uid % len(tids)],
                    "user_id": uid,
                    "role": "member",
                    "state": "active",
                    "created_at": now,
                    "decided_by_id": None,
                    "decided_at": None,
                }
            )
            mid += 1
    insert_rows(Membership, members)
    reset_sequence(Membership)
    _log(f"{len(team_rows)} teams, {len(members)} members", started)

    # --- youth homes ---
    venue_orgs = (by_kind.get("town", []) + by_kind.get("community", []))[:VENUES]
    vid = next_id(Venue)
    venue_rows, hours_rows, closure_rows, booking_rows = [], [], [], []
    bid = next_id(Booking)
    requester = everyone[0]
    for i, oid in enumerate(venue_orgs):
        venue_rows.append(
            {
                "id": vid,
                "org_id": oid,
                "name": f"青年之家{i + 1}",
                "address": "",
                "description": "",
                "capacity": 40,
                "facilities": "wifi,projector",
                "contact_phone": None,
                "min_duration_minutes": 30,
                "max_duration_minutes": 240,
                "max_days_ahead": 30,
                "min_notice_hours": 2,
                "stars": None,
                "stars_assessed_at": None,
                "active": True,
                "created_at": now,
            }
        )
        for wd in range(1, 7):
            hours_rows.append({"venue_id": vid, "weekday": wd, "opens": dtime(9), "closes": dtime(12)})
            hours_rows.append({"venue_id": vid, "weekday": wd, "opens": dtime(14), "closes": dtime(18)})
        if i % 10 == 0:
            off = first_day + timedelta(days=rng.randrange(max(1, span_days - 7)))
            closure_rows.append(
                {"venue_id": vid, "starts_on": off, "ends_on": off + timedelta(days=6), "reason": "维修"}
            )
        days = rng.sample(range(span_days), min(BOOKINGS_PER_VENUE, span_days))
        for d in days:
            day = first_day + timedelta(days=d)
            start = local_to_utc(day, dtime(rng.choice((9, 14, 15))))
            booking_rows.append(
                {
                    "id": bid,
                    "venue_id": vid,
                    "requester_id": requester,
                    "purpose": "志愿服务活动",
                    "starts_at": start,
                    "ends_at": start + timedelta(hours=2),
                    "attendees": 20,
                    "state": "approved",
                    "decided_by_id": None,
                    "decided_at": now,
                    "decision_note": None,
                    "cancelled_at": None,
                    "created_at": now,
                }
            )
            bid += 1
        vid += 1
    insert_rows(Venue, venue_rows)
    reset_sequence(Venue)
    insert_rows(OpeningHours, hours_rows)
    insert_rows(Closure, closure_rows)
    insert_rows(Booking, booking_rows)
    reset_sequence(Booking)
    _log(f"{len(venue_rows)} youth homes, {len(booking_rows)} bookings", started)

    # --- events ---
    eid = next_id(Event)
    event_rows = []
    for i in range(events):
        team = team_rows[i % len(team_rows)]
        day = first_day + timedelta(days=rng.randrange(span_days))
        start = local_to_utc(day, dtime(rng.choice((9, 10, 14, 15))))
        event_rows.append(
            {
                "id": eid,
                "team_id": team["id"],
                "org_id": team["org_id"],
                "category_id": category_ids[i % len(category_ids)],
                "title": f"志愿服务活动{i + 1}",
                "description": "",
                "starts_at": start,
                "ends_at": start + timedelta(hours=3),
                "booking_id": None,
                "address": "社区活动室",
                "capacity": per_event + 10,
                "confirmed_count": 0,
                "waitlist_count": 0,
                "reg_opens_at": None,
                "reg_closes_at": None,
                "members_only": False,
                "allow_walk_ins": False,
                "planned_minutes": 180,
                "state": "completed",
                "cancel_reason": None,
                "hours_confirmed_at": start + timedelta(hours=4),
                "created_by_id": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        eid += 1
    insert_rows(Event, event_rows)
    reset_sequence(Event)
    _log(f"{len(event_rows)} events", started)

    # --- the ledger, people served, feedback ---
    rid = next_id(ServiceRecord)
    n_records = n_corrections = 0
    benef, feedback = [], []

    def records():
        nonlocal rid, n_records, n_corrections
        for ev in event_rows:
            pool = by_district.get(district_of.get(ev["org_id"], 0)) or everyone
            chosen = rng.sample(pool, min(per_event, len(pool)))
            for uid in chosen:
                minutes = rng.choice((120, 150, 180, 180, 180, 210))
                row = {
                    "id": rid,
                    "volunteer_id": uid,
                    "event_id": ev["id"],
                    "registration_id": None,
                    "minutes": minutes,
                    "source": "leader",
                    "recorded_by_id": None,
                    "reason": None,
                    "supersedes_id": None,
                    "served_at": ev["starts_at"],
                    "org_id": ev["org_id"],
                    "created_at": now,
                }
                yield row
                rid += 1
                n_records += 1
                if rng.random() < 0.01:
                    yield {
                        **row,
                        "id": rid,
                        "minutes": minutes - 30,
                        "source": "correction",
                        "reason": "提前离场",
                        "supersedes_id": row["id"],
                    }
                    rid += 1
                    n_corrections += 1
            for cat in rng.sample(BENEFICIARY_CATEGORIES, 2):
                benef.append(
                    {
                        "event_id": ev["id"],
                        "category": cat,
                        "count": rng.randrange(10, 200),
                        "note": None,
                        "recorded_by_id": None,
                        "updated_at": now,
                    }
                )
            for uid in chosen[:3]:
                feedback.append(
                    {
                        "event_id": ev["id"],
                        "user_id": uid,
                        "rating": rng.choice((3, 4, 4, 5, 5)),
                        "comment": None,
                        "is_public": False,
                        "device_hash": None,
                        "hidden_at": None,
                        "hidden_by_id": None,
                        "created_at": now,
                    }
                )

    insert_rows(ServiceRecord, records(), batch=10_000)
    reset_sequence(ServiceRecord)
    _log(f"{n_records} service records, {n_corrections} corrections", started)
    insert_rows(BeneficiaryCount, benef)
    insert_rows(Feedback, feedback)
    _log(f"{len(benef)} beneficiary counts, {len(feedback)} feedback", started)
    return {"records": n_records, "corrections": n_corrections, "events": len(event_rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/qingyi-city.db")
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--per-event", type=int, default=RECORDS_PER_EVENT)
    args = parser.parse_args(argv)

    from blueprints.core.db import write_intent
    from blueprints.core.extensions import db
    from blueprints.demo.cli import has_data, run_seed
    from blueprints.hours.models import ServiceRecord

    app = _app(args.database_url)
    started = time.perf_counter()
    with app.app_context(), write_intent():
        db.create_all()
        if not has_data():
            print("flask demo seed --scale city", file=sys.stderr)
            run_seed("city")
            _log("demo seed", started)
        if _count(ServiceRecord):
            print("the database already has a service-hour ledger; left as it is", file=sys.stderr)
        else:
            seed_ledger(args.events, args.per_event)
            db.session.commit()
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        else:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
    _log("done", started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
