"""Teams: who leads and who belongs, joining and leaving, leader grants (audited)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, has_request_context, url_for
from flask_babel import force_locale

from blueprints.core.audit import record_audit
from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow
from blueprints.core.translate import lazy_gettext as _l
from blueprints.notifications.services import notify
from blueprints.orgs.models import Org
from blueprints.orgs.services import can_coordinate, fact_says_none

from .models import Membership, Team


class TeamError(ValueError):
    """A change that is not allowed; `.message` is shown to the user."""

    def __init__(self, code: str, message):  # noqa: ANN001 - a lazy_gettext string
        super().__init__(code)
        self.code = code
        self._message = message

    @property
    def message(self) -> str:
        if has_request_context():
            return str(self._message)
        with force_locale("zh_CN"):
            return str(self._message)


# --- questions ----------------------------------------------------------------------------------

#: a membership that makes its user a leader of the team now
ACTIVE_LEADER = sa.and_(Membership.role == "leader", Membership.state == "active")


def _authenticated(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def led_team_ids(user) -> list[int]:
    """Ids of the teams `user` leads (an active leader membership), cached for the request."""
    if not _authenticated(user):
        return []
    cache = g.setdefault("_led_teams", {}) if has_request_context() else {}
    if user.id not in cache and fact_says_none(user, "leads"):
        cache[user.id] = []  # the layout's facts (read with the user) say: leads no team
    if user.id not in cache:
        cache[user.id] = sorted(
            db.session.scalars(sa.select(Membership.team_id).where(Membership.user_id == user.id, ACTIVE_LEADER))
        )
    return cache[user.id]


def led_team_ids_column(user_id):  # noqa: ANN001 - an int or a bind parameter
    """The ids of the teams the user leads as one comma-separated string (a scalar subquery), for a
    statement that runs anyway and can read them on the side: pass the value to remember_led_team_ids,
    and led_team_ids needs no statement of its own for the rest of the request."""
    return (
        sa.select(sa.func.aggregate_strings(sa.cast(Membership.team_id, sa.String), ","))
        .where(Membership.user_id == user_id, ACTIVE_LEADER)
        .scalar_subquery()
    )


def remember_led_team_ids(user, value: str | None) -> list[int]:
    """Keep what led_team_ids_column read as led_team_ids(user) for the request; returns the ids."""
    ids = sorted(int(part) for part in (value or "").split(",") if part)
    if has_request_context() and _authenticated(user):
        g.setdefault("_led_teams", {})[user.id] = ids
    return ids


def forget_cached_roles() -> None:
    """Drop the per-request role caches (after a grant or a join in the same request), and the layout's
    facts about users, which count them."""
    if has_request_context():
        g.pop("_led_teams", None)
        from blueprints.core.registry import forget_user_facts

        forget_user_facts()


def is_leader(user, team: Team) -> bool:
    """True when `user` is an active leader of `team`."""
    return team is not None and team.id in led_team_ids(user)


def active_membership(user, team: Team) -> Membership | None:
    """The user's pending or active membership of `team`, if any."""
    if not _authenticated(user):
        return None
    return db.session.scalar(
        sa.select(Membership).where(
            Membership.team_id == team.id,
            Membership.user_id == user.id,
            Membership.state.in_(("pending", "active")),
        )
    )


def is_member(user, team: Team) -> bool:
    """An active member or leader (a pending request does not count)."""
    if not _authenticated(user):
        return False
    return (
        db.session.scalar(
            sa.select(Membership.id).where(
                Membership.team_id == team.id, Membership.user_id == user.id, Membership.state == "active"
            )
        )
        is not None
    )


def can_manage_team(user, team: Team) -> bool:
    """Leaders of the team, coordinators of its org (or above), admins."""
    if not _authenticated(user):
        return False
    return bool(user.is_admin or is_leader(user, team) or can_coordinate(user, team.org))


def team_leaders(team_ids: list[int]) -> dict[int, list]:
    """{team_id: [User, ...]} of active leaders, in one query."""
    from blueprints.auth.models import User

    if not team_ids:
        return {}
    rows = db.session.execute(
        sa.select(Membership.team_id, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.team_id.in_(team_ids), ACTIVE_LEADER)
        .order_by(Membership.created_at, Membership.id)
    ).all()
    out: dict[int, list] = {tid: [] for tid in team_ids}
    for tid, user in rows:
        out[tid].append(user)
    return out


def member_counts(team_ids: list[int]) -> dict[int, int]:
    """{team_id: active members incl. leaders}, one aggregate query."""
    if not team_ids:
        return {}
    rows = db.session.execute(
        sa.select(Membership.team_id, sa.func.count())
        .where(Membership.team_id.in_(team_ids), Membership.state == "active")
        .group_by(Membership.team_id)
    ).all()
    counts = dict.fromkeys(team_ids, 0)
    counts.update({tid: n for tid, n in rows})
    return counts


def leads_fact(user):
    """How many teams the user leads (a layout fact: most users lead none, and then need no query)."""
    return (
        sa.select(sa.func.count())
        .select_from(Membership)
        .where(Membership.user_id == user.id, ACTIVE_LEADER)
        .scalar_subquery()
    )


def team_requests_fact(user):
    """The join-requests badge as one scalar subquery (a layout fact, read with the others)."""
    led = sa.select(Membership.team_id).where(Membership.user_id == user.id, ACTIVE_LEADER)
    pending = sa.orm.aliased(Membership)
    return (
        sa.select(sa.func.count())
        .select_from(pending)
        .where(pending.team_id.in_(led), pending.state == "pending")
        .scalar_subquery()
    )


def pending_requests_count(user) -> int:
    """Join requests waiting for a decision in the teams `user` leads (nav badge)."""
    ids = led_team_ids(user)
    if not ids:
        return 0
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Membership)
            .where(Membership.team_id.in_(ids), Membership.state == "pending")
        )
        or 0
    )


def _link(endpoint: str, team_id: int, suffix: str = "") -> str:
    """A page of the team (also outside a request: CLI, demo data)."""
    if has_request_context():
        return url_for(endpoint, team_id=team_id)
    return f"/teams/{team_id}{suffix}"


# --- changes ------------------------------------------------------------------------------------


def _flush_or(code: str, message: str) -> None:
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise TeamError(code, message) from exc


def create_team(actor, org: Org, name: str, description: str, join_policy: str, leaders: list) -> Team:
    """A new team in `org` with its first leaders. Flushes; the caller commits."""
    name = name.strip()
    if db.session.scalar(sa.select(Team.id).where(Team.org_id == org.id, Team.name == name)) is not None:
        raise TeamError("name_taken", _l("This organisation already has a team with that name."))
    team = Team(org_id=org.id, name=name, description=(description or "").strip(), join_policy=join_policy)
    team.org = org
    db.session.add(team)
    _flush_or("name_taken", _l("This organisation already has a team with that name."))
    record_audit(actor, "team.create", team, org_id=org.id, name=name, join_policy=join_policy)
    for user in leaders:
        grant_leader(actor, team, user)
    return team


def update_team(actor, team: Team, name: str, description: str, join_policy: str) -> None:
    name = name.strip()
    if name != team.name:
        taken = db.session.scalar(
            sa.select(Team.id).where(Team.org_id == team.org_id, Team.name == name, Team.id != team.id)
        )
        if taken is not None:
            raise TeamError("name_taken", _l("This organisation already has a team with that name."))
    changed = {
        key: [getattr(team, key), value]
        for key, value in (("name", name), ("description", (description or "").strip()), ("join_policy", join_policy))
        if getattr(team, key) != value
    }
    for key, (_old, value) in changed.items():
        setattr(team, key, value)
    _flush_or("name_taken", _l("This organisation already has a team with that name."))
    if changed:
        record_audit(actor, "team.update", team, org_id=team.org_id, changed=changed)


def grant_leader(actor, team: Team, user) -> Membership:
    """Make `user` a leader of `team` (joining them if needed). Audited; the new leader is notified."""
    membership = active_membership(user, team)
    if membership is not None and membership.role == "leader" and membership.state == "active":
        raise TeamError("already_leader", _l("%(name)s already leads this team.", name=user.name))
    if membership is None:
        membership = Membership(team_id=team.id, user_id=user.id, role="leader", state="active")
        db.session.add(membership)
    else:
        membership.role = "leader"
        membership.state = "active"
    membership.decided_by_id = actor.id
    membership.decided_at = utcnow()
    _flush_or("already_leader", _l("%(name)s already leads this team.", name=user.name))
    record_audit(actor, "team.leader_grant", team, org_id=team.org_id, user_id=user.id)
    if user.id != actor.id:
        notify(user, "team_leader_granted", link=_link("teams.show", team.id), team=team.name)
    forget_cached_roles()
    return membership


def revoke_leader(actor, membership: Membership) -> None:
    """A leader becomes a plain member again. A team keeps at least one leader."""
    if membership.role != "leader" or membership.state != "active":
        raise TeamError("not_leader", _l("That person is not a leader of this team."))
    if _leader_count(membership.team_id) <= 1:
        raise TeamError("last_leader", _l("A team needs at least one leader. Name another leader first."))
    membership.role = "member"
    db.session.flush()
    record_audit(
        actor, "team.leader_revoke", membership.team, org_id=membership.team.org_id, user_id=membership.user_id
    )
    forget_cached_roles()


def _leader_count(team_id: int) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Membership).where(Membership.team_id == team_id, ACTIVE_LEADER)
        )
        or 0
    )


def join_team(user, team: Team) -> Membership:
    """Join an open team at once, or ask to join a team that approves its members."""
    if not team.active:
        raise TeamError("inactive", _l("This team no longer takes new members."))
    existing = active_membership(user, team)
    if existing is not None:
        if existing.state == "pending":
            raise TeamError("pending", _l("Your request to join is waiting for a leader's decision."))
        raise TeamError("member", _l("You are already a member of this team."))
    state = "active" if team.join_policy == "open" else "pending"
    membership = Membership(team_id=team.id, user_id=user.id, role="member", state=state)
    db.session.add(membership)
    _flush_or("member", _l("You are already a member of this team."))
    if state == "pending":
        from blueprints.auth.models import User

        link = _link("teams.members", team.id, "/members")
        leaders = db.session.scalars(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.team_id == team.id, ACTIVE_LEADER)
        )
        for leader in leaders:
            notify(leader, "team_join_requested", link=link, name=user.name, team=team.name)
    return membership


def leave_team(user, team: Team) -> None:
    """Leave a team, or withdraw a pending request. The last leader cannot leave."""
    membership = active_membership(user, team)
    if membership is None:
        raise TeamError("not_member", _l("You are not a member of this team."))
    if membership.role == "leader" and membership.state == "active" and _leader_count(team.id) <= 1:
        raise TeamError("last_leader", _l("You are the only leader of this team. Name another leader first."))
    membership.state = "left"
    membership.role = "member"
    db.session.flush()
    forget_cached_roles()


def decide_request(actor, membership: Membership, approve: bool) -> None:
    """A leader approves or declines a pending join request; the volunteer is notified."""
    if membership.state != "pending":
        raise TeamError("decided", _l("This request was already decided."))
    membership.state = "active" if approve else "declined"
    membership.decided_by_id = actor.id
    membership.decided_at = utcnow()
    db.session.flush()
    team = membership.team
    kind = "team_join_approved" if approve else "team_join_declined"
    notify(membership.user, kind, link=_link("teams.show", team.id), team=team.name)


def remove_member(actor, membership: Membership) -> None:
    """A leader takes someone off the team (not a leader: revoke the leader role first)."""
    if membership.state != "active":
        raise TeamError("not_member", _l("That person is not a member of this team."))
    if membership.role == "leader":
        raise TeamError("is_leader", _l("Take the leader role away first."))
    membership.state = "removed"
    membership.decided_by_id = actor.id
    membership.decided_at = utcnow()
    db.session.flush()
    record_audit(
        actor, "team.member_remove", membership.team, org_id=membership.team.org_id, user_id=membership.user_id
    )
