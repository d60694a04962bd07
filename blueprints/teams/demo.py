"""Demo volunteer teams (志愿服务队), their leaders and members.

Adds to ctx.data:
- team_ids: every demo team's id
- teams_by_org: {org_id: [team ids]}
- team_org: {team_id: org_id}
- leader_ids: {team_id: user_id of its (first) leader}
- member_ids_by_team: {team_id: [user ids of active members, the leaders included]}
- main_team_id: the team led by 13800000020, in the district coordinated by 13800000002; the demo
  volunteer 13800000030 is a member
- leader_login_ids: user ids of the team-leader role accounts (phones 13800000020–29)

Small scale: 16 teams (10 led by the role accounts) of 12–24 members, a few join requests waiting.
City scale: 2,000 teams of about 20 members each (42,000 memberships), in bulk.
"""

from __future__ import annotations

from datetime import timedelta

from blueprints.auth.models import User, new_feed_token
from blueprints.core.models import AuditLog
from blueprints.demo.bulk import insert_rows, next_id, reset_sequence

from .models import Membership, Team

LEADER_NAMES = ("陈青阳", "刘晓雯", "王志远", "张雨桐", "李浩然", "赵婧琪", "黄一诺", "周子轩", "吴思远", "郑嘉豪")
TEAM_STEMS = (
    "小青石志愿服务队",
    "七彩假期志愿服务队",
    "青春自护宣讲队",
    "四点半课堂志愿队",
    "河小青护河队",
    "敬老助残志愿队",
    "文明交通志愿队",
    "青年应急突击队",
    "非遗文化志愿队",
    "返乡大学生实践队",
    "阅读推广志愿队",
    "青年之家服务队",
    "环保行动志愿队",
    "科普宣讲志愿队",
    "体育健身志愿队",
    "心理陪伴志愿队",
)
DESCRIPTIONS = (
    "团委指导成立的青年志愿服务队，常年开展关爱留守儿童、助老助残和社区服务活动。欢迎热心公益的青年加入。",
    "利用周末和假期开展志愿服务，每名队员每年服务不少于20小时。活动前会在群里通知，请按时签到。",
    "以青年之家为阵地，组织读书会、作业辅导、安全知识宣讲等活动，服务辖区青少年。",
    "面向社区居民开展环境整治、垃圾分类宣传和文明劝导，队员须参加岗前培训。",
)


def _subtree_volunteers(ctx, org_id: int) -> list[int]:  # noqa: ANN001
    """Volunteers whose home org is `org_id` or below it."""
    paths = ctx.data["org_paths"]
    prefix = paths[org_id]
    by_org = ctx.data["volunteers_by_org"]
    out: list[int] = []
    for oid, ids in by_org.items():
        if paths.get(oid, "").startswith(prefix):
            out.extend(ids)
    return out


def seed(ctx) -> None:  # noqa: ANN001
    rng = ctx.rng
    data = ctx.data
    now = ctx.now
    names = data["org_names"]
    district0 = data["district_ids"][0]
    paths = data["org_paths"]
    towns_d0 = [t for t in data["town_ids"] if paths[t].startswith(paths[district0])]
    volunteers = data["volunteer_ids"]
    demo_volunteer = volunteers[0]

    # --- the team-leader role accounts (13800000020–29) -----------------------------------------
    uid = next_id(User)
    leader_rows = []
    leader_login_ids = []
    for k in range(10):
        leader_rows.append(
            {
                "id": uid,
                "name": LEADER_NAMES[k],
                "phone": f"138000000{20 + k}",
                "email": None,
                "password_hash": ctx.password_hash,
                "home_org_id": district0 if k < 4 else data["district_ids"][k % len(data["district_ids"])],
                "locale": None,
                "is_admin": False,
                "active": True,
                "created_at": now - timedelta(days=500),
                "last_login_at": None,
                "feed_token": new_feed_token(),
            }
        )
        leader_login_ids.append(uid)
        uid += 1
    insert_rows(User, leader_rows)
    reset_sequence(User)

    # --- where the teams are -------------------------------------------------------------------
    if ctx.city:
        n_teams = 2000
        org_pool = data["community_ids"] + data["town_ids"] + data["school_ids"]
        team_orgs = [district0] + [towns_d0[k % len(towns_d0)] for k in range(3)]
        team_orgs += [org_pool[(k * 7919) % len(org_pool)] for k in range(n_teams - len(team_orgs))]
    else:
        others = [d for d in data["district_ids"][1:]]
        team_orgs = [district0, towns_d0[0], towns_d0[1 % len(towns_d0)], district0]
        team_orgs += [others[k % len(others)] for k in range(6)]
        team_orgs += [data["town_ids"][(k * 3) % len(data["town_ids"])] for k in range(4)]
        team_orgs += data["school_ids"][:2]
        n_teams = len(team_orgs)

    tid = next_id(Team)
    team_rows, team_ids = [], []
    used_names: set[tuple[int, str]] = set()
    for k, org_id in enumerate(team_orgs):
        stem = TEAM_STEMS[k % len(TEAM_STEMS)]
        name = f"{names[org_id]}{stem}"
        n = 2
        while (org_id, name) in used_names:
            name = f"{names[org_id]}{stem}{n}"
            n += 1
        used_names.add((org_id, name))
        team_rows.append(
            {
                "id": tid + k,
                "org_id": org_id,
                "name": name,
                "description": DESCRIPTIONS[k % len(DESCRIPTIONS)],
                "join_policy": "approval" if k == 0 or k % 3 == 2 else "open",
                "active": True,
                "created_at": now - timedelta(days=400 - k % 300),
            }
        )
        team_ids.append(tid + k)
    ctx.counts["teams"] = insert_rows(Team, team_rows)
    reset_sequence(Team)

    # --- leaders and members ---------------------------------------------------------------------
    memberships: list[dict] = []
    leader_ids: dict[int, int] = {}
    member_ids_by_team: dict[int, list[int]] = {}
    audit_rows: list[dict] = []
    n_vol = len(volunteers)

    def add(team_id: int, user_id: int, role: str, state: str = "active", days_ago: int = 200) -> None:
        memberships.append(
            {
                "team_id": team_id,
                "user_id": user_id,
                "role": role,
                "state": state,
                "created_at": now - timedelta(days=days_ago, hours=rng.randint(0, 23)),
                "decided_by_id": None,
                "decided_at": None,
            }
        )
        if state == "active":
            member_ids_by_team.setdefault(team_id, []).append(user_id)

    for k, (team_id, org_id) in enumerate(zip(team_ids, team_orgs, strict=True)):
        if k < 10:
            leader = leader_login_ids[k]
        else:
            leader = volunteers[(k * 104729 + 17) % (n_vol - 1) + 1]  # never the demo volunteer
        leader_ids[team_id] = leader
        add(team_id, leader, "leader", days_ago=400 - k % 300)
        if not ctx.city:
            audit_rows.append(
                {
                    "at": now - timedelta(days=400 - k % 300),
                    "actor_id": data["coordinator_ids"].get(district0) if k < 4 else data["admin_id"],
                    "action": "team.leader_grant",
                    "object_type": "Team",
                    "object_id": team_id,
                    "org_id": org_id,
                    "detail": {"user_id": leader},
                }
            )
        if ctx.city:
            local = data["volunteers_by_org"].get(org_id) or []
            pool = local if len(local) >= 30 else None
            size = 20
            if pool is not None:
                start = rng.randrange(len(pool))
                chosen = [pool[(start + j) % len(pool)] for j in range(size)]
            else:
                start = rng.randrange(n_vol)
                chosen = [volunteers[(start + j * 7) % n_vol] for j in range(size)]
        else:
            pool = _subtree_volunteers(ctx, org_id) or volunteers
            size = rng.randint(12, 24)
            chosen = rng.sample(pool, min(size, len(pool)))
        for user_id in dict.fromkeys(chosen):
            if user_id not in (leader, demo_volunteer):
                add(team_id, user_id, "member", days_ago=rng.randint(5, 380))

    main_team = team_ids[0]
    add(main_team, demo_volunteer, "member", days_ago=150)
    add(team_ids[5], demo_volunteer, "member", days_ago=60)
    # a co-leader on the main team, and join requests waiting for 13800000020
    co_leader = next(u for u in member_ids_by_team[main_team] if u not in (leader_ids[main_team], demo_volunteer))
    for m in memberships:
        if m["team_id"] == main_team and m["user_id"] == co_leader:
            m["role"] = "leader"
    taken = set(member_ids_by_team[main_team])
    waiting = [v for v in volunteers[1:] if v not in taken][: 3 if not ctx.city else 5]
    for i, v in enumerate(waiting):
        add(main_team, v, "member", state="pending", days_ago=i + 1)
    # a declined request and someone who left, for the history
    add(team_ids[1], volunteers[-1], "member", state="declined", days_ago=30)
    add(team_ids[1], volunteers[-2], "member", state="left", days_ago=90)
    ctx.counts["memberships"] = insert_rows(Membership, memberships)
    if audit_rows:
        insert_rows(AuditLog, audit_rows)

    teams_by_org: dict[int, list[int]] = {}
    for team_id, org_id in zip(team_ids, team_orgs, strict=True):
        teams_by_org.setdefault(org_id, []).append(team_id)
    data["team_ids"] = team_ids
    data["teams_by_org"] = teams_by_org
    data["team_org"] = dict(zip(team_ids, team_orgs, strict=True))
    data["leader_ids"] = leader_ids
    data["member_ids_by_team"] = member_ids_by_team
    data["main_team_id"] = main_team
    data["leader_login_ids"] = leader_login_ids

    for k in range(10):
        note = team_rows[k]["name"]
        if k == 0:
            note += f" ({names[district0]}; join requests waiting)"
        ctx.login("team leader", LEADER_NAMES[k], f"138000000{20 + k}", note)
