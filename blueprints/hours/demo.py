"""Demo attendance, service hours (the ledger), corrections, requests (补录申请), people served and a
certificate, so "my hours", the event summaries and certificates have content.

Runs after the events step and reads from ctx.data: past_event_ids, past_registrations,
past_registration_id_range, leader_ids, member_ids_by_team, main_team_id, volunteer_ids,
category_ids, team_org.

- Attendance of the past events: about 1 in 13 confirmed people is a no-show, the rest attended;
  most of them checked in and out (small scale), so hours come from the times.
- The hours of every past event are confirmed (service records written by the rules the org sets:
  rounding, cap, minimum attendance), except the latest past event of the main team with people on
  its roster, which waits for its leader (13800000020) to confirm — with one person who forgot to
  check out and some not marked yet.
- An archive of earlier service: completed events of each team over the previous year with their
  attendance and records, so lifetime totals and star levels mean something. City scale tops the
  ledger up to 1,000,000 service records.
- A few corrections (superseding records with a reason), pending / approved / rejected requests
  (the demo volunteer 13800000030 has one pending), people served per event, and one certificate
  for the demo volunteer (this year so far; last year while this year has no service yet).

City scale keeps the archive as ledger rows only (no roster rows for the archive events), and
builds the ledger's secondary indexes after the bulk load.

Adds to ctx.data:
- archive_event_ids: the archive events added here (completed, hours confirmed)
- unconfirmed_event_ids: past events whose hours are still to be confirmed
- service_record_count: rows in service_records after this step
"""

from __future__ import annotations

import contextlib
from datetime import date, time, timedelta

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.timeutil import local_to_utc, to_local
from blueprints.demo.bulk import insert_rows, next_id, reset_sequence
from blueprints.events.models import Event, Registration
from blueprints.orgs.models import Org
from blueprints.orgs.services import effective_settings

from .models import BENEFICIARY_CATEGORIES, BeneficiaryCount, Certificate, CorrectionRequest, ServiceRecord
from .services import counted_minutes

CITY_RECORDS = 1_000_000
ARCHIVE_TITLES = (
    "七彩假期·四点半课堂",
    "敬老院探访",
    "社区环境整治",
    "河小青护河行动",
    "社区青年读书会",
    "应急救护培训",
    "垃圾分类宣传站",
    "关爱留守儿童陪伴日",
    "文明交通劝导",
    "植树护绿",
)
CORRECTION_REASONS = (
    "签到机故障，按签到表更正",
    "提前到场布置会场，补计半小时",
    "中途离场，按实际服务时间更正",
    "队长核对签到表后更正",
)
REQUEST_MESSAGES = (
    "我提前半小时到场帮忙布置，签到时手机没电了。",
    "活动结束后留下来整理物资，签退晚了没扫上码。",
    "那天我参加了服务，但是忘记签到了，队友可以作证。",
    "签退时二维码过期了，实际服务到活动结束。",
)
START_TIMES = (time(9), time(14), time(15), time(19))
SERVED_NOTES = ("留守儿童为主", "社区独居老人", "含残疾人家庭 3 户", "周边居民", None, None, None)


def seed(ctx) -> None:  # noqa: ANN001
    data = ctx.data
    past_ids = list(data.get("past_event_ids") or [])
    if not past_ids:
        return
    rng = ctx.rng
    events = _load_events(past_ids)
    settings = _SettingsCache()
    leaders = data.get("leader_ids", {})
    main_team = data.get("main_team_id")
    past_registrations = data.get("past_registrations") or []
    unconfirmed = _unconfirmed_events(events, main_team, {eid for _rid, eid, _uid in past_registrations})
    data["unconfirmed_event_ids"] = sorted(unconfirmed)

    # --- attendance of the past events (set-based: a million rows at city scale) ---
    lo, hi = data.get("past_registration_id_range", (0, -1))
    db.session.execute(
        sa.update(Registration)
        .where(Registration.id.between(lo, hi), Registration.state == "confirmed")
        .where(Registration.event_id.not_in(unconfirmed) if unconfirmed else sa.true())
        .values(state=sa.case((Registration.id % 13 == 0, "no_show"), else_="attended"))
        .execution_options(synchronize_session=False)
    )
    timed_share = 7 if not ctx.city else 1  # of 10: who checked in and out with the QR code
    times: list[dict] = []
    records: list[dict] = []
    record_id = next_id(ServiceRecord)
    waiting_seen: dict[int, int] = {}  # unconfirmed event -> its registrations seen so far
    for rid, eid, uid in past_registrations:
        event = events.get(eid)
        if event is None:
            continue
        if eid in unconfirmed:
            # the leader still has the roster to finish: every third person is not marked yet, the others
            # checked in, and the first of them forgot to check out (by position, not by id: on any date)
            position = waiting_seen[eid] = waiting_seen.get(eid, -1) + 1
            if position % 3 != 2:
                check_in = event["starts_at"] + timedelta(minutes=rid % 11 - 5)
                check_out = None if position == 0 else event["ends_at"] - timedelta(minutes=rid % 17)
                times.append({"rid": rid, "cin": check_in, "cout": check_out})
            continue
        if rid % 13 == 0:
            continue  # no-show
        rule, min_percent = settings.get(event["org_id"])
        cap = event["planned_minutes"] or event["length"]
        if rid % 10 < timed_share:
            check_in = event["starts_at"] + timedelta(minutes=rng.randint(-15, 20))
            check_out = event["ends_at"] + timedelta(minutes=rng.randint(-40, 15))
            if rid % 29 == 0:
                check_out = check_in + timedelta(minutes=rng.randint(20, 50))  # left early
            times.append({"rid": rid, "cin": check_in, "cout": check_out})
            measured = int((check_out - check_in).total_seconds() // 60)
            source = "checkin"
        else:
            measured, source = cap, "leader"
        minutes = counted_minutes(measured, cap, rule, min_percent)
        if not minutes:
            continue
        records.append(_record(record_id, uid, event, rid, minutes, source, leaders.get(event["team_id"])))
        record_id += 1
    if times:
        table = Registration.__table__
        for start in range(0, len(times), 5000):
            db.session.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("rid"))
                .values(checked_in_at=sa.bindparam("cin"), checked_out_at=sa.bindparam("cout")),
                times[start : start + 5000],
            )
    if unconfirmed:
        # who checked in is present; the roster shows the one who forgot to check out
        db.session.execute(
            sa.update(Registration)
            .where(Registration.event_id.in_(unconfirmed), Registration.checked_in_at.is_not(None))
            .values(state="attended")
            .execution_options(synchronize_session=False)
        )

    # --- the archive: a year of earlier service per team ---
    archive_ids, record_id = _archive(ctx, records, record_id, settings)
    data["archive_event_ids"] = archive_ids

    # --- corrections: superseding records with a reason ---
    corrections = _corrections(ctx, records, record_id)
    record_id += len(corrections)
    with _indexes_built_after(ServiceRecord, ctx.city):
        ctx.counts["service_records"] = insert_rows(ServiceRecord, records) + insert_rows(ServiceRecord, corrections)
    reset_sequence(ServiceRecord)
    data["service_record_count"] = ctx.counts["service_records"]

    confirmed = [eid for eid in past_ids if eid not in unconfirmed] + archive_ids
    for start in range(0, len(confirmed), 5000):
        db.session.execute(
            sa.update(Event)
            .where(Event.id.in_(confirmed[start : start + 5000]))
            .values(hours_confirmed_at=Event.ends_at)
            .execution_options(synchronize_session=False)
        )

    _requests(ctx, records, corrections, leaders, events)
    _beneficiaries(ctx, confirmed)
    _certificate(ctx)


# --- pieces ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _indexes_built_after(model, bulk: bool):  # noqa: ANN001
    """For a bulk load, drop the table's secondary indexes and build them once afterwards (a sort
    instead of a million random B-tree inserts). The same definitions, from the model."""
    indexes = [index for index in model.__table__.indexes if not index.unique] if bulk else []
    connection = db.session.connection()
    for index in indexes:
        index.drop(bind=connection)
    yield
    for index in indexes:
        index.create(bind=connection)


class _SettingsCache:
    """(rounding rule, minimum attendance %) per org, read through the tree once per org."""

    def __init__(self) -> None:
        self.values: dict[int, tuple[str, int]] = {}

    def get(self, org_id: int) -> tuple[str, int]:
        if org_id not in self.values:
            settings = effective_settings(db.session.get(Org, org_id))
            self.values[org_id] = (settings.rounding_rule, settings.min_attendance_percent)
        return self.values[org_id]


def _load_events(ids: list[int]) -> dict[int, dict]:
    events = {}
    for start in range(0, len(ids), 5000):
        rows = db.session.execute(
            sa.select(
                Event.id, Event.team_id, Event.org_id, Event.starts_at, Event.ends_at, Event.planned_minutes
            ).where(Event.id.in_(ids[start : start + 5000]))
        ).all()
        for r in rows:
            events[r.id] = {
                "id": r.id,
                "team_id": r.team_id,
                "org_id": r.org_id,
                "starts_at": r.starts_at,
                "ends_at": r.ends_at,
                "planned_minutes": r.planned_minutes,
                "length": int((r.ends_at - r.starts_at).total_seconds() // 60),
            }
    return events


def _unconfirmed_events(events: dict[int, dict], main_team: int | None, attended: set[int]) -> set[int]:
    """The latest past event of the main team that had people (`attended`: events with confirmed
    registrations) waits for its leader to confirm the hours."""
    mine = [e for e in events.values() if e["team_id"] == main_team and e["id"] in attended]
    if not mine:
        return set()
    return {max(mine, key=lambda e: e["ends_at"])["id"]}


def _record(record_id, volunteer, event, registration, minutes, source, leader, **extra) -> dict:  # noqa: ANN001
    return {
        "id": record_id,
        "volunteer_id": volunteer,
        "event_id": event["id"],
        "registration_id": registration,
        "minutes": minutes,
        "source": source,
        "recorded_by_id": leader,
        "reason": extra.get("reason"),
        "supersedes_id": extra.get("supersedes_id"),
        "served_at": event["starts_at"],
        "org_id": event["org_id"],
        "created_at": event["ends_at"] + timedelta(hours=2),
    }


def _archive(ctx, records: list[dict], record_id: int, settings: _SettingsCache) -> tuple[list[int], int]:  # noqa: ANN001
    """Completed events of the previous year for every team, with attendance and records."""
    data = ctx.data
    members = data.get("member_ids_by_team") or {}
    team_org = data.get("team_org") or {}
    leaders = data.get("leader_ids") or {}
    categories = list((data.get("category_ids") or {}).values())
    if not members or not categories:
        return [], record_id
    # city scale: the archive is the ledger only (records without roster rows), to keep the seed fast
    keep_rosters = not ctx.city
    event_id, registration_id = next_id(Event), next_id(Registration)
    event_rows, registration_rows = [], []
    teams = sorted(members)

    def full() -> bool:  # city scale: stop once the ledger (corrections included) reaches a million
        return ctx.city and len(records) + len(records) // 500 >= CITY_RECORDS

    for round_no in range(40 if ctx.city else 8):
        for team_id in teams:
            people = members[team_id]
            if full() or not people or team_id not in team_org:
                continue
            day = ctx.today - timedelta(days=40 + (round_no * 47 + team_id) % 400)
            start_at = local_to_utc(day, START_TIMES[(team_id + round_no) % 4])
            length = (120, 150, 180, 150)[(team_id + round_no) % 4]
            event = {
                "id": event_id,
                "team_id": team_id,
                "org_id": team_org[team_id],
                "starts_at": start_at,
                "ends_at": start_at + timedelta(minutes=length),
                "planned_minutes": length,
                "length": length,
            }
            # most members come; the leader records attendance on the roster (planned hours)
            came = [u for i, u in enumerate(people) if (i + round_no) % 5 != 4]
            rule, min_percent = settings.get(event["org_id"])
            minutes = counted_minutes(length, length, rule, min_percent) or length
            event_rows.append(
                {
                    "id": event_id,
                    "team_id": team_id,
                    "org_id": event["org_id"],
                    "category_id": categories[(team_id + round_no) % len(categories)],
                    "title": ARCHIVE_TITLES[(team_id * 3 + round_no) % len(ARCHIVE_TITLES)],
                    "description": "往期志愿服务活动（时长已确认）。",
                    "starts_at": event["starts_at"],
                    "ends_at": event["ends_at"],
                    "booking_id": None,
                    "address": f"{data['org_names'].get(event['org_id'], '')}青年之家",
                    "capacity": max(len(came), 1) + 5,
                    "confirmed_count": len(came) if keep_rosters else 0,
                    "waitlist_count": 0,
                    "reg_opens_at": None,
                    "reg_closes_at": None,
                    "members_only": False,
                    "allow_walk_ins": False,
                    "planned_minutes": length,
                    "state": "completed",
                    "cancel_reason": None,
                    "hours_confirmed_at": event["ends_at"] + timedelta(hours=3),
                    "created_by_id": leaders.get(team_id),
                    "created_at": event["starts_at"] - timedelta(days=10),
                    "updated_at": event["ends_at"],
                }
            )
            for user_id in came:
                if keep_rosters:
                    registration_rows.append(
                        {
                            "id": registration_id,
                            "event_id": event_id,
                            "user_id": user_id,
                            "state": "attended",
                            "waitlist_position": None,
                            "walk_in": False,
                            "created_at": event["starts_at"] - timedelta(days=5),
                            "updated_at": event["ends_at"],
                            "cancelled_at": None,
                            "checked_in_at": None,
                            "checked_out_at": None,
                            "attendance_by_id": leaders.get(team_id),
                        }
                    )
                records.append(
                    _record(
                        record_id,
                        user_id,
                        event,
                        registration_id if keep_rosters else None,
                        minutes,
                        "leader",
                        leaders.get(team_id),
                    )
                )
                record_id += 1
                registration_id += 1
            event_id += 1
    ctx.counts["archive_events"] = insert_rows(Event, event_rows)
    reset_sequence(Event)
    if registration_rows:
        insert_rows(Registration, registration_rows)
        reset_sequence(Registration)
    return [e["id"] for e in event_rows], record_id


def _corrections(ctx, records: list[dict], record_id: int) -> list[dict]:  # noqa: ANN001
    """About one record in 500 (and one of the demo volunteer's) corrected by the leader."""
    demo_volunteer = (ctx.data.get("volunteer_ids") or [None])[0]
    step = 500 if ctx.city else 40
    chosen = [r for i, r in enumerate(records) if i % step == step // 2]
    mine = [r for r in records if r["volunteer_id"] == demo_volunteer]
    if mine and all(r["volunteer_id"] != demo_volunteer for r in chosen):
        chosen.append(mine[len(mine) // 2])
    corrections = []
    for i, old in enumerate(chosen):
        new = dict(old)
        new.update(
            id=record_id + i,
            minutes=max(30, min(old["minutes"] + (30 if i % 3 else -30), 24 * 60)),
            source="correction",
            reason=CORRECTION_REASONS[i % len(CORRECTION_REASONS)],
            supersedes_id=old["id"],
            created_at=old["created_at"] + timedelta(days=2),
        )
        corrections.append(new)
    return corrections


def _requests(ctx, records, corrections, leaders, events) -> None:  # noqa: ANN001
    """Pending, approved and rejected correction requests; the demo volunteer has one pending."""
    demo_volunteer = (ctx.data.get("volunteer_ids") or [None])[0]
    superseded = {c["supersedes_id"] for c in corrections}
    rows = []
    taken: set[tuple[int, int]] = set()
    now = ctx.now

    def add(record, state, i, result=None):  # noqa: ANN001, ANN202
        key = (record["volunteer_id"], record["event_id"])
        if state == "pending" and key in taken:
            return
        if state == "pending":
            taken.add(key)
        decided = state != "pending"
        rows.append(
            {
                "volunteer_id": record["volunteer_id"],
                "event_id": record["event_id"],
                "record_id": record["id"],
                "requested_minutes": min(record["minutes"] + 30, 24 * 60),
                "message": REQUEST_MESSAGES[i % len(REQUEST_MESSAGES)],
                "state": state,
                "decided_by_id": leaders.get(_team_of(record, events)) if decided else None,
                "decided_at": record["created_at"] + timedelta(days=1) if decided else None,
                "decision_note": ("签到表上没有记录，无法补计。" if state == "rejected" else "已核实。")
                if decided
                else None,
                "result_record_id": result,
                "created_at": min(now, record["created_at"] + timedelta(hours=20)),
            }
        )

    # approved requests are the corrections that answered them
    by_id = {r["id"]: r for r in records}
    for i, correction in enumerate(corrections[: max(2, len(corrections) // 3)]):
        add(by_id[correction["supersedes_id"]], "approved", i, result=correction["id"])
    effective = [r for r in records if r["id"] not in superseded]
    step = 2000 if ctx.city else 150
    for i, record in enumerate(effective[::step]):
        add(record, "rejected" if i % 4 == 0 else "pending", i)
    mine = [r for r in effective if r["volunteer_id"] == demo_volunteer]
    if mine:
        add(mine[-1], "pending", 1)
    insert_rows(CorrectionRequest, rows)
    ctx.counts["correction_requests"] = len(rows)


def _team_of(record: dict, events: dict) -> int | None:
    event = events.get(record["event_id"])
    return event["team_id"] if event else None


def _beneficiaries(ctx, event_ids: list[int]) -> None:  # noqa: ANN001
    """People served by every confirmed event: one to three groups."""
    rows = []
    for eid in event_ids:
        groups = 1 + eid % 3
        for k in range(groups):
            category = BENEFICIARY_CATEGORIES[(eid + k * 2) % len(BENEFICIARY_CATEGORIES)]
            rows.append(
                {
                    "event_id": eid,
                    "category": category,
                    "count": 5 + (eid * 7 + k * 13) % 76,
                    "note": SERVED_NOTES[(eid + k) % len(SERVED_NOTES)],
                    "recorded_by_id": None,
                    "updated_at": ctx.now,
                }
            )
    ctx.counts["beneficiary_counts"] = insert_rows(BeneficiaryCount, rows)


def _certificate(ctx) -> None:  # noqa: ANN001
    """One certificate for the demo volunteer (issued by themselves) covering this year up to
    yesterday; early in January, while this year has no service yet, last year."""
    from blueprints.auth.models import User
    from blueprints.hours.services import certificate_figures

    demo_volunteer = (ctx.data.get("volunteer_ids") or [None])[0]
    user = db.session.get(User, demo_volunteer) if demo_volunteer else None
    if user is None or user.home_org_id is None:
        return
    yesterday = ctx.today - timedelta(days=1)
    minutes, events = 0, []
    for start in (ctx.today.replace(month=1, day=1), date(ctx.today.year - 1, 1, 1)):
        end = min(yesterday, date(start.year, 12, 31))
        if end >= start:
            minutes, events = certificate_figures(user, start, end)
        if minutes:
            break
    if not minutes:
        return
    issued = ctx.now - timedelta(days=1)
    certificate = Certificate(
        number=f"QY-{to_local(issued).year}-{next_id(Certificate):06d}",
        volunteer_id=user.id,
        issued_by_id=user.id,
        org_id=user.home_org_id,
        period_start=start,
        period_end=end,
        minutes=minutes,
        events_count=len(events),
        events_detail=events[-60:],
        issued_at=issued,
    )
    db.session.add(certificate)
    db.session.flush()
