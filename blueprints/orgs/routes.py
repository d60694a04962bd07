"""Organisation admin inside the coordinator's scope; the org search used by pickers."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.auth.models import User
from blueprints.auth.services import user_by_phone
from blueprints.core.authz import require
from blueprints.core.extensions import db
from blueprints.core.forms import EmptyForm, TokenForm
from blueprints.core.htmx import render_page
from blueprints.core.models import AuditLog
from blueprints.core.translate import gettext as _

from . import bp
from .forms import ISSUER_LABELS, ROUNDING_LABELS, GrantForm, MoveForm, OrgForm, SettingsForm
from .models import CoordinatorGrant, Org
from .services import (
    OrgError,
    can_coordinate,
    coordinator_paths,
    create_org,
    effective_settings,
    grant_coordinator,
    is_coordinator,
    move_org,
    org_picker_context,
    org_trail,
    rename_org,
    revoke_coordinator,
    scope_clause,
    scope_roots,
    search_orgs,
    update_settings,
)

ORG_ERRORS = {
    "name_taken": lambda: _("Another organisation at this level already has that name."),
    "cycle": lambda: _("An organisation cannot be moved below itself."),
    "already_coordinator": lambda: _("That person already coordinates this organisation."),
}
AUDIT_PAGE = 50


def _org_or_404(org_id: int) -> Org:
    return db.get_or_404(Org, org_id)


def _managed_org(org_id: int) -> Org:
    """Load or 404, then 403 unless the current user coordinates it."""
    org = _org_or_404(org_id)
    require(can_coordinate(current_user, org))
    return org


@bp.get("/")
@login_required
def index():
    """The top of each subtree the user may manage."""
    require(is_coordinator(current_user))
    roots = scope_roots(current_user)
    form = OrgForm(prefix="root") if current_user.is_admin else None
    return render_template("orgs/index.html", roots=roots, trails=org_trail(roots), form=form)


@bp.post("/")
@login_required
def create_root():
    """Admins add a top-level organisation (a city)."""
    require(current_user.is_admin)
    form = OrgForm(prefix="root")
    if form.validate_on_submit():
        try:
            org = create_org(current_user, form.name.data, form.kind.data, None)
        except OrgError as exc:
            form.name.errors.append(ORG_ERRORS[str(exc)]())
        else:
            db.session.commit()
            flash(_("%(name)s was added.", name=org.name), "success")
            return redirect(url_for("orgs.show", org_id=org.id), 303)
    roots = scope_roots(current_user)
    return render_page("orgs/index.html", status=422, roots=roots, trails=org_trail(roots), form=form)


@bp.get("/search")
def search():
    """Org search for pickers: a list of radio buttons (htmx fragment)."""
    query = request.args.get("org_query", request.args.get("q", ""))[:60]
    field = request.args.get("field", "home_org")
    if field not in ("home_org", "parent", "org_id"):
        abort(400)
    scoped = request.args.get("scope") == "mine"
    results = search_orgs(query, limit=40 if scoped else 20)
    if scoped:
        require(current_user.is_authenticated)
        results = [o for o in results if can_coordinate(current_user, o)][:20]
    return render_template(
        "orgs/_picker_results.html", org_results=results, org_trails=org_trail(results), field=field, selected_org=None
    )


def _org_page(org: Org, status: int = 200, **forms):
    children = list(db.session.scalars(sa.select(Org).where(Org.parent_id == org.id).order_by(Org.name)))
    grants = list(
        db.session.scalars(
            sa.select(CoordinatorGrant)
            .where(CoordinatorGrant.org_id == org.id)
            .options(sa.orm.joinedload(CoordinatorGrant.user))
        )
    )
    context = {
        "org": org,
        "trail": org_trail([org])[org.id],
        "children": children,
        "grants": grants,
        "settings": effective_settings(org),
        "rounding_labels": ROUNDING_LABELS,
        "issuer_labels": ISSUER_LABELS,
        "child_form": forms.get("child_form") or OrgForm(prefix="child"),
        "grant_form": forms.get("grant_form") or GrantForm(prefix="grant"),
        "revoke_form": TokenForm(),
        "can_edit_self": current_user.is_admin or _strictly_inside_scope(org),
    }
    return render_page("orgs/show.html", forms.get("block"), status=status, **context)


def _strictly_inside_scope(org: Org) -> bool:
    """True when the org is below one of the user's coordinated orgs (not a granted org itself)."""
    return any(org.path.startswith(p) and org.path != p for p in coordinator_paths(current_user))


@bp.get("/<int:org_id>")
@login_required
def show(org_id: int):
    """An org: its children, settings, coordinators."""
    return _org_page(_managed_org(org_id))


@bp.post("/<int:org_id>/children")
@login_required
def add_child(org_id: int):
    """Add an organisation below this one."""
    parent = _managed_org(org_id)
    form = OrgForm(prefix="child")
    if form.validate_on_submit():
        try:
            child = create_org(current_user, form.name.data, form.kind.data, parent)
        except OrgError as exc:
            form.name.errors.append(ORG_ERRORS[str(exc)]())
        else:
            db.session.commit()
            flash(_("%(name)s was added.", name=child.name), "success")
            return redirect(url_for("orgs.show", org_id=parent.id), 303)
    return _org_page(parent, status=422, child_form=form, block="child_form")


@bp.route("/<int:org_id>/edit", methods=["GET", "POST"])
@login_required
def edit(org_id: int):
    """Rename an organisation or change its kind."""
    org = _managed_org(org_id)
    require(current_user.is_admin or _strictly_inside_scope(org))
    form = OrgForm(obj=org)
    if form.validate_on_submit():
        try:
            rename_org(current_user, org, form.name.data, form.kind.data)
        except OrgError as exc:
            form.name.errors.append(ORG_ERRORS[str(exc)]())
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("orgs.show", org_id=org.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_page("orgs/edit.html", "form", status=status, org=org, form=form)


@bp.route("/<int:org_id>/move", methods=["GET", "POST"])
@login_required
def move(org_id: int):
    """Move an organisation (with everything below it) under another one inside the user's scope."""
    org = _managed_org(org_id)
    require(current_user.is_admin or _strictly_inside_scope(org))
    form = MoveForm()
    status = 200
    if request.method == "POST" and request.form.get("action") == "search_org":
        form.validate()
        for field in form:
            field.errors = []
    elif form.validate_on_submit():
        target = db.session.get(Org, form.parent.data)
        if target is None:
            form.parent.errors.append(_("Choose an organisation from the search results."))
        elif not can_coordinate(current_user, target):
            abort(403)
        else:
            try:
                move_org(current_user, org, target)
            except OrgError as exc:
                form.parent.errors.append(ORG_ERRORS[str(exc)]())
            else:
                db.session.commit()
                flash(_("%(name)s was moved.", name=org.name), "success")
                return redirect(url_for("orgs.show", org_id=org.id), 303)
        status = 422
    elif request.method == "POST":
        status = 422
    return render_page(
        "orgs/move.html",
        "form",
        status=status,
        org=org,
        form=form,
        **org_picker_context(form.org_query.data, user=current_user),
    )


@bp.route("/<int:org_id>/settings", methods=["GET", "POST"])
@login_required
def settings(org_id: int):
    """Settings inherited down the tree: hour target, star thresholds, rounding, certificates."""
    org = _managed_org(org_id)
    form = SettingsForm(
        data={
            "annual_target_hours": org.annual_target_hours,
            "star_thresholds": org.star_thresholds or "",
            "rounding_rule": org.rounding_rule or "",
            "min_attendance_percent": org.min_attendance_percent,
            "certificate_issuer": org.certificate_issuer or "",
        }
    )
    if form.validate_on_submit():
        update_settings(
            current_user,
            org,
            annual_target_hours=form.annual_target_hours.data,
            star_thresholds=(form.star_thresholds.data or "").strip().replace("，", ",").replace(" ", "") or None,
            rounding_rule=form.rounding_rule.data or None,
            min_attendance_percent=form.min_attendance_percent.data,
            certificate_issuer=form.certificate_issuer.data or None,
        )
        db.session.commit()
        flash(_("Settings saved."), "success")
        return redirect(url_for("orgs.show", org_id=org.id), 303)
    status = 422 if request.method == "POST" else 200
    inherited = effective_settings(org.parent) if org.parent else effective_settings(None)
    return render_page("orgs/settings.html", "form", status=status, org=org, form=form, inherited=inherited)


@bp.post("/<int:org_id>/coordinators")
@login_required
def grant(org_id: int):
    """Make someone a coordinator of this org (found by mobile number)."""
    org = _managed_org(org_id)
    form = GrantForm(prefix="grant")
    if form.validate_on_submit():
        user = user_by_phone(form.phone.data)
        if user is None:
            form.phone.errors.append(_("No account has this mobile number. Ask them to register first."))
        else:
            try:
                grant_coordinator(current_user, org, user)
            except OrgError as exc:
                form.phone.errors.append(ORG_ERRORS[str(exc)]())
            else:
                db.session.commit()
                flash(_("%(name)s now coordinates %(org)s.", name=user.name, org=org.name), "success")
                return redirect(url_for("orgs.show", org_id=org.id), 303)
    return _org_page(org, status=422, grant_form=form, block="coordinators")


@bp.post("/<int:org_id>/coordinators/<int:grant_id>/revoke")
@login_required
def revoke(org_id: int, grant_id: int):
    """Take the coordinator role back."""
    org = _managed_org(org_id)
    grant_row = db.get_or_404(CoordinatorGrant, grant_id)
    if grant_row.org_id != org.id:
        abort(404)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    name = grant_row.user.name
    revoke_coordinator(current_user, grant_row)
    db.session.commit()
    flash(_("%(name)s no longer coordinates %(org)s.", name=name, org=org.name), "success")
    return redirect(url_for("orgs.show", org_id=org.id), 303)


@bp.get("/<int:org_id>/audit")
@login_required
def audit(org_id: int):
    """The audit log of this org's subtree, newest first."""
    org = _managed_org(org_id)
    page = max(1, request.args.get("page", 1, type=int))
    stmt = (
        sa.select(AuditLog, User.name)
        .outerjoin(User, User.id == AuditLog.actor_id)
        .join(Org, Org.id == AuditLog.org_id)
        .where(Org.path.startswith(org.path, autoescape=False), scope_clause(current_user))
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(AUDIT_PAGE + 1)
        .offset((page - 1) * AUDIT_PAGE)
    )
    rows = db.session.execute(stmt).all()
    return render_page(
        "orgs/audit.html", "entries", org=org, rows=rows[:AUDIT_PAGE], page=page, has_more=len(rows) > AUDIT_PAGE
    )
