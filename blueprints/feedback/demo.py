"""Demo youth evaluation: ratings of past demo events, checklists, star assessments of youth homes.

Runs last. Reads ctx.data from orgs (org_paths, city_id, district_ids, coordinator_ids) and venues
(venue_ids, when present); events and attendance are read from the database (completed events;
registrations marked attended, or service records), so it works whatever the earlier steps chose.

- Checklists: the city gets the built-in five items; the second district customises its own (six
  items), to show inheritance.
- Assessments: of the youth homes, some never assessed, some assessed over a year ago (due), some
  recently, some twice (history). The current stars are set on the venue.
- Feedback: about 60% of attendees of completed events (20% at city scale) rate them (mostly 4-5
  stars, a few low), a quarter with a comment; people served rate ~40% of events through the QR
  code; one abusive public comment is hidden by the city coordinator. Events that ended inside the
  rating window keep some attendees unrated and invited (notifications; city scale: the last 3 days
  only), and the demo volunteer (13800000030) always has them left to rate, so the home page shows
  "Rate your recent events".

Adds to ctx.data:
- checklist_org_ids: orgs with their own checklist
- assessed_venue_ids: youth homes with at least one assessment
- feedback_event_ids: events that received ratings
"""

from __future__ import annotations

import bisect
import hashlib
from datetime import timedelta

import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.extensions import db
from blueprints.core.timeutil import to_local
from blueprints.demo.bulk import insert_rows, next_id, reset_sequence
from blueprints.events.models import Event, Registration
from blueprints.hours.models import ServiceRecord
from blueprints.notifications.models import Notification
from blueprints.orgs.models import Org
from blueprints.venues.models import Venue

from .models import ChecklistItem, Feedback, VenueAssessment
from .services import DEFAULT_CHECKLIST, DEFAULT_WINDOW_DAYS, INVITE_KIND, stars_for

MEMBER_COMMENTS = (
    "活动组织得很好，收获很大。",
    "希望下次时间安排更合理一些。",
    "和小朋友们相处很开心，下次还来！",
    "队长很负责，分工明确。",
    "场地有点小，但大家都很投入。",
    "物资准备充分，点赞。",
    "第一次参加，很有意义。",
    "希望多举办这样的活动。",
    "签到流程可以再简化一点。",
    "天气很热，希望准备些饮用水。",
    "老人们很热情，感觉自己很有用。",
    "培训再充分一些就更好了。",
)
PUBLIC_COMMENTS = (
    "志愿者们很热情，谢谢你们！",
    "孩子很喜欢这次活动。",
    "帮了我们大忙，辛苦了。",
    "希望经常来我们社区。",
    "服务很周到，很耐心。",
    "老人们都很开心。",
    "讲解很清楚，学到了不少。",
)
ABUSIVE = "什么破活动，全是骗人的！！"
ASSESSMENT_NOTES = (
    "阵地设施齐全，活动丰富，青年评价高。",
    "开放时间需更稳定，建议公示值班表。",
    "台账需进一步规范。",
    "建议增加周末和晚间活动。",
    "阵地环境整洁，管理有序。",
    "活动开展偏少，需加强与社区团组织联动。",
)
#: rating weights for 1..5 stars at an average event
RATING_WEIGHTS = (2, 4, 14, 38, 42)


def seed(ctx) -> None:  # noqa: ANN001
    checklists = _seed_checklists(ctx)
    _seed_assessments(ctx, checklists)
    _seed_feedback(ctx)


# --- checklists -------------------------------------------------------------------------------


def _seed_checklists(ctx) -> dict[int, list[dict]]:  # noqa: ANN001
    """{org id: items} for the orgs given their own checklist."""
    data = ctx.data
    city_id = data["city_id"]
    districts = data.get("district_ids") or []
    item_id = next_id(ChecklistItem)
    rows: list[dict] = []

    def add(org_id: int, title: str, max_score: int, position: int) -> None:
        nonlocal item_id
        rows.append(
            {
                "id": item_id,
                "org_id": org_id,
                "title": title,
                "max_score": max_score,
                "position": position,
                "active": True,
            }
        )
        item_id += 1

    for n, (title, _label, max_score) in enumerate(DEFAULT_CHECKLIST):
        add(city_id, title, max_score, n)
    if len(districts) > 1:
        own = (
            ("设施完备", 20),
            ("按时开放", 15),
            ("活动开展", 25),
            ("青年满意度", 20),
            ("管理规范", 10),
            ("阵地安全", 10),
        )
        for n, (title, max_score) in enumerate(own):
            add(districts[1], title, max_score, n)
        # a retired item: kept for the record, not used any more
        rows.append(
            {"id": item_id, "org_id": districts[1], "title": "宣传报道", "max_score": 5, "position": 9, "active": False}
        )
        item_id += 1
    insert_rows(ChecklistItem, rows)
    reset_sequence(ChecklistItem)
    by_org: dict[int, list[dict]] = {}
    for row in rows:
        if row["active"]:
            by_org.setdefault(row["org_id"], []).append(row)
    data["checklist_org_ids"] = sorted(by_org)
    return by_org


# --- assessments ------------------------------------------------------------------------------


def _seed_assessments(ctx, checklists: dict[int, list[dict]]) -> None:  # noqa: ANN001
    rng, now, data = ctx.rng, ctx.now, ctx.data
    venue_rows = db.session.execute(
        sa.select(Venue.id, Venue.org_id, Org.path).join(Org, Org.id == Venue.org_id).order_by(Venue.id)
    ).all()
    if not venue_rows:
        data["assessed_venue_ids"] = []
        return
    paths = data["org_paths"]
    coordinators = sorted(
        ((paths[org_id], user_id) for org_id, user_id in data.get("coordinator_ids", {}).items() if org_id in paths),
        key=lambda pair: -len(pair[0]),
    )
    fallback = data.get("admin_id")
    checklist_paths = sorted(((paths[o], items) for o, items in checklists.items()), key=lambda p: -len(p[0]))

    def items_for(path: str) -> list[dict]:
        return next((items for p, items in checklist_paths if path.startswith(p)), [])

    def assessor_for(path: str) -> int | None:
        return next((user for p, user in coordinators if path.startswith(p)), fallback)

    assessments: list[dict] = []
    current: list[dict] = []
    for venue_id, _org_id, path in venue_rows:
        items = items_for(path)
        if not items:
            continue
        roll = rng.random()
        if roll < 0.15:
            continue  # never assessed: due
        quality = rng.uniform(0.6, 1.0)
        if roll < 0.35:
            ages = [rng.randint(380, 520)]  # assessed over a year ago: due again
        elif roll < 0.70:
            ages = [rng.randint(20, 300)]
        else:
            ages = [rng.randint(400, 700), rng.randint(15, 250)]  # history of two
        for n, age in enumerate(ages):
            q = min(1.0, quality + (0.06 if n else 0) * rng.random())
            scores = []
            for item in items:
                score = round(item["max_score"] * (q + rng.uniform(-0.08, 0.06)))
                score = max(0, min(item["max_score"], score))
                scores.append(
                    {
                        "key": f"i{item['id']}",
                        "item_id": item["id"],
                        "title": item["title"],
                        "max": item["max_score"],
                        "score": score,
                    }
                )
            total = sum(s["score"] for s in scores)
            max_total = sum(s["max"] for s in scores)
            at = now - timedelta(days=age, hours=rng.randint(0, 8))
            stars = stars_for(total, max_total)
            assessments.append(
                {
                    "venue_id": venue_id,
                    "assessor_id": assessor_for(path),
                    "stars": stars,
                    "scores": {"items": scores, "checklist_org_id": items[0]["org_id"]},
                    "total": total,
                    "max_total": max_total,
                    "note": rng.choice(ASSESSMENT_NOTES) if rng.random() < 0.7 else None,
                    "assessed_at": at,
                }
            )
        current.append({"vid": venue_id, "stars": stars, "at": at})
    ctx.counts["venue assessments"] = insert_rows(VenueAssessment, assessments)
    if current:
        table = Venue.__table__
        db.session.execute(
            table.update()
            .where(table.c.id == sa.bindparam("vid"))
            .values(stars=sa.bindparam("stars"), stars_assessed_at=sa.bindparam("at")),
            current,
        )
    data["assessed_venue_ids"] = [row["vid"] for row in current]


# --- feedback ---------------------------------------------------------------------------------


def _device(event_id: int, n: int) -> str:
    return hashlib.sha256(f"qingyi-demo-device:{event_id}:{n}".encode()).hexdigest()


def _cum_weights(quality: float) -> list[float]:
    """Cumulative weights of 1..5 stars: mostly 4-5; a weaker event shifts them down."""
    shift = (0.85 - quality) / 2
    total, out = 0.0, []
    for stars, w in enumerate(RATING_WEIGHTS, 1):
        total += max(w * (1 + (3 - stars) * shift), 0.2)
        out.append(total)
    return out


def _rating(rng, cum: list[float]) -> int:  # noqa: ANN001
    return bisect.bisect_right(cum, rng.random() * cum[-1]) + 1


def _seed_feedback(ctx) -> None:  # noqa: ANN001
    rng, now, data = ctx.rng, ctx.now, ctx.data
    window = timedelta(days=DEFAULT_WINDOW_DAYS)
    events = {
        row.id: row
        for row in db.session.execute(
            sa.select(Event.id, Event.title, Event.ends_at)
            .where(Event.state == "completed", Event.ends_at <= now)
            .order_by(Event.id)
        )
    }
    if not events:
        ctx.counts["feedback"] = 0
        data["feedback_event_ids"] = []
        return
    demo_volunteer = db.session.scalar(sa.select(User.id).where(User.phone == "13800000030"))
    weights = {event_id: _cum_weights(rng.uniform(0.55, 1.0)) for event_id in events}
    member_share = 0.2 if ctx.city else 0.6
    # invitations for events inside the rating window (city scale: the last 3 days only, to stay light)
    invite_after = now - (timedelta(days=3) if ctx.city else window)
    completed = sa.select(Event.id).where(Event.state == "completed", Event.ends_at <= now)
    attendees = sa.union(
        sa.select(Registration.event_id, Registration.user_id).where(
            Registration.state == "attended", Registration.event_id.in_(completed)
        ),
        sa.select(ServiceRecord.event_id, ServiceRecord.volunteer_id).where(ServiceRecord.event_id.in_(completed)),
    ).subquery()
    pairs = db.session.connection().execute(
        sa.select(attendees.c.event_id, attendees.c.user_id)
        .order_by(attendees.c.event_id, attendees.c.user_id)
        .execution_options(yield_per=20_000)
    )
    rated_events: set[int] = set()
    invites: list[dict] = []

    def member_rows():
        for event_id, user_id in pairs:
            event = events.get(event_id)
            if event is None:
                continue
            recent = event.ends_at + window >= now
            if recent and user_id == demo_volunteer:
                continue  # left for the demo volunteer to rate
            if rng.random() >= (member_share * (0.6 if recent else 1.0)):
                if recent and event.ends_at >= invite_after:
                    invites.append(
                        {
                            "user_id": user_id,
                            "kind": INVITE_KIND,
                            "params": {
                                "event": event.title,
                                "until": to_local(event.ends_at + window).date().isoformat(),
                            },
                            "link": f"/feedback/events/{event_id}/rate",
                            "created_at": min(now, event.ends_at + timedelta(hours=2)),
                        }
                    )
                continue
            rated_events.add(event_id)
            yield {
                "event_id": event_id,
                "user_id": user_id,
                "rating": _rating(rng, weights[event_id]),
                "comment": rng.choice(MEMBER_COMMENTS) if rng.random() < 0.25 else None,
                "is_public": False,
                "device_hash": None,
                "created_at": _when(rng, event.ends_at, now),
            }

    members = insert_rows(Feedback, member_rows())
    public_rows = []
    hidden_done = False
    coordinator = next(iter(data.get("coordinator_ids", {}).values()), None)
    for event_id, event in events.items():
        if rng.random() >= 0.4:
            continue
        for n in range(rng.randint(1, 6 if not ctx.city else 3)):
            comment = rng.choice(PUBLIC_COMMENTS) if rng.random() < 0.35 else None
            hidden = None
            if not hidden_done and n == 0 and event.ends_at + window < now:
                comment, hidden, hidden_done = ABUSIVE, event.ends_at + timedelta(days=1), True
            public_rows.append(
                {
                    "event_id": event_id,
                    "user_id": None,
                    "rating": 1 if hidden else _rating(rng, weights[event_id]),
                    "comment": comment,
                    "is_public": True,
                    "device_hash": _device(event_id, n),
                    "hidden_at": hidden,
                    "hidden_by_id": coordinator if hidden else None,
                    "created_at": min(now, event.ends_at - timedelta(minutes=rng.randint(0, 50))),
                }
            )
            rated_events.add(event_id)
    public = insert_rows(Feedback, public_rows)
    insert_rows(Notification, invites)
    ctx.counts["feedback"] = members + public
    ctx.counts["feedback invitations"] = len(invites)
    data["feedback_event_ids"] = sorted(rated_events)


def _when(rng, ends_at, now):  # noqa: ANN001
    """Most people rate the same day; some take a few days."""
    delay = timedelta(hours=rng.choice((1, 2, 3, 5, 20, 30, 50, 100)), minutes=rng.randint(0, 59))
    return min(now, ends_at + delay)
