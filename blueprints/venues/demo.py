"""Demo youth homes: venues in towns, schools and communities, managers, hours, closures, bookings.

Adds to ctx.data:
- venue_ids: every demo youth home's id
- venues_by_org: {org_id: [venue ids]}
- venue_names: {venue_id: name}
- manager_ids: user ids of the venue-manager role accounts (phones 13800000010–19)
- venue_managers: {venue_id: [user ids of its managers]}

Rules for later steps: every approved demo booking here starts before 13:00 local time (mornings), so
the events step can book afternoons (14:00–18:00) without colliding. Every venue is open in the
afternoon on the days it opens at all.
At city scale: 500 youth homes and 50,000 bookings, inserted in bulk.
"""

from __future__ import annotations

from datetime import time, timedelta

import sqlalchemy as sa

from blueprints.auth.models import User, new_feed_token
from blueprints.core.extensions import db
from blueprints.core.timeutil import local_to_utc
from blueprints.demo.bulk import insert_rows, next_id, reset_sequence

from .models import FACILITIES, Booking, Closure, OpeningHours, Venue, VenueManager
from .services import SLOT_TAKEN_NOTE

#: weekly patterns {weekday: [(opens, closes), ...]}; all open 09:00-12:00 and 14:00-18:00 on open days
PATTERNS = (
    {
        **{d: [(time(9), time(12)), (time(14), time(18))] for d in range(5)},
        5: [(time(9), time(12)), (time(14), time(17))],
    },
    {d: [(time(8, 30), time(12)), (time(14), time(21))] for d in range(7)},
    {d: [(time(9), time(12)), (time(13, 30), time(20, 30))] for d in range(1, 7)},
)
MORNING_SLOTS = ((time(9), time(10, 30)), (time(10, 30), time(12)))
CITY_SLOTS = ((time(9), time(10)), (time(10), time(11)), (time(11), time(12)))
PURPOSES = (
    "七彩假期·小学生阅读陪伴",
    "青春自护安全知识讲座",
    "小青石志愿服务队例会",
    "社区青年读书会",
    "返乡大学生座谈会",
    "青年联谊活动筹备会",
    "四点半课堂作业辅导",
    "团支部主题团日活动",
    "青年创业沙龙",
    "非遗剪纸体验课",
    "老年人智能手机教学",
    "青年评议意见征集会",
)
REJECT_REASONS = (
    "当天场地另有安排，请改约其他日期",
    "人数超过场地容量，建议分两场进行",
    "请补充活动方案后重新申请",
)
DESCRIPTIONS = (
    "面向辖区青少年开放的青年之家，设有阅读角和多功能活动室，常年开展四点半课堂和志愿服务活动。",
    "团委建设的青年活动阵地，可举办讲座、读书会、主题团日和青年联谊活动。",
    "社区青空间：自习、交流、培训一体，欢迎青年社团和志愿服务队预约使用。",
)
MANAGER_NAMES = ("张晓燕", "刘建军", "陈思远", "杨丽娟", "黄浩宇", "赵雅静", "吴俊杰", "周欣怡", "徐子墨", "孙佳琪")


def _venue_specs(ctx) -> list[tuple[int, str]]:  # noqa: ANN001
    """(org_id, name) of each youth home: towns and schools first, then community youth spaces."""
    data, names, paths = ctx.data, ctx.data["org_names"], ctx.data["org_paths"]

    def district_of(org_id: int) -> str:
        parts = [int(p) for p in paths[org_id].strip("/").split("/")]
        return names[parts[1]] if len(parts) > 1 else ""

    specs = [(t, f"{district_of(t)}{names[t]}青年之家") for t in data["town_ids"]]
    schools = data["school_ids"][:2]
    specs[2:2] = [(s, f"{names[s]}青年之家") for s in schools]  # a school among the first homes
    target = 500 if ctx.city else len(specs) + 4
    communities = data["community_ids"]
    step = max(1, len(communities) // max(1, target - len(specs)))
    for org_id in communities[::step]:
        if len(specs) >= target:
            break
        specs.append((org_id, f"{names[org_id]}青空间"))
    return specs[:target]


def seed(ctx) -> None:  # noqa: ANN001
    rng = ctx.rng
    now = ctx.now
    data = ctx.data
    specs = _venue_specs(ctx)

    # --- venues ---
    vid = next_id(Venue)
    venues: list[dict] = []
    for i, (org_id, name) in enumerate(specs):
        facilities = sorted(rng.sample(FACILITIES, rng.randint(2, 5)), key=FACILITIES.index)
        venues.append(
            {
                "id": vid + i,
                "org_id": org_id,
                "name": name,
                "address": f"{data['org_names'][org_id]}{rng.choice('东南西北中')}街{rng.randint(1, 300)}号",
                "description": DESCRIPTIONS[i % len(DESCRIPTIONS)],
                "capacity": rng.choice((20, 30, 40, 50, 60, 80, 120)),
                "facilities": ",".join(facilities),
                "contact_phone": f"0831-{rng.randint(2000000, 8999999)}",
                "min_duration_minutes": 30,
                "max_duration_minutes": rng.choice((180, 240, 240, 480)),
                "max_days_ahead": rng.choice((14, 30, 30, 60)),
                "min_notice_hours": rng.choice((2, 4, 24)),
                "stars": None,
                "stars_assessed_at": None,
                "active": True,
                "created_at": now - timedelta(days=400),
            }
        )
    ctx.counts["venues"] = insert_rows(Venue, venues)
    reset_sequence(Venue)
    venue_ids = [v["id"] for v in venues]
    pattern_of = {v: PATTERNS[i % len(PATTERNS)] for i, v in enumerate(venue_ids)}

    hours_rows = [
        {"venue_id": v, "weekday": d, "opens": a, "closes": b}
        for v in venue_ids
        for d, intervals in pattern_of[v].items()
        for a, b in intervals
    ]
    insert_rows(OpeningHours, hours_rows)

    # --- closures: one coming up (repairs), one past holiday, a few more at city scale ---
    today = ctx.today
    closures = [
        {
            "venue_id": venue_ids[3],
            "starts_on": today + timedelta(days=9),
            "ends_on": today + timedelta(days=11),
            "reason": "空调设备检修",
        },
        {
            "venue_id": venue_ids[0],
            "starts_on": today - timedelta(days=12),
            "ends_on": today - timedelta(days=10),
            "reason": "节假日闭馆",
        },
    ]
    if ctx.city:
        for v in venue_ids[10::25]:
            start = today + timedelta(days=rng.randint(-30, 20))
            closures.append(
                {"venue_id": v, "starts_on": start, "ends_on": start + timedelta(days=1), "reason": "场地维护"}
            )
    insert_rows(Closure, closures)
    closed = {
        (c["venue_id"], c["starts_on"] + timedelta(days=k))
        for c in closures
        for k in range((c["ends_on"] - c["starts_on"]).days + 1)
    }

    # --- managers: role accounts 13800000010-19 (…10 manages two homes); volunteers for the rest ---
    uid = next_id(User)
    home_org = {v["id"]: v["org_id"] for v in venues}
    manager_rows, manager_ids = [], []
    assignment: dict[int, list[int]] = {}
    for k in range(10):
        phone = f"138000000{10 + k}"
        first = venue_ids[0] if k == 0 else venue_ids[k + 1]
        manager_rows.append(
            {
                "id": uid,
                "name": MANAGER_NAMES[k],
                "phone": phone,
                "email": None,
                "password_hash": ctx.password_hash,
                "home_org_id": home_org[first],
                "locale": None,
                "is_admin": False,
                "active": True,
                "created_at": now,
                "last_login_at": None,
                "feed_token": new_feed_token(),
            }
        )
        homes = [venue_ids[0], venue_ids[1]] if k == 0 else [venue_ids[k + 1]]
        for v in homes:
            assignment.setdefault(v, []).append(uid)
        note = " + ".join(next(x["name"] for x in venues if x["id"] == v) for v in homes)
        ctx.login("venue manager", MANAGER_NAMES[k], phone, note)
        manager_ids.append(uid)
        uid += 1
    insert_rows(User, manager_rows)
    reset_sequence(User)
    volunteers_by_org = data.get("volunteers_by_org", {})
    volunteer_ids = data.get("volunteer_ids", [])
    for v in venue_ids:
        if v not in assignment:
            local = volunteers_by_org.get(home_org[v]) or volunteer_ids
            assignment[v] = [local[rng.randrange(len(local))]]
    insert_rows(
        VenueManager,
        (
            {
                "venue_id": v,
                "user_id": u,
                "granted_by_id": data.get("admin_id"),
                "granted_at": now - timedelta(days=300),
            }
            for v, users in assignment.items()
            for u in users
        ),
    )

    # --- bookings ---
    requesters = volunteer_ids[1:] or manager_ids
    demo_volunteer = volunteer_ids[0] if volunteer_ids else None
    rows: list[dict] = []

    def add(v: int, day, slot, state: str, requester: int, note: str | None = None) -> None:
        starts_at, ends_at = local_to_utc(day, slot[0]), local_to_utc(day, slot[1])
        created = min(
            now - timedelta(minutes=5), starts_at - timedelta(days=rng.randint(1, 9), hours=rng.randint(0, 8))
        )
        decided = state in ("approved", "rejected")
        decided_at = min(now - timedelta(minutes=1), created + timedelta(hours=rng.randint(1, 30))) if decided else None
        if state == "rejected" and note is None:
            note = REJECT_REASONS[rng.randrange(len(REJECT_REASONS))]
        rows.append(
            {
                "venue_id": v,
                "requester_id": requester,
                "purpose": PURPOSES[rng.randrange(len(PURPOSES))],
                "starts_at": starts_at,
                "ends_at": ends_at,
                "attendees": rng.randint(8, 20),
                "state": state,
                "decided_by_id": assignment[v][0] if decided else None,
                "decided_at": decided_at,
                "decision_note": note if state == "rejected" else None,
                "cancelled_at": min(now - timedelta(minutes=1), created + timedelta(days=1))
                if state == "cancelled"
                else None,
                "created_at": created,
            }
        )

    def state_for(past: bool) -> str:
        r = rng.random()
        if past:
            return "approved" if r < 0.72 else "cancelled" if r < 0.86 else "rejected" if r < 0.96 else "pending"
        return "approved" if r < 0.42 else "pending" if r < 0.8 else "rejected" if r < 0.9 else "cancelled"

    def open_day(v: int, day) -> bool:  # noqa: ANN001
        return day.weekday() in pattern_of[v] and (v, day) not in closed

    reserved: set[tuple[int, object]] = set()
    if not ctx.city:
        # collisions for the queue: competing requests for one coming slot at the homes …10 manages
        for k, v in enumerate(venue_ids[:2]):
            for offset in (3 + k, 5 + k):
                day = today + timedelta(days=offset)
                if not open_day(v, day):
                    continue
                reserved.add((v, day))
                for _n in range(2 + k):
                    add(v, day, (time(9), time(11)), "pending", requesters[rng.randrange(len(requesters))])
                add(
                    v,
                    day,
                    (time(10), time(12)),
                    "rejected",
                    requesters[rng.randrange(len(requesters))],
                    SLOT_TAKEN_NOTE,
                )
        if demo_volunteer is not None:
            # the demo volunteer's own requests, one in each state
            for v, offset, state in (
                (venue_ids[1], 2, "pending"),
                (venue_ids[2], 4, "approved"),
                (venue_ids[4], -3, "approved"),
                (venue_ids[5], 6, "rejected"),
                (venue_ids[6], 8, "cancelled"),
            ):
                day = today + timedelta(days=offset)
                while not open_day(v, day) or (v, day) in reserved:
                    day += timedelta(days=1)
                reserved.add((v, day))
                add(v, day, (time(10), time(11, 30)), state, demo_volunteer)

    window, slots = ((-49, 21), CITY_SLOTS) if ctx.city else ((-21, 22), MORNING_SLOTS)
    per_venue = 50_000 // len(venue_ids) if ctx.city else None
    for v in venue_ids:
        candidates = [
            (day, slot)
            for offset in range(*window)
            if open_day(v, day := today + timedelta(days=offset)) and (v, day) not in reserved
            for slot in slots
        ]
        if per_venue is not None:
            chosen = rng.sample(candidates, min(per_venue, len(candidates)))
        else:
            chosen = [c for c in candidates if rng.random() < 0.22]
        for day, slot in chosen:
            past = local_to_utc(day, slot[0]) <= now
            add(v, day, slot, state_for(past), requesters[rng.randrange(len(requesters))])
    ctx.counts["bookings"] = insert_rows(Booking, rows)
    reset_sequence(Booking)
    # fresh bulk-loaded tables have no planner statistics; without them the queue query plans badly
    for table in ("venues", "opening_hours", "closures", "venue_managers", "bookings"):
        db.session.execute(sa.text(f"ANALYZE {table}"))

    data["venue_ids"] = venue_ids
    by_org: dict[int, list[int]] = {}
    for v in venues:
        by_org.setdefault(v["org_id"], []).append(v["id"])
    data["venues_by_org"] = by_org
    data["venue_names"] = {v["id"]: v["name"] for v in venues}
    data["manager_ids"] = manager_ids
    data["venue_managers"] = assignment
