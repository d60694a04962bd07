"""Rating events (members and the public), reading and moderating feedback, checklists, assessments."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import segno
import sqlalchemy as sa
from flask import abort, current_app, flash, make_response, redirect, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload
from werkzeug.routing import BuildError

from blueprints.core.authz import require, safe_next
from blueprints.core.exports import send_csv
from blueprints.core.extensions import db, limiter
from blueprints.core.forms import EmptyForm, TokenForm
from blueprints.core.htmx import is_htmx, render_page
from blueprints.core.timeutil import local_today, utcnow
from blueprints.core.translate import gettext as _
from blueprints.core.translate import lazy_gettext as _l
from blueprints.events.models import Event
from blueprints.orgs.models import Org
from blueprints.orgs.services import can_coordinate, is_coordinator, scope_roots
from blueprints.venues.models import Venue

from . import bp
from .forms import ChecklistItemForm, RatingForm, assessment_form
from .models import ChecklistItem, Feedback
from .services import (
    SATISFACTION_TITLE,
    ChecklistError,
    FeedbackRefused,
    add_item,
    assess_venue,
    assessments_page,
    can_moderate,
    can_view_assessments,
    can_view_feedback,
    comments_page,
    customise_checklist,
    device_hash,
    effective_checklist,
    event_id_from_token,
    event_stats,
    has_attended,
    hide_comment,
    member_refusal,
    own_feedback,
    public_refusal,
    public_url,
    rate_event,
    rate_event_public,
    rating_deadline,
    reassess_days,
    remove_item,
    restore_comment,
    revert_checklist,
    satisfaction_by_home,
    satisfaction_by_team,
    title_label,
    update_item,
    venue_satisfaction,
    venues_in_scope,
)

DEVICE_COOKIE = "qingyi_device"
DEVICE_COOKIE_AGE = 2 * 365 * 24 * 3600
COMMENTS_PAGE = 20
REPORT_PAGE = 50
CHECKLIST_ERRORS = {
    "duplicate": _l("This checklist already has an item with that name."),
    "empty": _l("The checklist has no items. Add items before assessing."),
    "score_range": _l("Give every item a score within its range."),
}
TOO_MANY = _l("Too many ratings from this phone or network in a short time. Try again later.")


def _done(url: str):
    """After a successful POST: a 303; for htmx, HX-Redirect so the next page loads whole."""
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)


def _event_or_404(event_id: int) -> Event:
    """The event with its team and org (shown on every feedback page), or 404."""
    event = db.session.scalar(
        sa.select(Event).options(joinedload(Event.team), joinedload(Event.org)).where(Event.id == event_id)
    )
    if event is None:
        abort(404)
    return event


def page_arg() -> int:
    return max(1, request.args.get("page", 1, type=int))


def event_url(event: Event) -> str | None:
    """The events blueprint's page of an event, when that page exists."""
    if "events.show" not in current_app.view_functions:
        return None
    try:
        return url_for("events.show", event_id=event.id)
    except BuildError:
        return None


def venue_url(venue: Venue) -> str | None:
    if "venues.show" not in current_app.view_functions:
        return None
    try:
        return url_for("venues.show", venue_id=venue.id)
    except BuildError:
        return None


@bp.app_context_processor
def _helpers() -> dict:
    return {"fb_event_url": event_url, "fb_venue_url": venue_url, "fb_title_label": title_label}


# --- members rate an event --------------------------------------------------------------------


def _rate_page(event: Event, form: RatingForm, status: int = 200, refusal: FeedbackRefused | None = None):
    mine = own_feedback(event, current_user) if refusal is not None and refusal.reason == "already_rated" else None
    return render_page(
        "feedback/rate.html",
        "form",
        status=status,
        event=event,
        form=form,
        refusal=refusal,
        mine=mine,
        deadline=rating_deadline(event),
    )


@bp.route("/events/<int:event_id>/rate", methods=["GET", "POST"])
@login_required
def rate(event_id: int):
    """An attendee rates a completed event, once, within the window."""
    event = _event_or_404(event_id)
    if event.state == "draft" and not (can_view_feedback(current_user, event) or has_attended(event, current_user)):
        abort(404)  # a draft's title is for its own people, not for anyone guessing ids (as on its event page)
    form = RatingForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), "")
        return _rate_page(event, form, refusal=member_refusal(event, current_user))
    if not form.validate_on_submit():
        refusal = member_refusal(event, current_user)
        return _rate_page(event, form, status=409 if refusal else 422, refusal=refusal)
    try:
        rate_event(event, current_user, form.rating.number, form.comment.data)
    except FeedbackRefused as refusal:
        db.session.rollback()
        return _rate_page(event, form, status=409, refusal=refusal)
    db.session.commit()
    flash(_("Thank you! Your rating of %(event)s was recorded.", event=event.title), "success")
    return _done(safe_next(form.next.data, url_for("feedback.rate", event_id=event.id)))


# --- people served rate through the QR code ---------------------------------------------------


def _device_id() -> str | None:
    value = request.cookies.get(DEVICE_COOKIE, "")
    return value if 16 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum() else None


def _device_key() -> str:
    device = _device_id()
    return "fb-device:" + (device or "none:" + (get_remote_address() or ""))


def _public_path() -> str:
    """The cookie path: every public rating URL, and nothing else."""
    return url_for("feedback.public", **{"token": "-"})[:-1]


def _public_page(event: Event, form: RatingForm, token: str, status: int = 200, refusal=None, device=None):
    response = make_response(
        render_page(
            "feedback/public.html",
            "form",
            status=status,
            event=event,
            form=form,
            token=token,
            refusal=refusal,
            deadline=rating_deadline(event),
        )
    )
    if device is None:
        response.set_cookie(
            DEVICE_COOKIE,
            secrets.token_urlsafe(24),
            max_age=DEVICE_COOKIE_AGE,
            path=_public_path(),
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/p/<token>", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["FEEDBACK_PUBLIC_LIMIT_IP"],
    methods=["POST"],
    scope="feedback-public-ip",
    error_message=lambda: str(TOO_MANY),
)
@limiter.limit(
    lambda: current_app.config["FEEDBACK_PUBLIC_LIMIT_DEVICE"],
    key_func=_device_key,
    methods=["POST"],
    scope="feedback-public-device",
    error_message=lambda: str(TOO_MANY),
)
def public(token: str):
    """A person served by the event rates it without an account (one rating per phone)."""
    event_id = event_id_from_token(token)
    if event_id is None:
        return render_page(
            "errors/error.html",
            status=404,
            code=404,
            title=_("Link not valid"),
            message=_("This rating link is not valid. Scan the QR code shown by the event's leader again."),
        )
    event = _event_or_404(event_id)
    device_id = _device_id()
    device = device_hash(device_id) if device_id else None
    form = RatingForm()
    if request.method == "GET":
        return _public_page(event, form, token, refusal=public_refusal(event, device), device=device_id)
    if device is None:
        # no device cookie: a fresh one comes with this answer; sending again then works
        form.rating.errors = [_("Your phone did not keep our cookie. Allow cookies for this site and send again.")]
        return _public_page(event, form, token, status=422, refusal=public_refusal(event, None))
    if not form.validate_on_submit():
        refusal = public_refusal(event, device)
        return _public_page(event, form, token, status=409 if refusal else 422, refusal=refusal, device=device_id)
    try:
        rate_event_public(event, device, form.rating.number, form.comment.data)
    except FeedbackRefused as refusal:
        db.session.rollback()
        return _public_page(event, form, token, status=409, refusal=refusal, device=device_id)
    db.session.commit()
    flash(_("Thank you for your rating!"), "success")
    return _done(url_for("feedback.public", token=token))


# --- leaders read, coordinators moderate ------------------------------------------------------


def _viewable_event(event_id: int) -> Event:
    event = _event_or_404(event_id)
    require(can_view_feedback(current_user, event))
    return event


@bp.get("/events/<int:event_id>")
@login_required
def event_feedback(event_id: int):
    """Averages, the spread of stars, and comments of one event (leaders, coordinators, admins)."""
    event = _viewable_event(event_id)
    page = page_arg()
    comments, has_more = comments_page(event, page, COMMENTS_PAGE)
    moderator = can_moderate(current_user, event)
    return render_page(
        "feedback/event.html",
        "comments",
        event=event,
        stats=event_stats(event.id),
        comments=comments,
        page=page,
        has_more=has_more,
        moderator=moderator,
        form=TokenForm(),
        deadline=rating_deadline(event),
        now=utcnow(),
    )


@bp.get("/events/<int:event_id>/qr")
@login_required
def event_qr(event_id: int):
    """The QR code people served scan to rate the event; big enough to show from a phone."""
    event = _viewable_event(event_id)
    url = public_url(event)
    svg = segno.make(url, error="m").svg_inline(scale=8, border=2, omitsize=True, svgclass="qr-code", title=None)
    return render_page(
        "feedback/qr.html", event=event, url=url, svg=svg, refusal=public_refusal(event, None), now=utcnow()
    )


def _moderated(feedback_id: int) -> Feedback:
    feedback = db.get_or_404(Feedback, feedback_id)
    require(can_moderate(current_user, feedback.event))
    if not EmptyForm().validate_on_submit():
        abort(400)
    return feedback


def _comment_row(feedback: Feedback, author: str | None):
    if is_htmx():
        return render_page(
            "feedback/event.html",
            "comment_row",
            event=feedback.event,
            item=feedback,
            author=author,
            moderator=True,
            form=TokenForm(),
        )
    return redirect(url_for("feedback.event_feedback", event_id=feedback.event_id), 303)


@bp.post("/comments/<int:feedback_id>/hide")
@login_required
def hide(feedback_id: int):
    """Hide an abusive comment; its rating keeps counting (audit-logged)."""
    feedback = _moderated(feedback_id)
    if hide_comment(current_user, feedback):
        db.session.commit()
        flash(_("The comment is hidden. Its rating still counts."), "success")
    return _comment_row(feedback, feedback.user.name if feedback.user else None)


@bp.post("/comments/<int:feedback_id>/restore")
@login_required
def restore(feedback_id: int):
    """Show a hidden comment again (audit-logged)."""
    feedback = _moderated(feedback_id)
    if restore_comment(current_user, feedback):
        db.session.commit()
        flash(_("The comment is shown again."), "success")
    return _comment_row(feedback, feedback.user.name if feedback.user else None)


# --- youth-home ratings: list, checklist, assessment, history ----------------------------------


@bp.get("/venues")
@login_required
def venues():
    """Youth homes in the coordinator's scope; by default those due for (re-)assessment."""
    require(is_coordinator(current_user))
    show = request.args.get("show", "due")
    if show not in ("due", "all"):
        show = "due"
    page = page_arg()
    rows, has_more = venues_in_scope(current_user, show == "due", page)
    return render_page(
        "feedback/venues.html",
        "list",
        rows=rows,
        show=show,
        page=page,
        has_more=has_more,
        roots=scope_roots(current_user)[:10],
        period=reassess_days(),
    )


def _coordinated_org(org_id: int) -> Org:
    org = db.get_or_404(Org, org_id)
    require(can_coordinate(current_user, org))
    return org


def _checklist_page(org: Org, form: ChecklistItemForm | None = None, status: int = 200):
    checklist = effective_checklist(org)
    children = list(db.session.scalars(sa.select(Org).where(Org.parent_id == org.id).order_by(Org.name).limit(100)))
    own = checklist.source is not None and checklist.source.id == org.id
    items = (
        {i.id: i for i in db.session.scalars(sa.select(ChecklistItem).where(ChecklistItem.org_id == org.id))}
        if own
        else {}
    )
    return render_page(
        "feedback/checklist.html",
        "add_form",
        status=status,
        org=org,
        checklist=checklist,
        own=own,
        items=items,
        children=children,
        form=form or ChecklistItemForm(),
        button=TokenForm(),
    )


@bp.get("/orgs/<int:org_id>/checklist")
@login_required
def checklist(org_id: int):
    """The assessment checklist an org uses: its own, inherited, or the built-in one."""
    return _checklist_page(_coordinated_org(org_id))


@bp.post("/orgs/<int:org_id>/checklist/customise")
@login_required
def customise(org_id: int):
    """Give the org its own checklist, starting from the one it inherits."""
    org = _coordinated_org(org_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    customise_checklist(current_user, org)
    db.session.commit()
    flash(_("%(org)s now has its own checklist. Change it below.", org=org.name), "success")
    return _done(url_for("feedback.checklist", org_id=org.id))


@bp.post("/orgs/<int:org_id>/checklist/revert")
@login_required
def revert(org_id: int):
    """Drop the org's own checklist: it inherits again."""
    org = _coordinated_org(org_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    revert_checklist(current_user, org)
    db.session.commit()
    flash(_("%(org)s uses the inherited checklist again.", org=org.name), "success")
    return _done(url_for("feedback.checklist", org_id=org.id))


@bp.post("/orgs/<int:org_id>/checklist/items")
@login_required
def add_checklist_item(org_id: int):
    """Add an item to the org's own checklist."""
    org = _coordinated_org(org_id)
    form = ChecklistItemForm()
    if form.validate_on_submit():
        try:
            add_item(current_user, org, form.title.data, form.max_score.number)
        except ChecklistError as exc:
            db.session.rollback()
            form.title.errors.append(str(CHECKLIST_ERRORS[str(exc)]))
        else:
            db.session.commit()
            flash(_("%(item)s was added.", item=form.title.data), "success")
            return _done(url_for("feedback.checklist", org_id=org.id))
    return _checklist_page(org, form, status=422)


def _own_item(item_id: int) -> ChecklistItem:
    item = db.get_or_404(ChecklistItem, item_id)
    if not item.active:
        abort(404)
    require(can_coordinate(current_user, db.session.get(Org, item.org_id)))
    return item


@bp.route("/checklist/<int:item_id>/edit", methods=["GET", "POST"])
@login_required
def edit_item(item_id: int):
    """Rename an item, change its maximum or its place in the list."""
    item = _own_item(item_id)
    org = db.session.get(Org, item.org_id)
    form = ChecklistItemForm(
        data={"title": item.title, "max_score": str(item.max_score), "position": str(item.position)}
    )
    if form.validate_on_submit():
        position = form.position.number if form.position.number is not None else item.position
        try:
            update_item(current_user, item, form.title.data, form.max_score.number, position)
        except ChecklistError as exc:
            db.session.rollback()
            form.title.errors.append(str(CHECKLIST_ERRORS[str(exc)]))
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return _done(url_for("feedback.checklist", org_id=org.id))
    status = 422 if request.method == "POST" else 200
    return render_page("feedback/checklist_item.html", "form", status=status, item=item, org=org, form=form)


@bp.post("/checklist/<int:item_id>/remove")
@login_required
def remove_checklist_item(item_id: int):
    """Retire an item; past assessments keep it as it was."""
    item = _own_item(item_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    remove_item(current_user, item)
    db.session.commit()
    flash(_("%(item)s was removed from the checklist.", item=item.title), "success")
    return _done(url_for("feedback.checklist", org_id=item.org_id))


def _assessable(venue_id: int) -> Venue:
    venue = db.get_or_404(Venue, venue_id)
    require(can_coordinate(current_user, venue.org))
    return venue


@bp.route("/venues/<int:venue_id>/assess", methods=["GET", "POST"])
@login_required
def assess(venue_id: int):
    """Score a youth home against its org's checklist; the stars follow from the total."""
    venue = _assessable(venue_id)
    checklist = effective_checklist(venue.org)
    satisfaction = venue_satisfaction(venue.id)
    suggestion = None
    if satisfaction[0] is not None:
        for entry in checklist.entries:
            if entry.title == SATISFACTION_TITLE:
                suggestion = (entry.key, round(satisfaction[0] / 5 * entry.max_score))
    form = assessment_form(checklist)
    if request.method == "POST" and form.validate_on_submit():
        scores = {e.key: getattr(form, f"score_{e.key}").number for e in checklist.entries}
        try:
            assess_venue(current_user, venue, checklist, scores, form.note.data)
        except ChecklistError as exc:
            db.session.rollback()
            form.note.errors = [*form.note.errors, str(CHECKLIST_ERRORS[str(exc)])]
        else:
            db.session.commit()
            flash(_("%(venue)s was assessed: %(stars)s stars.", venue=venue.name, stars=venue.stars), "success")
            return _done(url_for("feedback.history", venue_id=venue.id))
    status = 422 if request.method == "POST" else 200
    return render_page(
        "feedback/assess.html",
        "form",
        status=status,
        venue=venue,
        checklist=checklist,
        form=form,
        satisfaction=satisfaction,
        suggestion=suggestion,
        fields=[(e, getattr(form, f"score_{e.key}")) for e in checklist.entries],
    )


@bp.get("/venues/<int:venue_id>/assessments")
@login_required
def history(venue_id: int):
    """Every assessment of a youth home, newest first (coordinators, admins, its managers)."""
    venue = db.get_or_404(Venue, venue_id)
    require(can_view_assessments(current_user, venue))
    page = page_arg()
    rows, has_more = assessments_page(venue, page)
    return render_page(
        "feedback/history.html",
        "list",
        venue=venue,
        rows=rows,
        page=page,
        has_more=has_more,
        can_assess=can_coordinate(current_user, venue.org),
        satisfaction=venue_satisfaction(venue.id),
    )


# --- satisfaction report ----------------------------------------------------------------------


def _report_args():
    """The org (in scope) and the period [start, end] (local dates) of the report."""
    require(is_coordinator(current_user))
    org_id = request.args.get("org", type=int)
    if org_id is None:
        roots = scope_roots(current_user)
        if not roots:
            abort(403)
        org = roots[0]
    else:
        org = _coordinated_org(org_id)
    today = local_today()
    try:
        end = date.fromisoformat(request.args.get("end", "")) if request.args.get("end") else today
        start = (
            date.fromisoformat(request.args.get("start", ""))
            if request.args.get("start")
            else end - timedelta(days=364)
        )
    except ValueError:
        abort(400)
    if start > end:
        start, end = end, start
    return org, start, end


@bp.get("/satisfaction")
@login_required
def satisfaction():
    """Satisfaction per team and per youth home in an org's subtree over a period."""
    org, start, end = _report_args()
    tpage = max(1, request.args.get("tpage", 1, type=int))
    hpage = max(1, request.args.get("hpage", 1, type=int))
    teams = satisfaction_by_team(org, start, end, REPORT_PAGE + 1, (tpage - 1) * REPORT_PAGE)
    homes = satisfaction_by_home(org, start, end, REPORT_PAGE + 1, (hpage - 1) * REPORT_PAGE)
    roots = scope_roots(current_user)
    choices = roots + list(
        db.session.scalars(sa.select(Org).where(Org.parent_id.in_([r.id for r in roots])).order_by(Org.name).limit(200))
    )
    if org not in choices:
        choices.insert(0, org)
    return render_page(
        "feedback/satisfaction.html",
        org=org,
        start=start,
        end=end,
        teams=teams[:REPORT_PAGE],
        homes=homes[:REPORT_PAGE],
        tpage=tpage,
        hpage=hpage,
        teams_more=len(teams) > REPORT_PAGE,
        homes_more=len(homes) > REPORT_PAGE,
        choices=choices,
    )


@bp.get("/satisfaction.csv")
@login_required
def satisfaction_csv():
    """The report as CSV: one row per team and per youth home."""
    org, start, end = _report_args()
    header = [
        _("Kind"),
        _("Team or youth home"),
        _("Organisation"),
        _("Events rated"),
        _("Ratings"),
        _("Average rating"),
    ]

    def rows():
        for label, fetch in ((_("Team"), satisfaction_by_team), (_("Youth home"), satisfaction_by_home)):
            offset = 0
            while True:
                chunk = fetch(org, start, end, 1000, offset)
                for r in chunk:
                    yield [label, r.name, r.org_name, r.events, r.ratings, f"{r.average:.2f}"]
                if len(chunk) < 1000:
                    break
                offset += 1000

    return send_csv(f"satisfaction-{org.name}-{start}-{end}.csv", header, list(rows()))
