"""Team pages: list, page, create and edit, join and leave, roster and join requests, leader grants."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from blueprints.auth.services import user_by_phone
from blueprints.core.authz import require
from blueprints.core.extensions import db
from blueprints.core.forms import TokenForm, check_csrf
from blueprints.core.htmx import is_htmx, render_page
from blueprints.core.paging import page_arg
from blueprints.core.translate import gettext as _
from blueprints.orgs.models import Org
from blueprints.orgs.services import can_coordinate, is_coordinator, org_trail, search_orgs, subtree_clause

from . import bp
from .forms import (
    JOIN_POLICY_SHORT,
    MEMBERSHIP_STATE_LABELS,
    ROLE_LABELS,
    LeaderForm,
    TeamEditForm,
    TeamForm,
)
from .models import Membership, Team
from .services import (
    TeamError,
    active_membership,
    can_manage_team,
    create_team,
    decide_request,
    grant_leader,
    join_team,
    leave_team,
    member_counts,
    remove_member,
    revoke_leader,
    team_leaders,
    update_team,
)

PAGE = 30
ROSTER_PAGE = 20
REQUESTS_PAGE = 10


def _team_or_404(team_id: int) -> Team:
    return db.get_or_404(Team, team_id, options=[joinedload(Team.org)])


def _labels() -> dict:
    return {"policy_labels": JOIN_POLICY_SHORT, "state_labels": MEMBERSHIP_STATE_LABELS, "role_labels": ROLE_LABELS}


@bp.get("/")
def index():
    """Every active team (search by name, narrow to an organisation's subtree, or to my teams)."""
    page = max(1, request.args.get("page", 1, type=int))
    query = (request.args.get("q") or "").strip()[:60]
    mine = request.args.get("mine") == "1" and current_user.is_authenticated
    org = db.session.get(Org, request.args.get("org", type=int)) if request.args.get("org") else None
    stmt = sa.select(Team).join(Org, Org.id == Team.org_id).where(Team.active.is_(True))
    if query:
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(Team.name.ilike(like, escape="\\"))
    if org is not None:
        stmt = stmt.where(subtree_clause(org))
    if mine:
        stmt = stmt.where(
            Team.id.in_(
                sa.select(Membership.team_id).where(
                    Membership.user_id == current_user.id, Membership.state.in_(("pending", "active"))
                )
            )
        )
    rows = list(
        db.session.scalars(
            stmt.options(joinedload(Team.org)).order_by(Team.name, Team.id).limit(PAGE + 1).offset((page - 1) * PAGE)
        )
    )
    teams = rows[:PAGE]
    ids = [t.id for t in teams]
    return render_page(
        "teams/index.html",
        "results",
        teams=teams,
        counts=member_counts(ids),
        leaders=team_leaders(ids),
        page=page,
        has_more=len(rows) > PAGE,
        query=query,
        mine=mine,
        org=org,
        can_create=is_coordinator(current_user),
        **_labels(),
    )


def _org_picker(form: TeamForm) -> dict:
    query = (form.org_query.data or "").strip()
    results = [o for o in search_orgs(query, limit=40) if can_coordinate(current_user, o)][:20] if query else []
    selected = db.session.get(Org, form.org_id.data) if isinstance(form.org_id.data, int) else None
    if selected is not None and selected not in results and can_coordinate(current_user, selected):
        results.insert(0, selected)
    return {"org_results": results, "org_trails": org_trail(results), "selected_org": selected, "org_query": query}


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    """A coordinator creates a team inside their scope and names its leaders."""
    require(is_coordinator(current_user))
    form = TeamForm()
    if request.method == "GET" and request.args.get("org", type=int):
        form.org_id.data = request.args.get("org", type=int)
    status = 200
    if request.method == "POST" and request.form.get("action") == "search_org":
        form.validate()
        for field in form:
            field.errors = []
    elif form.validate_on_submit():
        org = db.session.get(Org, form.org_id.data)
        leaders = [user_by_phone(p) for p in form.phones]
        unknown = [p for p, u in zip(form.phones, leaders, strict=True) if u is None]
        if org is None:
            form.org_id.errors.append(_("Choose an organisation from the search results."))
        elif not can_coordinate(current_user, org):
            abort(403)
        elif unknown:
            form.leader_phones.errors.append(
                _(
                    "No account has this mobile number: %(phones)s. Ask them to register first.",
                    phones=", ".join(unknown),
                )
            )
        else:
            try:
                team = create_team(
                    current_user, org, form.name.data, form.description.data, form.join_policy.data, leaders
                )
            except TeamError as exc:
                form.name.errors.append(exc.message)
            else:
                db.session.commit()
                flash(_("The team %(name)s was created.", name=team.name), "success")
                return redirect(url_for("teams.show", team_id=team.id), 303)
        status = 422
    elif request.method == "POST":
        status = 422
    return render_page("teams/new.html", "form", status=status, form=form, **_org_picker(form))


def _leaders_and_mine(team: Team) -> tuple[list, Membership | None]:
    """The team's leaders and the viewer's own pending/active membership, in one query."""
    viewer_id = current_user.id if current_user.is_authenticated else -1
    rows = db.session.scalars(
        sa.select(Membership)
        .where(
            Membership.team_id == team.id,
            sa.or_(
                sa.and_(Membership.role == "leader", Membership.state == "active"),
                sa.and_(Membership.user_id == viewer_id, Membership.state.in_(("pending", "active"))),
            ),
        )
        .options(joinedload(Membership.user))
        .order_by(Membership.created_at, Membership.id)
    ).all()
    leaders = [m.user for m in rows if m.role == "leader" and m.state == "active"]
    mine = next((m for m in rows if m.user_id == viewer_id), None)
    return leaders, mine


def _team_with_count(team_id: int) -> tuple[Team, int]:
    """The team (with its org) and its number of active members, in one query; 404 if unknown."""
    members = (
        sa.select(sa.func.count())
        .select_from(Membership)
        .where(Membership.team_id == Team.id, Membership.state == "active")
        .scalar_subquery()
    )
    row = db.session.execute(sa.select(Team, members).where(Team.id == team_id).options(joinedload(Team.org))).first()
    if row is None:
        abort(404)
    return row[0], row[1]


def _team_page(team: Team, status: int = 200, block: str | None = None, member_count: int | None = None, **extra):
    leaders, membership = _leaders_and_mine(team)
    context = {
        "team": team,
        "trail": org_trail([team.org])[team.org_id],
        "leaders": leaders,
        "member_count": member_counts([team.id])[team.id] if member_count is None else member_count,
        "membership": membership,
        "can_manage": can_manage_team(current_user, team),
        "form": TokenForm(),
        **_labels(),
        **extra,
    }
    return render_page("teams/show.html", block, status=status, **context)


@bp.get("/<int:team_id>")
def show(team_id: int):
    """A team: about, organisation, leaders, member count, upcoming events; join or leave."""
    team, member_count = _team_with_count(team_id)
    return _team_page(team, member_count=member_count)


@bp.route("/<int:team_id>/edit", methods=["GET", "POST"])
@login_required
def edit(team_id: int):
    """Leaders and coordinators change the name, description and join policy."""
    team = _team_or_404(team_id)
    require(can_manage_team(current_user, team))
    form = TeamEditForm(data={"name": team.name, "description": team.description, "join_policy": team.join_policy})
    if form.validate_on_submit():
        try:
            update_team(current_user, team, form.name.data, form.description.data, form.join_policy.data)
        except TeamError as exc:
            form.name.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("teams.show", team_id=team.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_page("teams/edit.html", "form", status=status, team=team, form=form)


@bp.post("/<int:team_id>/join")
@login_required
def join(team_id: int):
    """Join an open team, or ask to join one that approves its members."""
    team = _team_or_404(team_id)
    check_csrf()
    try:
        membership = join_team(current_user, team)
    except TeamError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _team_page(team, status=409, block="membership")
    db.session.commit()
    if membership.state == "active":
        flash(_("Welcome to %(team)s!", team=team.name), "success")
    else:
        flash(_("Your request was sent to the team's leaders."), "success")
    if is_htmx():
        return _team_page(team, block="membership")
    return redirect(url_for("teams.show", team_id=team.id), 303)


@bp.post("/<int:team_id>/leave")
@login_required
def leave(team_id: int):
    """Leave the team, or withdraw a request to join."""
    team = _team_or_404(team_id)
    check_csrf()
    try:
        leave_team(current_user, team)
    except TeamError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _team_page(team, status=409, block="membership")
    db.session.commit()
    flash(_("You are no longer on %(team)s.", team=team.name), "success")
    if is_htmx():
        return _team_page(team, block="membership")
    return redirect(url_for("teams.show", team_id=team.id), 303)


def _roster_context(team: Team, leader_form: LeaderForm | None = None) -> dict:
    page, requests_page = page_arg(), page_arg("rpage")
    members = list(
        db.session.scalars(
            sa.select(Membership)
            .where(Membership.team_id == team.id, Membership.state == "active")
            .options(joinedload(Membership.user))
            .order_by(sa.case((Membership.role == "leader", 0), else_=1), Membership.created_at, Membership.id)
            .limit(ROSTER_PAGE + 1)
            .offset((page - 1) * ROSTER_PAGE)
        )
    )
    manage = can_manage_team(current_user, team)
    pending = []
    if manage:
        pending = list(
            db.session.scalars(
                sa.select(Membership)
                .where(Membership.team_id == team.id, Membership.state == "pending")
                .options(joinedload(Membership.user))
                .order_by(Membership.created_at, Membership.id)
                .limit(REQUESTS_PAGE + 1)
                .offset((requests_page - 1) * REQUESTS_PAGE)
            )
        )
    return {
        "team": team,
        "members": members[:ROSTER_PAGE],
        "page": page,
        "has_more": len(members) > ROSTER_PAGE,
        "pending": pending[:REQUESTS_PAGE],
        "requests_page": requests_page,
        "requests_more": len(pending) > REQUESTS_PAGE,
        "can_manage": manage,
        "leader_form": leader_form or LeaderForm(prefix="leader"),
        "form": TokenForm(),
        **_labels(),
    }


@bp.get("/<int:team_id>/members")
@login_required
def members(team_id: int):
    """The roster (phones masked) for members and managers; join requests for managers."""
    team = _team_or_404(team_id)
    require(can_manage_team(current_user, team) or active_membership(current_user, team) is not None)
    context = _roster_context(team)
    if (context["page"] > 1 and not context["members"]) or (context["requests_page"] > 1 and not context["pending"]):
        abort(404)
    block = "requests" if request.headers.get("HX-Target") == "requests" else "roster"
    return render_page("teams/members.html", block, **context)


@bp.post("/<int:team_id>/leaders")
@login_required
def add_leader(team_id: int):
    """Name a leader by mobile number (audited)."""
    team = _team_or_404(team_id)
    require(can_manage_team(current_user, team))
    form = LeaderForm(prefix="leader")
    if form.validate_on_submit():
        user = user_by_phone(form.phone.data)
        if user is None:
            form.phone.errors.append(_("No account has this mobile number. Ask them to register first."))
        else:
            try:
                grant_leader(current_user, team, user)
            except TeamError as exc:
                form.phone.errors.append(exc.message)
            else:
                db.session.commit()
                flash(_("%(name)s now leads %(team)s.", name=user.name, team=team.name), "success")
                return redirect(url_for("teams.members", team_id=team.id), 303)
    return render_page("teams/members.html", "leader_form", status=422, **_roster_context(team, form))


def _membership_of(team: Team, membership_id: int) -> Membership:
    membership = db.get_or_404(Membership, membership_id, options=[joinedload(Membership.user)])
    if membership.team_id != team.id:
        abort(404)
    return membership


def _member_action(team_id: int, membership_id: int, action) -> object:  # noqa: ANN001
    team = _team_or_404(team_id)
    require(can_manage_team(current_user, team))
    membership = _membership_of(team, membership_id)
    check_csrf()
    try:
        message = action(membership)
    except TeamError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        status = 409
    else:
        db.session.commit()
        flash(message, "success")
        status = 200
    if is_htmx():
        db.session.refresh(membership)
        block = "request_row" if request.path.endswith(("approve", "decline")) else "member_row"
        return render_page("teams/members.html", block, status=status, m=membership, **_roster_context(team))
    return redirect(url_for("teams.members", team_id=team.id), 303)


@bp.post("/<int:team_id>/members/<int:membership_id>/approve")
@login_required
def approve(team_id: int, membership_id: int):
    """Accept a join request."""

    def act(m: Membership) -> str:
        decide_request(current_user, m, approve=True)
        return _("%(name)s joined the team.", name=m.user.name)

    return _member_action(team_id, membership_id, act)


@bp.post("/<int:team_id>/members/<int:membership_id>/decline")
@login_required
def decline(team_id: int, membership_id: int):
    """Decline a join request."""

    def act(m: Membership) -> str:
        decide_request(current_user, m, approve=False)
        return _("The request of %(name)s was declined.", name=m.user.name)

    return _member_action(team_id, membership_id, act)


@bp.post("/<int:team_id>/members/<int:membership_id>/lead")
@login_required
def make_leader(team_id: int, membership_id: int):
    """Make a member a leader (audited)."""

    def act(m: Membership) -> str:
        grant_leader(current_user, m.team, m.user)
        return _("%(name)s now leads %(team)s.", name=m.user.name, team=m.team.name)

    return _member_action(team_id, membership_id, act)


@bp.post("/<int:team_id>/members/<int:membership_id>/unlead")
@login_required
def unmake_leader(team_id: int, membership_id: int):
    """Take the leader role back (audited); the team keeps at least one leader."""

    def act(m: Membership) -> str:
        revoke_leader(current_user, m)
        return _("%(name)s is no longer a leader.", name=m.user.name)

    return _member_action(team_id, membership_id, act)


@bp.post("/<int:team_id>/members/<int:membership_id>/remove")
@login_required
def remove(team_id: int, membership_id: int):
    """Take a member off the team."""

    def act(m: Membership) -> str:
        remove_member(current_user, m)
        return _("%(name)s was taken off the team.", name=m.user.name)

    return _member_action(team_id, membership_id, act)
