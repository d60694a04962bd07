"""Demo service events and registrations, in past and coming weeks.

Adds to ctx.data:
- category_ids: {code: id} of the service categories (seeded with DEFAULT_CATEGORIES when missing)
- event_ids: every demo event's id
- past_event_ids: completed events (hours can be recorded for them)
- upcoming_event_ids: published events that have not started
- event_team: {event_id: team_id}
- booking_event_ids: events held at an approved youth-home booking (made here: requester = the
  team's leader, 14:00–18:00 local, never overlapping per venue)
- past_registrations: the confirmed registrations of completed events, as (registration_id,
  event_id, user_id) triples. Small scale: a list. City scale: a compact RegistrationTriples (three
  arrays; iterate it, or use past_registration_id_range below in SQL) so it stays cheap.
- past_registration_id_range: (first_id, last_id): the past events' registrations have ids in this
  range (every state; filter `state = 'confirmed'`), e.g. for INSERT ... SELECT at city scale
- registration_count: how many registration rows were inserted

The demo volunteer (13800000030) has confirmed places at coming events, a waitlist place at a full
one, and past (completed) events. Small scale: about 110 events over 8 weeks (4 past, this one,
3 coming), some full with waitlists, some at youth homes; nobody holds places at two overlapping
events. City scale: 20,000 events and 1,000,000 registrations (confirmed_count and waitlist_count
match the rows), in bulk; registrants are spread over all volunteers by a stride, so the
no-overlap rule is not checked there.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from datetime import date, time, timedelta

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.timeutil import local_to_utc
from blueprints.demo.bulk import indexes_built_after, insert_rows, next_id, reset_sequence
from blueprints.notifications.models import Notification

from .models import DEFAULT_CATEGORIES, Event, EventCategory, Registration

TITLES = {
    "children": ("七彩假期·四点半课堂", "关爱留守儿童陪伴日", "青春自护安全知识讲座", "小学生作业辅导", "亲子绘本共读"),
    "elderly_disabled": ("敬老院探访", "老年人智能手机教学", "助残陪伴出行", "重阳节包饺子", "独居老人上门关怀"),
    "community": ("社区环境整治", "垃圾分类宣传站", "文明交通劝导", "社区义诊协助", "反诈宣传进小区"),
    "environment": ("河小青护河行动", "植树护绿", "长江岸线清洁", "低碳生活宣传", "湿地观鸟与保护"),
    "culture_sports": ("社区青年读书会", "非遗剪纸体验课", "青年趣味运动会", "全民阅读季分享会", "红色故事宣讲"),
    "emergency": ("应急救护培训", "防汛应急演练", "消防安全进社区", "地震避险演练"),
    "other": ("青年评议意见征集", "返乡大学生座谈会", "团日活动志愿服务", "志愿者岗前培训"),
}
DESCRIPTIONS = (
    "请提前10分钟到达签到。活动结束后由队长确认服务时长。\n请穿志愿者马甲，自带水杯。",
    "服务内容：现场引导、秩序维护和物资发放。适合第一次参加志愿服务的青年。",
    "本次活动与青年之家合作开展，欢迎带朋友一起来。雨天照常进行。",
    "活动前会在志愿队群里发布分工安排，请留意通知。",
)
CANCEL_REASONS = ("暴雨预警，活动取消，改期另行通知。", "合作单位临时调整安排，本次活动取消。")
START_TIMES = ((time(9), 3), (time(9, 30), 2.5), (time(14, 30), 2.5), (time(15), 3), (time(19), 2))
#: afternoon youth-home bookings (the venues step keeps its approved bookings before 13:00)
BOOKING_SLOT = (time(14), time(17, 30))
EVENT_AT_BOOKING = (time(14, 30), time(17))


class RegistrationTriples:
    """(registration_id, event_id, user_id) triples in three arrays: iterate it like a list."""

    def __init__(self) -> None:
        self.ids, self.events, self.users = array("q"), array("q"), array("q")

    def append(self, rid: int, eid: int, uid: int) -> None:
        self.ids.append(rid)
        self.events.append(eid)
        self.users.append(uid)

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return zip(self.ids, self.events, self.users, strict=True)


def _ensure_categories(ctx) -> dict[str, int]:  # noqa: ANN001
    existing = dict(db.session.execute(sa.select(EventCategory.code, EventCategory.id)).all())
    rows = [
        {"code": code, "name_zh": zh, "name_en": en, "position": i, "active": True}
        for i, (code, zh, en) in enumerate(DEFAULT_CATEGORIES)
        if code not in existing
    ]
    if rows:
        insert_rows(EventCategory, rows)
        existing = dict(db.session.execute(sa.select(EventCategory.code, EventCategory.id)).all())
    return existing


def _venue_afternoons(ctx):  # noqa: ANN001
    """{venue_id: set of weekdays open 14:00–18:00} and the closed (venue, day) pairs."""
    from blueprints.venues.models import Closure, OpeningHours

    venue_ids = ctx.data.get("venue_ids") or []
    if not venue_ids:
        return {}, set()
    open_days: dict[int, set[int]] = {}
    for v, weekday, opens, closes in db.session.execute(
        sa.select(OpeningHours.venue_id, OpeningHours.weekday, OpeningHours.opens, OpeningHours.closes)
    ):
        if opens <= BOOKING_SLOT[0] and closes >= BOOKING_SLOT[1]:
            open_days.setdefault(v, set()).add(weekday)
    closed = set()
    for v, start, end in db.session.execute(sa.select(Closure.venue_id, Closure.starts_on, Closure.ends_on)):
        for k in range((end - start).days + 1):
            closed.add((v, start + timedelta(days=k)))
    return open_days, closed


class _Planner:
    """Builds event, booking and registration rows with consistent seat counters."""

    def __init__(self, ctx) -> None:  # noqa: ANN001
        self.ctx = ctx
        self.rng = ctx.rng
        self.now = ctx.now
        self.categories = _ensure_categories(ctx)
        self.codes = [code for code, _zh, _en in DEFAULT_CATEGORIES if code in self.categories]
        self.events: list[dict] = []
        self.bookings: list[dict] = []
        self.next_event = next_id(Event)
        self.open_days, self.closed = _venue_afternoons(ctx)
        self.booked: set[tuple[int, date]] = set()
        from blueprints.venues.models import Booking

        self.next_booking = next_id(Booking) if self.open_days else None
        self.venues_by_org = ctx.data.get("venues_by_org") or {}
        self.venue_ids = [v for v in (ctx.data.get("venue_ids") or []) if v in self.open_days]

    def venue_for(self, org_id: int, day: date) -> int | None:
        """A youth home near the team (its org or above, else any) free that afternoon."""
        if not self.venue_ids:
            return None
        paths = self.ctx.data["org_paths"]
        near = [
            v
            for oid in [int(p) for p in paths[org_id].strip("/").split("/")][::-1]
            for v in self.venues_by_org.get(oid, [])
        ]
        candidates = near + [self.venue_ids[self.rng.randrange(len(self.venue_ids))] for _ in range(4)]
        for v in candidates:
            if v in self.open_days and day.weekday() in self.open_days[v]:
                if (v, day) not in self.closed and (v, day) not in self.booked:
                    return v
        return None

    def add_booking(self, venue_id: int, day: date, requester: int) -> int:
        starts, ends = local_to_utc(day, BOOKING_SLOT[0]), local_to_utc(day, BOOKING_SLOT[1])
        created = min(self.now - timedelta(hours=2), starts - timedelta(days=self.rng.randint(3, 12)))
        booking_id = self.next_booking
        self.next_booking += 1
        self.booked.add((venue_id, day))
        self.bookings.append(
            {
                "id": booking_id,
                "venue_id": venue_id,
                "requester_id": requester,
                "purpose": "志愿服务活动",
                "starts_at": starts,
                "ends_at": ends,
                "attendees": self.rng.randint(10, 30),
                "state": "approved",
                "decided_by_id": (self.ctx.data.get("venue_managers", {}).get(venue_id) or [None])[0],
                "decided_at": min(self.now - timedelta(hours=1), created + timedelta(hours=self.rng.randint(2, 30))),
                "decision_note": None,
                "cancelled_at": None,
                "created_at": created,
            }
        )
        return booking_id

    def add_event(
        self,
        team_id: int,
        org_id: int,
        leader: int,
        day: date,
        *,
        capacity: int,
        state: str,
        at_venue: bool = False,
        members_only: bool = False,
        title: str | None = None,
    ) -> dict:
        rng = self.rng
        code = self.codes[rng.randrange(len(self.codes))]
        booking_id = None
        if at_venue and self.next_booking is not None:
            venue = self.venue_for(org_id, day)
            if venue is not None:
                booking_id = self.add_booking(venue, day, leader)
        if booking_id is not None:
            start_t, end_t = EVENT_AT_BOOKING
            starts, ends = local_to_utc(day, start_t), local_to_utc(day, end_t)
        else:
            start_t, hours = START_TIMES[rng.randrange(len(START_TIMES))]
            starts = local_to_utc(day, start_t)
            ends = starts + timedelta(minutes=int(hours * 60))
        created = min(self.now - timedelta(hours=3), starts - timedelta(days=rng.randint(5, 20)))
        if state == "auto":
            state = "completed" if ends <= self.now else "published"
        closes = starts - timedelta(hours=rng.choice((0, 2, 12, 24)))
        row = {
            "id": self.next_event,
            "team_id": team_id,
            "org_id": org_id,
            "category_id": self.categories[code],
            "title": title or TITLES[code][rng.randrange(len(TITLES[code]))],
            "description": DESCRIPTIONS[rng.randrange(len(DESCRIPTIONS))],
            "starts_at": starts,
            "ends_at": ends,
            "booking_id": booking_id,
            "address": "" if booking_id else f"{self.ctx.data['org_names'][org_id]}{rng.choice('东南西北')}广场",
            "capacity": capacity,
            "confirmed_count": 0,
            "waitlist_count": 0,
            "reg_opens_at": None,
            "reg_closes_at": closes if closes < starts else None,
            "members_only": members_only,
            "allow_walk_ins": rng.random() < 0.3,
            "planned_minutes": int((ends - starts).total_seconds() // 60),
            "state": state,
            "cancel_reason": CANCEL_REASONS[rng.randrange(len(CANCEL_REASONS))] if state == "cancelled" else None,
            "hours_confirmed_at": None,
            "created_by_id": leader,
            "created_at": created,
            "updated_at": created,
        }
        self.next_event += 1
        self.events.append(row)
        return row


def _registration(event: dict, user_id: int, state: str, position: int | None, at) -> dict:  # noqa: ANN001
    return {
        "event_id": event["id"],
        "user_id": user_id,
        "state": state,
        "waitlist_position": position,
        "walk_in": False,
        "created_at": at,
        "updated_at": at,
        "cancelled_at": at if state == "cancelled" else None,
        "checked_in_at": None,
        "checked_out_at": None,
        "attendance_by_id": None,
    }


def seed(ctx) -> None:  # noqa: ANN001
    if ctx.city:
        _seed_city(ctx)
    else:
        _seed_small(ctx)


# --- small scale ---------------------------------------------------------------------------------


def _seed_small(ctx) -> None:  # noqa: ANN001
    rng = ctx.rng
    data = ctx.data
    plan = _Planner(ctx)
    today = ctx.today
    monday = today - timedelta(days=today.weekday())
    demo = data["volunteer_ids"][0]
    team_ids = data["team_ids"]
    main = data["main_team_id"]
    busy: dict[int, list[tuple]] = {}  # user -> [(starts, ends)] of places held (no overlaps)
    registrations: list[dict] = []

    def free(user: int, event: dict) -> bool:
        return all(not (s < event["ends_at"] and event["starts_at"] < e) for s, e in busy.get(user, []))

    def fill(event: dict, wanted: int, pool: list[int], cancelled: int = 0) -> None:
        """Register up to `wanted` people from `pool`: seats first, then the waitlist."""
        candidates = [u for u in pool if free(u, event)]
        rng.shuffle(candidates)
        at = min(ctx.now - timedelta(minutes=10), event["starts_at"] - timedelta(days=2))
        for k, user in enumerate(candidates[:wanted]):
            if event["confirmed_count"] < event["capacity"]:
                state, position = "confirmed", None
                event["confirmed_count"] += 1
            else:
                event["waitlist_count"] += 1
                state, position = "waitlisted", event["waitlist_count"]
            registrations.append(_registration(event, user, state, position, at - timedelta(minutes=k)))
            busy.setdefault(user, []).append((event["starts_at"], event["ends_at"]))
        for user in candidates[wanted : wanted + cancelled]:
            registrations.append(_registration(event, user, "cancelled", None, at))

    everyone = data["volunteer_ids"]
    events_by_week: dict[int, list[dict]] = {}
    for week in range(-4, 4):
        for k, team_id in enumerate(team_ids):
            per_team = 2 if team_id == main else 1 if k < 10 else (week + k) % 2
            for n in range(per_team):
                day = monday + timedelta(weeks=week, days=(k * 2 + n * 3 + week) % 7)
                org_id = data["team_org"][team_id]
                leader = data["leader_ids"][team_id]
                full = (k + week + n) % 5 == 0
                capacity = rng.choice((6, 8, 10)) if full else rng.choice((12, 15, 20, 25, 30))
                state = "auto"  # completed when over, else published
                if week >= 1 and (k + n) % 11 == 3:
                    state = "draft"
                if (week, k, n) in ((1, 4, 0), (-2, 6, 0)):
                    state = "cancelled"
                event = plan.add_event(
                    team_id,
                    org_id,
                    leader,
                    day,
                    capacity=capacity,
                    state=state,
                    at_venue=(k + n + week) % 3 == 0,
                    members_only=team_id == main and n == 1,
                )
                events_by_week.setdefault(week, []).append(event)

    # the demo volunteer: past places, confirmed coming places, one waitlist place
    demo_coming: list[int] = []
    for event in plan.events:
        if event["state"] == "draft":
            continue
        members = data["member_ids_by_team"][event["team_id"]]
        pool = members if event["members_only"] else members + rng.sample(everyone, 30)
        pool = [u for u in dict.fromkeys(pool) if u != data["leader_ids"][event["team_id"]]]
        is_demo_event = event["team_id"] in (main, data["team_ids"][5])
        if is_demo_event and event["state"] in ("published", "completed") and free(demo, event):
            if event["state"] == "completed" or (event["capacity"] > 10 and len(demo_coming) < 6):
                fill(event, 1, [demo])
                if event["state"] == "published":
                    demo_coming.append(event["id"])
        if event["state"] == "cancelled":
            continue
        if event["capacity"] <= 10:
            wanted = event["capacity"] + rng.randint(2, 6)  # full, with a waitlist
        elif event["state"] == "completed":
            wanted = int(event["capacity"] * rng.uniform(0.6, 1.0))
        else:
            wanted = int(event["capacity"] * rng.uniform(0.2, 0.8))
        wanted -= event["confirmed_count"] + event["waitlist_count"]
        fill(event, max(0, wanted), pool, cancelled=rng.randint(0, 2))

    # make sure the demo volunteer is on one waitlist (a full coming event they are free for)
    for event in plan.events:
        if (
            event["state"] == "published"
            and event["starts_at"] > ctx.now + timedelta(days=1)
            and event["confirmed_count"] >= event["capacity"]
            and not event["members_only"]
            and free(demo, event)
            and not any(r["event_id"] == event["id"] and r["user_id"] == demo for r in registrations)
        ):
            fill(event, 1, [demo])
            break

    # past events' registrations first, so their ids form one range (past_registration_id_range)
    completed = {e["id"] for e in plan.events if e["state"] == "completed"}
    registrations.sort(key=lambda r: r["event_id"] not in completed)
    _insert(ctx, plan, registrations)
    # the demo volunteer has one notification from this step: moved up from a waitlist
    promoted = next(
        (
            e
            for e in plan.events
            if e["state"] == "published"
            and e["starts_at"] > ctx.now
            and any(
                r["event_id"] == e["id"] and r["user_id"] == demo and r["state"] == "confirmed" for r in registrations
            )
        ),
        None,
    )
    if promoted is not None:
        from blueprints.core.timeutil import to_local

        start, end = to_local(promoted["starts_at"]), to_local(promoted["ends_at"])
        insert_rows(
            Notification,
            [
                {
                    "user_id": demo,
                    "kind": "waitlist_promoted",
                    "params": {"title": promoted["title"], "when": f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"},
                    "link": f"/events/{promoted['id']}",
                    "created_at": ctx.now - timedelta(hours=5),
                    "read_at": None,
                    "emailed_at": None,
                }
            ],
        )


# --- city scale ----------------------------------------------------------------------------------

CITY_EVENTS = 20_000
CITY_REGISTRATIONS = 1_000_000


def _seed_city(ctx) -> None:  # noqa: ANN001
    rng = ctx.rng
    data = ctx.data
    plan = _Planner(ctx)
    today = ctx.today
    monday = today - timedelta(days=today.weekday())
    team_ids = data["team_ids"]
    volunteers = data["volunteer_ids"]
    n_vol = len(volunteers)
    weeks = list(range(-12, 8))  # 20 weeks: 12 past, this one, 7 coming
    per_team = CITY_EVENTS // len(team_ids)
    for k, team_id in enumerate(team_ids):
        org_id = data["team_org"][team_id]
        leader = data["leader_ids"][team_id]
        for n in range(per_team):
            week = weeks[(k + n * 2) % len(weeks)]
            day = monday + timedelta(weeks=week, days=(k + n) % 7)
            if day < today:
                state = "auto" if (k + n) % 97 else "cancelled"
            else:
                state = "draft" if (k + n) % 41 == 0 else "cancelled" if (k + n) % 89 == 0 else "auto"
            capacity = (30, 40, 50, 60, 80, 100)[(k * 3 + n) % 6]
            plan.add_event(team_id, org_id, leader, day, capacity=capacity, state=state, at_venue=(k + n) % 10 == 0)

    # how many registrations each event gets: about 50 on average, exactly CITY_REGISTRATIONS in all
    live = [e for e in plan.events if e["state"] not in ("draft", "cancelled")]
    wanted = []
    for i, e in enumerate(live):
        if e["capacity"] <= 40 and i % 3 == 0:
            wanted.append(e["capacity"] + 5 + i % 11)  # full with a waitlist
        else:
            wanted.append(int(e["capacity"] * (0.6 + (i % 9) * 0.05)))
    total = sum(wanted)
    scale = CITY_REGISTRATIONS / total
    wanted = [max(1, int(w * scale)) for w in wanted]
    # keep full events full: never below capacity where a waitlist was planned
    diff = CITY_REGISTRATIONS - sum(wanted)
    i = 0
    while diff != 0:
        step = 1 if diff > 0 else -1
        j = i % len(wanted)
        if step > 0 or wanted[j] > 1:
            wanted[j] += step
            diff -= step
        i += 1
    for e, w in zip(live, wanted, strict=True):
        seats = min(w, e["capacity"])
        e["confirmed_count"] = seats
        e["waitlist_count"] = w - seats if e["state"] == "published" else 0
        if e["state"] == "completed" and w > e["capacity"]:
            e["_extra"] = w - seats  # past waitlists were never promoted: kept as cancelled rows
    # registration ids: past events first, so their rows are one id range
    live.sort(key=lambda e: (e["state"] != "completed", e["id"]))
    first_id = next_id(Registration)
    triples = RegistrationTriples()
    past_rows = sum(
        e["confirmed_count"] + e["waitlist_count"] + e.get("_extra", 0) for e in live if e["state"] == "completed"
    )
    past_range = (first_id, first_id + past_rows - 1)
    stride = 7919  # prime, not dividing the number of volunteers: distinct users within an event
    created = ctx.now - timedelta(days=1)

    main = data["main_team_id"]

    def rows():
        rid = first_id
        for e in live:
            # the demo volunteer (index 0) holds the first confirmed place at the main team's events
            start = 0 if e["team_id"] == main else rng.randrange(n_vol)
            n = e["confirmed_count"] + e["waitlist_count"] + e.get("_extra", 0)
            at = min(created, e["starts_at"] - timedelta(days=1))
            event_id, confirmed, published = e["id"], e["confirmed_count"], e["state"] == "published"
            past = e["state"] == "completed"
            for j in range(n):
                user = volunteers[(start + j * stride) % n_vol]
                if j < confirmed:
                    state, position = "confirmed", None
                elif published:
                    state, position = "waitlisted", j - confirmed + 1
                else:
                    state, position = "cancelled", None
                if past and state == "confirmed":
                    triples.append(rid, event_id, user)
                yield {
                    "id": rid,
                    "event_id": event_id,
                    "user_id": user,
                    "state": state,
                    "waitlist_position": position,
                    "walk_in": False,
                    "created_at": at,
                    "updated_at": at,
                    "cancelled_at": at if state == "cancelled" else None,
                }
                rid += 1

    _insert(ctx, plan, rows(), past=(triples, past_range), fast=True)


def _insert(ctx, plan: _Planner, registrations, past=None, fast: bool = False) -> None:  # noqa: ANN001
    from blueprints.venues.models import Booking

    data = ctx.data
    if plan.bookings:
        insert_rows(Booking, plan.bookings)
        reset_sequence(Booking)
    events = [{k: v for k, v in e.items() if not k.startswith("_")} for e in plan.events]
    ctx.counts["events"] = insert_rows(Event, events)
    reset_sequence(Event)
    # city scale: the registrations' secondary indexes are built once after the load (a sort)
    with indexes_built_after(Registration, bulk=fast):
        ctx.counts["registrations"] = insert_rows(Registration, registrations)
    reset_sequence(Registration)
    data["category_ids"] = plan.categories
    data["event_ids"] = [e["id"] for e in plan.events]
    data["past_event_ids"] = [e["id"] for e in plan.events if e["state"] == "completed"]
    data["upcoming_event_ids"] = [
        e["id"] for e in plan.events if e["state"] == "published" and e["starts_at"] > ctx.now
    ]
    data["event_team"] = {e["id"]: e["team_id"] for e in plan.events}
    data["booking_event_ids"] = [e["id"] for e in plan.events if e["booking_id"]]
    data["registration_count"] = ctx.counts["registrations"]
    if past is not None:
        data["past_registrations"], data["past_registration_id_range"] = past
    else:
        past_ids = set(data["past_event_ids"])
        rows = db.session.execute(
            sa.select(Registration.id, Registration.event_id, Registration.user_id, Registration.state).where(
                Registration.event_id.in_(past_ids)
            )
        ).all()
        data["past_registrations"] = [(r, e, u) for r, e, u, s in rows if s == "confirmed"]
        ids = [r for r, _e, _u, _s in rows]
        data["past_registration_id_range"] = (min(ids), max(ids)) if ids else (0, -1)
