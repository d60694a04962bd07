"""Organisation tree: scope checks, inherited settings, create / rename / move, coordinator grants."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, g, has_request_context
from sqlalchemy.orm.util import identity_key

from blueprints.core.audit import record_audit
from blueprints.core.db import adopt, fetch
from blueprints.core.extensions import db
from blueprints.core.registry import get_registry, user_fact

from .models import (
    DEFAULT_ROUNDING,
    DEFAULT_STAR_THRESHOLDS,
    DEFAULT_TARGET_HOURS,
    CoordinatorGrant,
    Org,
)


class OrgError(ValueError):
    """A change to the tree that is not allowed; the message is shown to the user."""


# --- scope ------------------------------------------------------------------------------------


@functools.cache
def _granted_orgs_statement():
    return (
        sa.select(*Org.__table__.columns)
        .join(CoordinatorGrant, CoordinatorGrant.org_id == Org.id)
        .where(CoordinatorGrant.user_id == sa.bindparam("grant_user_id"))
        .order_by(Org.name, Org.id)
    )


def coordinator_paths(user) -> list[str]:
    """Paths of the orgs `user` coordinates (cached for the request)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    cache = g.setdefault("_coord_paths", {}) if has_request_context() else {}
    if user.id not in cache and fact_says_none(user, "coordinates"):
        cache[user.id] = []  # the layout's facts (read anyway, once per request) say: no grant
    if user.id not in cache:
        # the granted orgs themselves (not only their paths), by name: scope_roots then needs no statement
        # (rows made the session's Orgs without the ORM's loading path: every page of a coordinator runs it)
        db.session.flush()  # as the query's autoflush did (a grant added in this session; nothing to do mostly)
        orgs = [adopt(Org, row) for row in fetch(_granted_orgs_statement(), {"grant_user_id": user.id})]
        cache[user.id] = sorted({org.path for org in orgs})
        if has_request_context():
            g.setdefault("_coord_orgs", {})[user.id] = orgs
    return cache[user.id]


def fact_says_none(user, name: str) -> bool:
    """In a request, True when the layout fact `name` (one statement for all facts) is 0."""
    if not has_request_context():
        return False
    return name in get_registry(current_app).facts and user_fact(user, name) == 0


def coordinates_fact(user):
    """How many orgs the user coordinates (read with the other layout facts in one statement)."""
    return (
        sa.select(sa.func.count())
        .select_from(CoordinatorGrant)
        .where(CoordinatorGrant.user_id == user.id)
        .scalar_subquery()
    )


def is_coordinator(user) -> bool:
    """An admin, or someone with a coordinator grant (no extra statement when the layout read the facts)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_admin:
        return True
    if has_request_context():
        return user_fact(user, "coordinates") > 0
    return bool(coordinator_paths(user))


def can_coordinate(user, org: Org | None) -> bool:
    """Admins everywhere; coordinators on their orgs and everything below."""
    if org is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_admin:
        return True
    return any(org.path.startswith(p) for p in coordinator_paths(user))


def can_coordinate_path(user, path: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_admin or any(path.startswith(p) for p in coordinator_paths(user))


def scope_clause(user, path_column=Org.path):
    """A WHERE clause limiting `path_column` (an org path) to the user's coordinator scope."""
    if getattr(user, "is_admin", False):
        return sa.true()
    paths = coordinator_paths(user)
    if not paths:
        return sa.false()
    return sa.or_(*[path_column.startswith(p, autoescape=False) for p in paths])


def subtree_clause(org: Org, path_column=Org.path):
    return path_column.startswith(org.path, autoescape=False)


def scope_roots(user) -> list[Org]:
    """The top orgs a user may manage: every root for an admin, the granted orgs for a coordinator."""
    if user.is_admin:
        return list(db.session.scalars(sa.select(Org).where(Org.parent_id.is_(None)).order_by(Org.name)))
    paths = coordinator_paths(user)
    # hide grants that are inside another grant of the same user
    tops = [p for p in paths if not any(p != q and p.startswith(q) for q in paths)]
    if not tops:
        return []
    # the orgs coordinator_paths read with the paths, unless a commit has expired them since
    granted = g.get("_coord_orgs", {}).get(user.id, []) if has_request_context() else []
    if granted and not any(sa.inspect(org).expired_attributes for org in granted):
        return [org for org in dict.fromkeys(granted) if org.path in tops]
    return list(db.session.scalars(sa.select(Org).where(Org.path.in_(tops)).order_by(Org.name)))


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgSettings:
    annual_target_hours: int
    star_thresholds: tuple[int, ...]
    rounding_rule: str
    min_attendance_percent: int
    certificate_issuer: str

    def star_level(self, minutes: int) -> int:
        """0-5: how many thresholds `minutes` of service reach."""
        hours = minutes / 60
        return sum(1 for t in self.star_thresholds if hours >= t)


def parse_thresholds(text: str) -> tuple[int, ...]:
    """'100, 300,600,1000,1500' -> (100, 300, 600, 1000, 1500); raises ValueError when not 5 rising numbers."""
    values = tuple(int(part) for part in text.replace("，", ",").split(",") if part.strip())
    if len(values) != 5 or any(v <= 0 for v in values) or list(values) != sorted(set(values)):
        raise ValueError(text)
    return values


def _loaded_orgs(ids: list[int]) -> dict[int, Org]:
    """The orgs with these ids that the session has loaded already (no statement)."""
    identity = db.session.identity_map
    found = {}
    for oid in ids:
        org = identity.get(identity_key(Org, oid))
        if org is not None and not sa.inspect(org).expired_attributes:
            found[oid] = org
    return found


#: levels read by load_with_ancestors (city, district, town, community, and two more)
CHAIN_LEVELS = 6


@functools.cache
def _chain_statement():
    """SELECT an org and its ancestors as one row (built once per process: six aliases)."""
    levels = [Org, *(sa.orm.aliased(Org) for _ in range(CHAIN_LEVELS - 1))]
    stmt = sa.select(*levels).where(Org.id == sa.bindparam("chain_org_id"))
    for child, parent in zip(levels, levels[1:], strict=False):
        stmt = stmt.outerjoin(parent, parent.id == child.parent_id)
    return stmt


@functools.cache
def _chain_aliases() -> tuple:
    return tuple(sa.orm.aliased(Org, name=f"chain_{level}") for level in range(CHAIN_LEVELS))


def with_org_chain(stmt: sa.Select, org_id) -> sa.Select:  # noqa: ANN001 - an int or a column
    """`stmt` outer-joined with the org `org_id` and the orgs above it: CHAIN_LEVELS more entities at the
    end of each row (None where the tree is shallower). For a page that runs a statement anyway: hand
    the row's orgs to keep_org_chain, and load_with_ancestors / effective_settings need no statement."""
    levels = _chain_aliases()
    stmt = stmt.add_columns(*levels).outerjoin(levels[0], levels[0].id == org_id)
    for child, parent in zip(levels, levels[1:], strict=False):
        stmt = stmt.outerjoin(parent, parent.id == child.parent_id)
    return stmt


def keep_org_chain(orgs) -> None:  # noqa: ANN001
    """Keep orgs read by with_org_chain for the request (the session's identity map holds them weakly)."""
    if has_request_context():
        g.setdefault("_org_chains", []).append([o for o in orgs if o is not None])


def load_with_ancestors(org_id: int | None) -> Org | None:
    """The org with this id, loaded together with every org above it in ONE statement (so that
    effective_settings needs none); None when there is no such org."""
    if org_id is None:
        return None
    org = _loaded_orgs([org_id]).get(org_id)
    if org is None:
        # up the tree by parent_id in one row: a primary-key read per level (a deeper tree than
        # CHAIN_LEVELS leaves the rest to effective_settings' own statement)
        row = db.session.execute(_chain_statement(), {"chain_org_id": org_id}).one_or_none()
        chain = [o for o in (row or ()) if o is not None]
        org = next((o for o in chain if o.id == org_id), None)
        if has_request_context():
            # the session's identity map holds objects weakly: keep the chain for the request
            g.setdefault("_org_chains", []).append(chain)
    return org


SETTING_NAMES = (
    "annual_target_hours",
    "star_thresholds",
    "rounding_rule",
    "min_attendance_percent",
    "certificate_issuer",
)


def effective_settings(org: Org | None) -> OrgSettings:
    """Settings of `org`, each taken from the nearest org up the tree that sets it."""
    if org is None:
        return settings_from_chain([])
    ids = org.ancestor_ids or [org.id]
    rows = _loaded_orgs(ids)  # no statement when the chain is loaded already (load_with_ancestors)
    if len(rows) < len(ids):
        rows = {o.id: o for o in db.session.scalars(sa.select(Org).where(Org.id.in_(ids)))}
    chain = [rows[oid] for oid in reversed(ids) if oid in rows]
    return settings_from_chain([tuple(getattr(o, name) for name in SETTING_NAMES) for o in chain])


def settings_from_chain(chain: list[tuple]) -> OrgSettings:
    """OrgSettings from the setting values (in SETTING_NAMES order) of an org and its ancestors, nearest
    first: each setting from the nearest org that sets it, else the default."""
    values = dict.fromkeys(SETTING_NAMES)
    for org_values in chain:
        for name, value in zip(SETTING_NAMES, org_values, strict=True):
            if values[name] is None and value is not None:
                values[name] = value
    thresholds = DEFAULT_STAR_THRESHOLDS
    if values["star_thresholds"]:
        try:
            thresholds = parse_thresholds(values["star_thresholds"])
        except ValueError:
            thresholds = DEFAULT_STAR_THRESHOLDS
    return OrgSettings(
        annual_target_hours=DEFAULT_TARGET_HOURS
        if values["annual_target_hours"] is None
        else values["annual_target_hours"],
        star_thresholds=thresholds,
        rounding_rule=values["rounding_rule"] or DEFAULT_ROUNDING,
        min_attendance_percent=values["min_attendance_percent"] or 0,
        certificate_issuer=values["certificate_issuer"] or "self",
    )


@dataclass(frozen=True)
class OrgScope:
    """What most checks need of an org: its id, its path (for scope checks) and its inherited settings."""

    id: int
    path: str
    settings: OrgSettings


@functools.cache
def _scope_statement():
    """An org's path and the setting columns of it and up to CHAIN_LEVELS - 1 ancestors as one flat row:
    primary-key joins, no ORM objects (built once per process)."""
    levels = [Org.__table__.alias(f"chain{i}") for i in range(CHAIN_LEVELS)]
    columns = [levels[0].c.id, levels[0].c.path, levels[-1].c.parent_id.label("beyond")]
    for level in levels:
        columns += [level.c.id.label(f"{level.name}_id"), *(level.c[name] for name in SETTING_NAMES)]
    joined = levels[0]
    for child, parent in zip(levels, levels[1:], strict=False):
        joined = joined.outerjoin(parent, parent.c.id == child.c.parent_id)
    return sa.select(*columns).select_from(joined).where(levels[0].c.id == sa.bindparam("org_id"))


def _scope_of(org: Org) -> OrgScope:
    return OrgScope(org.id, org.path, effective_settings(org))


def org_scope(org_id: int | None) -> OrgScope | None:
    """The org's id, path and inherited settings in one cheap statement (kept for the request);
    None when there is no such org."""
    if org_id is None:
        return None
    cache = g.setdefault("_org_scopes", {}) if has_request_context() else {}
    if org_id not in cache:
        org = _loaded_orgs([org_id]).get(org_id)
        chain = (org.ancestor_ids or [org.id]) if org is not None else []
        if org is not None and len(_loaded_orgs(chain)) == len(chain):
            # the request has the org and its ancestors already (with_org_chain): no statement
            cache[org_id] = _scope_of(org)
            return cache[org_id]
        rows = fetch(_scope_statement(), {"org_id": org_id})
        row = rows[0] if rows else None
        if row is None:
            cache[org_id] = None
        elif row.beyond is not None:  # a deeper tree than the statement reads: the general way
            cache[org_id] = _scope_of(load_with_ancestors(org_id))
        else:
            width = 1 + len(SETTING_NAMES)
            values = tuple(row)[3:]
            chain = [values[i + 1 : i + width] for i in range(0, len(values), width) if values[i] is not None]
            cache[org_id] = OrgScope(row.id, row.path, settings_from_chain(chain))
    return cache[org_id]


def round_minutes(minutes: int, rule: str) -> int:
    """Apply an hour-rounding rule to a number of minutes.

    - nearest_half_hour: to the nearest 30 minutes (15 -> 30, 14 -> 0)
    - local_15_45: of each started hour, under 15 min counts 0, 15-44 counts 30, 45+ counts 60
    - down_half_hour: whole half hours only
    - nearest_quarter: to the nearest 15 minutes
    - exact: as measured
    """
    minutes = max(0, int(minutes))
    if rule == "exact":
        return minutes
    if rule == "nearest_quarter":
        return ((minutes + 7) // 15) * 15
    if rule == "down_half_hour":
        return (minutes // 30) * 30
    if rule == "local_15_45":
        whole, rest = divmod(minutes, 60)
        extra = 0 if rest < 15 else 30 if rest < 45 else 60
        return whole * 60 + extra
    return ((minutes + 15) // 30) * 30  # nearest_half_hour (a quarter rounds up)


# --- tree changes -----------------------------------------------------------------------------


def create_org(actor, name: str, kind: str, parent: Org | None) -> Org:
    """Add an org under `parent` (a root when None). Flushes; the caller commits."""
    name = name.strip()
    _check_name_free(name, parent.id if parent else None)
    org = Org(name=name, kind=kind, parent=parent, path="", depth=(parent.depth + 1) if parent else 0)
    db.session.add(org)
    db.session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    db.session.flush()
    record_audit(actor, "org.create", org, org_id=org.id, name=name, parent_id=parent.id if parent else None)
    return org


def rename_org(actor, org: Org, name: str, kind: str) -> None:
    name = name.strip()
    if name != org.name:
        _check_name_free(name, org.parent_id, exclude=org.id)
    old = org.name
    org.name, org.kind = name, kind
    db.session.flush()
    record_audit(actor, "org.rename", org, org_id=org.id, old=old, new=name, kind=kind)


def move_org(actor, org: Org, new_parent: Org) -> None:
    """Put `org` (and its subtree) under `new_parent`, rewriting the paths below it."""
    if new_parent.path.startswith(org.path):
        raise OrgError("cycle")
    if org.parent_id == new_parent.id:
        return
    _check_name_free(org.name, new_parent.id, exclude=org.id)
    old_prefix = org.path
    new_prefix = f"{new_parent.path}{org.id}/"
    depth_shift = new_parent.depth + 1 - org.depth
    old_parent_id = org.parent_id
    db.session.execute(
        sa.update(Org)
        .where(Org.path.startswith(old_prefix, autoescape=False))
        .values(
            path=sa.literal(new_prefix) + sa.func.substr(Org.path, len(old_prefix) + 1),
            depth=Org.depth + depth_shift,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(sa.update(Org).where(Org.id == org.id).values(parent_id=new_parent.id))
    db.session.flush()
    db.session.expire_all()
    record_audit(actor, "org.move", org, org_id=org.id, old_parent_id=old_parent_id, new_parent_id=new_parent.id)


def update_settings(actor, org: Org, **values) -> None:
    changed = {}
    for key, value in values.items():
        if getattr(org, key) != value:
            changed[key] = [getattr(org, key), value]
            setattr(org, key, value)
    db.session.flush()
    if changed:
        record_audit(actor, "org.settings", org, org_id=org.id, changed=changed)


def _check_name_free(name: str, parent_id: int | None, exclude: int | None = None) -> None:
    query = sa.select(Org.id).where(Org.name == name)
    query = query.where(Org.parent_id.is_(None) if parent_id is None else Org.parent_id == parent_id)
    if exclude is not None:
        query = query.where(Org.id != exclude)
    if db.session.scalar(query.limit(1)) is not None:
        raise OrgError("name_taken")


def grant_coordinator(actor, org: Org, user) -> CoordinatorGrant:
    existing = db.session.scalar(
        sa.select(CoordinatorGrant).where(CoordinatorGrant.org_id == org.id, CoordinatorGrant.user_id == user.id)
    )
    if existing is not None:
        raise OrgError("already_coordinator")
    grant = CoordinatorGrant(org=org, user=user, granted_by_id=actor.id)
    db.session.add(grant)
    db.session.flush()
    record_audit(actor, "coordinator.grant", org, org_id=org.id, user_id=user.id)
    return grant


def revoke_coordinator(actor, grant: CoordinatorGrant) -> None:
    org_id, user_id = grant.org_id, grant.user_id
    db.session.delete(grant)
    db.session.flush()
    record_audit(actor, "coordinator.revoke", grant.org, org_id=org_id, user_id=user_id)


def search_orgs(query: str, limit: int = 20, within: Org | None = None) -> list[Org]:
    """Orgs whose name contains `query`, shallow ones first."""
    query = query.strip()
    if not query:
        return []
    like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stmt = sa.select(Org).where(Org.name.ilike(like, escape="\\"))
    if within is not None:
        stmt = stmt.where(subtree_clause(within))
    return list(db.session.scalars(stmt.order_by(Org.depth, Org.name).limit(limit)))


def org_trail(orgs: list[Org]) -> dict[int, str]:
    """For each org, its ancestors' names joined: '某市 › 某区 › 某街道' (one query for all)."""
    ids = {i for o in orgs for i in o.ancestor_ids}
    names = dict(db.session.execute(sa.select(Org.id, Org.name).where(Org.id.in_(ids))).all()) if ids else {}
    return {o.id: " › ".join(names.get(i, "?") for i in o.ancestor_ids) for o in orgs}


def org_picker_context(query: str | None, selected: Org | None = None, user=None) -> dict:  # noqa: ANN001
    """Template values of the org picker (macros.org_picker): matches for `query`, the chosen org first.

    With `user`, only orgs that user coordinates are offered (moving an org, placing a youth home).
    """
    query = (query or "").strip()
    results = search_orgs(query, limit=40 if user is not None else 20) if query else []
    if user is not None:
        results = [o for o in results if can_coordinate(user, o)][:20]
    if selected is not None and selected not in results and (user is None or can_coordinate(user, selected)):
        results = [selected, *results]
    return {"org_results": results, "org_trails": org_trail(results), "selected_org": selected, "org_query": query}
