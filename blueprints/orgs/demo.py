"""Demo organisation tree and people: a city, its districts, towns, communities and schools.

Adds to ctx.data: org_ids, org_paths {id: path}, city_id, district_ids, town_ids, community_ids,
school_ids, volunteer_ids (plain volunteers, by home org in volunteers_by_org), admin_id,
coordinator_ids {org_id: user_id}.
Role accounts use phones 138000000NN; later steps take numbers from 13800000020 upwards.
"""

from __future__ import annotations

from blueprints.auth.models import User, new_feed_token
from blueprints.core.models import utcnow
from blueprints.demo.bulk import chinese_name, insert_rows, next_id, reset_sequence, volunteer_phone
from blueprints.orgs.models import CoordinatorGrant, Org

DISTRICTS = ["翠屏区", "叙州区", "南溪区", "江安县", "长宁县", "高县", "珙县", "筠连县", "兴文县", "屏山县"]
TOWN_STEMS = "白沙 安阜 西郊 合江门 大观楼 南岸 象鼻 临港 李庄 宋家 菜坝 金坪 李端 思坡 牟坪 双龙 江北 沙坪 东城 凤凰 罗龙 黄沙 石城 龙华 柏溪 赵场 观音 高场 泥溪 蕨溪 商州 宗场 合什 古罗 仙临 留宾 大塔 红桥 五粮 竹海".split()
COMMUNITY_STEMS = "青年 向阳 和平 幸福 东风 团结 建设 光明 新华 民主 滨江 桂花 翠竹 长江 金沙 丽雅 映山 学府 春晖 盛世 锦绣 清风 北斗 星光 鹤鸣 竹韵 兴隆 永安 丰收 瑞和".split()
SCHOOLS = ["宜宾学院", "宜宾职业技术学院", "宜宾市第一中学"]


def _tree_shape(city: bool) -> tuple[int, int, int]:
    """(districts, towns per district, communities per town)."""
    return (10, 10, 19) if city else (4, 3, 3)


def seed(ctx) -> None:  # noqa: ANN001
    rng = ctx.rng
    n_districts, n_towns, n_comms = _tree_shape(ctx.city)
    org_rows: list[dict] = []
    oid = next_id(Org)
    now = utcnow()

    def add(name: str, kind: str, parent: dict | None) -> dict:
        nonlocal oid
        row = {
            "id": oid,
            "name": name,
            "kind": kind,
            "parent_id": parent["id"] if parent else None,
            "path": f"{parent['path'] if parent else '/'}{oid}/",
            "depth": parent["depth"] + 1 if parent else 0,
            "created_at": now,
            "annual_target_hours": None,
            "star_thresholds": None,
            "rounding_rule": None,
            "min_attendance_percent": None,
            "certificate_issuer": None,
        }
        oid += 1
        org_rows.append(row)
        return row

    city = add("宜宾市", "city", None)
    city.update(annual_target_hours=20, star_thresholds="100,300,600,1000,1500", rounding_rule="nearest_half_hour")
    districts, towns, communities, schools = [], [], [], []
    for d in range(n_districts):
        district = add(DISTRICTS[d % len(DISTRICTS)], "district", city)
        districts.append(district)
        for t in range(n_towns):
            stem = TOWN_STEMS[(d * 7 + t) % len(TOWN_STEMS)]
            town = add(f"{stem}{'街道' if t % 2 == 0 else '镇'}", "town", district)
            towns.append(town)
            for c in range(n_comms):
                cstem = COMMUNITY_STEMS[(t * 5 + c) % len(COMMUNITY_STEMS)]
                suffix = "社区" if c % 3 else "村"
                name = (
                    f"{cstem}{suffix}"
                    if c < len(COMMUNITY_STEMS)
                    else f"{cstem}{suffix}{c // len(COMMUNITY_STEMS) + 1}"
                )
                communities.append(add(name, "community", town))
    for name in SCHOOLS:
        schools.append(add(name, "school", city))
    # one district uses the local rounding rule and a higher target, to show inheritance
    districts[1].update(rounding_rule="local_15_45", annual_target_hours=24, min_attendance_percent=50)
    ctx.counts["orgs"] = insert_rows(Org, org_rows)
    reset_sequence(Org)

    data = ctx.data
    data["org_paths"] = {r["id"]: r["path"] for r in org_rows}
    data["org_ids"] = [r["id"] for r in org_rows]
    data["city_id"] = city["id"]
    data["district_ids"] = [r["id"] for r in districts]
    data["town_ids"] = [r["id"] for r in towns]
    data["community_ids"] = [r["id"] for r in communities]
    data["school_ids"] = [r["id"] for r in schools]
    data["org_names"] = {r["id"]: r["name"] for r in org_rows}

    # --- people ---
    uid = next_id(User)
    users: list[dict] = []

    def person(name: str, phone: str, home: int, admin: bool = False) -> int:
        nonlocal uid
        users.append(
            {
                "id": uid,
                "name": name,
                "phone": phone,
                "email": None,
                "password_hash": ctx.password_hash,
                "home_org_id": home,
                "locale": None,
                "is_admin": admin,
                "active": True,
                "created_at": now,
                "last_login_at": None,
                "feed_token": new_feed_token() if len(users) < 1000 else f"demo-{uid}-{rng.getrandbits(64):x}",
            }
        )
        uid += 1
        return uid - 1

    data["admin_id"] = person("系统管理员", "13800000000", city["id"], admin=True)
    ctx.login("admin", "系统管理员", "13800000000", "everything, user roles")
    coords = {}
    coords[city["id"]] = person("周团委", "13800000001", city["id"])
    ctx.login("coordinator (city)", "周团委", "13800000001", "宜宾市, the whole tree")
    coords[districts[0]["id"]] = person("林书记", "13800000002", districts[0]["id"])
    ctx.login("coordinator (district)", "林书记", "13800000002", districts[0]["name"])
    coords[districts[1]["id"]] = person("高书记", "13800000003", districts[1]["id"])
    ctx.login("coordinator (district)", "高书记", "13800000003", f"{districts[1]['name']} (sibling)")
    data["coordinator_ids"] = coords

    n_volunteers = 200_000 if ctx.city else 240
    homes = [r["id"] for r in communities] + [r["id"] for r in schools]
    volunteers_by_org: dict[int, list[int]] = {}
    volunteer_ids = []
    for i in range(n_volunteers):
        home = homes[i % len(homes)] if ctx.city else homes[rng.randrange(len(homes))]
        vid = person(chinese_name(rng), volunteer_phone(i), home)
        volunteer_ids.append(vid)
        volunteers_by_org.setdefault(home, []).append(vid)
    # the demo volunteer login: the first volunteer, given a memorable number
    users[len(users) - n_volunteers]["phone"] = "13800000030"
    users[len(users) - n_volunteers]["name"] = "李小青"
    ctx.login("volunteer", "李小青", "13800000030", data["org_names"][users[len(users) - n_volunteers]["home_org_id"]])
    ctx.counts["users"] = insert_rows(User, users)
    reset_sequence(User)
    data["volunteer_ids"] = volunteer_ids
    data["volunteers_by_org"] = volunteers_by_org

    grants = [
        {"user_id": u, "org_id": o, "granted_by_id": data["admin_id"], "granted_at": now} for o, u in coords.items()
    ]
    insert_rows(CoordinatorGrant, grants)
