"""Check-in/out, roster attendance, hours confirmation, corrections, beneficiaries, my hours, certificates.

Every view: load or 404 -> permission (403) -> one service call -> commit once -> 303 (or the
page's fragment for htmx). A refused change rolls back and says why.
"""

from __future__ import annotations

from datetime import date, datetime

import segno
import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import format_time
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from blueprints.auth.models import User
from blueprints.core.authz import require
from blueprints.core.exports import send_csv
from blueprints.core.extensions import db
from blueprints.core.forms import EmptyForm, TokenForm
from blueprints.core.htmx import flash_only, is_htmx, render_page
from blueprints.core.paging import page_arg
from blueprints.core.timeutil import local_today, to_local, utcnow
from blueprints.core.translate import gettext as _
from blueprints.core.translate import translated
from blueprints.events.models import Event, Registration
from blueprints.orgs.forms import ROUNDING_LABELS
from blueprints.orgs.services import load_with_ancestors

from . import bp
from .forms import (
    ATTENDANCE_LABELS,
    BENEFICIARY_LABELS,
    FLAG_LABELS,
    REQUEST_STATE_LABELS,
    SOURCE_LABELS,
    AddRecordForm,
    ApproveForm,
    BeneficiaryForm,
    CertificateForm,
    CodeForm,
    CorrectionForm,
    MarkForm,
    RejectForm,
    RequestForm,
    TimesForm,
    minutes_of,
)
from .messages import TOKEN_ERRORS, attendance_closed_text, error_text
from .models import BENEFICIARY_CATEGORIES, Certificate, CorrectionRequest, ServiceRecord
from .services import (
    HoursError,
    active_registration,
    add_record,
    approve_request,
    attendance_counts,
    attendance_window,
    beneficiaries_of,
    can_issue_for,
    can_issue_self,
    can_manage,
    can_view_certificate,
    check_attendance_open,
    check_in,
    check_out,
    compute_hours,
    confirm_hours,
    correct_record,
    effective_settings,
    event_records,
    fix_times,
    hours_overview,
    is_effective,
    issue_certificate,
    led_team_ids,
    mark_all_attended,
    mask_name,
    my_certificates,
    my_pending_requests,
    my_record_rows,
    my_records,
    pending_requests_for,
    reject_request,
    request_correction,
    requestable_events,
    roster,
    save_beneficiaries,
    self_service_org_id,
    set_attendance,
)
from .tokens import (
    TokenError,
    attendance_code,
    certificate_id_from,
    certificate_token,
    check_code,
    parse_scan_token,
    scan_token,
    seconds_left,
)

PAGE = 20
#: a request carries the volunteer's message and a decision form: ten make a page
REQUESTS_PAGE = 10
#: a scan that was valid when a signed-out volunteer opened it stays usable this long (log in first)
SCAN_GRACE_SECONDS = 600


def _refuse(exc: HoursError, back: str, status: int = 409):
    """Undo everything this request did, say why, and go back (htmx: only the flash)."""
    db.session.rollback()
    flash(error_text(exc), "error")
    if is_htmx():
        return flash_only(status)
    return redirect(back, 303)


def _event(event_id: int) -> Event:
    # the team and org come along: the permission check needs both
    event = db.get_or_404(Event, event_id, options=[joinedload(Event.team), joinedload(Event.org)])
    if event.state == "draft" and not can_manage(current_user, event):
        abort(404)  # a draft exists only for those who manage it (as on the event's own page)
    return event


def _managed_event(event_id: int) -> Event:
    event = _event(event_id)
    require(can_manage(current_user, event))
    return event


def _labels() -> dict:
    return {
        "source_labels": translated(SOURCE_LABELS),
        "attendance_labels": translated(ATTENDANCE_LABELS),
        "beneficiary_labels": translated(BENEFICIARY_LABELS),
        "flag_labels": translated(FLAG_LABELS),
        "request_state_labels": translated(REQUEST_STATE_LABELS),
    }


#: elements of our pages that fetch their own fragment with hx-get (pagers swap the list they page;
#: a roster row's "Fix times" loads its form into times-<registration id>)
OWN_HTMX_TARGETS = {"checkin-screen", "roster", "request-list"}
OWN_HTMX_TARGET_PREFIXES = ("times-",)


@bp.before_request
def _navigate_htmx_redirects():
    """An htmx GET that did not come from one of our own elements is a redirect followed by htmx
    (e.g. after logging in): make the browser load the whole page instead of nesting it."""
    target = request.headers.get("HX-Target") or ""
    if request.method == "GET" and is_htmx() and not _own_target(target):
        response = make_response("", 200)
        response.headers["HX-Redirect"] = request.full_path.rstrip("?")
        response.vary.add("HX-Request")
        return response
    return None


def _own_target(target: str) -> bool:
    return target in OWN_HTMX_TARGETS or target.startswith(OWN_HTMX_TARGET_PREFIXES)


def _fragment(block: str, target: str | None = None) -> str | None:
    """The block to answer an htmx request with: for a POST (a form swapping itself) always; for a
    GET only when our own element asked (a page reached through a redirect gets the whole page)."""
    if request.method != "GET":
        return block
    return block if target and request.headers.get("HX-Target") == target else None


def _page() -> int:
    """The page a form came from (a POST's way back to its list): lenient, a bad value is page 1 — after a
    write the answer is the list, never a 404 (GET lists use core.paging.page_arg)."""
    return max(1, request.args.get("page", 1, type=int) or 1)


# --- the leader's check-in screen ---------------------------------------------------------------


def _default_mode(event: Event, now: datetime) -> str:
    return "out" if now >= event.ends_at - (event.ends_at - event.starts_at) / 4 else "in"


def qr_svg(url: str, title: str) -> str:
    """An inline SVG QR code (no script, no inline style: fine under the CSP)."""
    return segno.make(url, error="m", micro=False).svg_inline(scale=1, border=2, omitsize=True, title=title)


@bp.get("/events/<int:event_id>/checkin")
@login_required
def checkin_screen(event_id: int):
    """The leader's screen: a rotating QR code and 6-digit code for checking in (or out)."""
    event = _managed_event(event_id)
    now = utcnow()
    mode = request.args.get("mode")
    if mode not in ("in", "out"):
        mode = _default_mode(event, now)
    closed = None
    try:
        check_attendance_open(event, now)
    except HoursError as exc:
        closed = error_text(exc)
    context = {"event": event, "mode": mode, "closed": closed, "counts": attendance_counts(event)}
    if closed is None:
        token = scan_token(event.id, mode, now)
        url = url_for("hours.scan", token=token, _external=True)
        context.update(
            code=attendance_code(event.id, mode, now),
            scan_url=url,
            qr=qr_svg(url, _("Scan to check in") if mode == "in" else _("Scan to check out")),
            seconds_left=seconds_left(now),
        )
    opens, closes = attendance_window(event)
    context.update(opens=opens, closes=closes)
    return render_page("hours/checkin_screen.html", _fragment("screen", "checkin-screen"), **context)


# --- volunteers: scanning and typing codes ------------------------------------------------------


def _scan_grace(token: str, now: datetime) -> int:
    """Extra windows for a token that was valid when this browser first opened it (login in between)."""
    grant = session.get("hours_scan")
    if isinstance(grant, dict) and grant.get("t") == token:
        if 0 <= now.timestamp() - float(grant.get("at", 0)) <= SCAN_GRACE_SECONDS:
            return SCAN_GRACE_SECONDS // 60
    return 0


def _parse_token(token: str, now: datetime) -> tuple[int, str]:
    return parse_scan_token(token, now, grace_windows=_scan_grace(token, now))


@bp.get("/scan/<token>")
def scan(token: str):
    """Where the QR code leads: log in if needed (and come back), then check in or out."""
    now = utcnow()
    try:
        event_id, action = _parse_token(token, now)
    except TokenError as exc:
        return render_page("hours/scan.html", status=400, error=str(TOKEN_ERRORS[exc.reason]), event=None)
    event = _event(event_id)
    if _scan_grace(token, now) == 0:
        session["hours_scan"] = {"t": token, "at": now.timestamp()}
    if not current_user.is_authenticated:
        flash(_("Log in to check in; you will come straight back."), "info")
        return redirect(url_for("auth.login", next=url_for("hours.scan", token=token)), 303)
    return render_page("hours/scan.html", event=event, action=action, token=token, form=TokenForm())


@bp.post("/scan/<token>")
@login_required
def scan_post(token: str):
    """Check in (or out) with the token from the QR code."""
    now = utcnow()
    try:
        event_id, action = _parse_token(token, now)
    except TokenError as exc:
        return render_page("hours/scan.html", "result", status=400, error=str(TOKEN_ERRORS[exc.reason]), event=None)
    event = _event(event_id)
    try:
        registration, first = (check_in if action == "in" else check_out)(event, current_user, now)
    except HoursError as exc:
        db.session.rollback()
        return render_page("hours/scan.html", "result", status=409, error=error_text(exc), event=event)
    db.session.commit()
    session.pop("hours_scan", None)
    message = _attendance_message(action, registration, first)
    if is_htmx():
        return render_page("hours/scan.html", "result", event=event, done=message, registration=registration)
    flash(message, "success" if first else "info")
    return redirect(url_for("hours.attend", event_id=event.id), 303)


def _attendance_message(action: str, registration: Registration, first: bool) -> str:
    if action == "in":
        when = format_time(registration.checked_in_at, "short")
        if first:
            return _("You are checked in (%(time)s). Check out the same way when you leave.", time=when)
        return _("You were already checked in at %(time)s.", time=when)
    when = format_time(registration.checked_out_at, "short")
    if first:
        return _("You are checked out (%(time)s). Thank you for your service!", time=when)
    return _("You were already checked out at %(time)s.", time=when)


def _attend_context(event: Event, form: CodeForm | None = None, **extra) -> dict:
    return {
        "event": event,
        "registration": active_registration(event, current_user),
        "code_form": form or CodeForm(formdata=None),
        "closed": attendance_closed_text(event, utcnow()),
        **extra,
    }


@bp.get("/events/<int:event_id>/attend")
@login_required
def attend(event_id: int):
    """A volunteer's check-in/out page for one event: status and the code form."""
    event = _event(event_id)
    return render_page("hours/attend.html", _fragment("attend_box"), **_attend_context(event))


def _code_action(event_id: int, action: str):
    event = _event(event_id)
    form = CodeForm()
    if form.validate_on_submit():
        now = utcnow()
        try:
            check_code(event.id, action, form.code.data, now)
            registration, first = (check_in if action == "in" else check_out)(event, current_user, now)
        except TokenError as exc:
            db.session.rollback()
            form.code.errors.append(str(TOKEN_ERRORS[exc.reason]))
        except HoursError as exc:
            db.session.rollback()
            form.code.errors.append(error_text(exc))
        else:
            db.session.commit()
            message = _attendance_message(action, registration, first)
            if is_htmx():
                return render_page("hours/attend.html", "attend_box", **_attend_context(event, done=message))
            flash(message, "success" if first else "info")
            return redirect(url_for("hours.attend", event_id=event.id), 303)
    return render_page("hours/attend.html", "attend_box", status=422, **_attend_context(event, form, action=action))


@bp.post("/events/<int:event_id>/check-in")
@login_required
def code_check_in(event_id: int):
    """Check in by typing the 6-digit code."""
    return _code_action(event_id, "in")


@bp.post("/events/<int:event_id>/check-out")
@login_required
def code_check_out(event_id: int):
    """Check out by typing the 6-digit code."""
    return _code_action(event_id, "out")


# --- roster attendance --------------------------------------------------------------------------


def _roster_context(event: Event, page: int, editing: Registration | None = None, times_form=None) -> dict:
    """The roster page; `editing` is the one row whose times form is open (a page of its own without
    JavaScript; with htmx the form loads into the row when its "Fix times" opens)."""
    rows = roster(event, limit=PAGE + 1, offset=(page - 1) * PAGE)
    context = {
        "event": event,
        "rows": rows[:PAGE],
        "page": page,
        "has_more": len(rows) > PAGE,
        "counts": attendance_counts(event),
        "form": TokenForm(),
        "editing": None,
        **_labels(),
    }
    if editing is not None:
        if all(r.id != editing.id for r in context["rows"]):  # a link from another page: just that row
            context.update(rows=[editing], page=1, has_more=False)
        context.update(editing=editing.id, tf=times_form or _times_form(editing))
    return context


def _times_form(registration: Registration, formdata=None) -> TimesForm:
    data = {
        "checked_in_at": to_local(registration.checked_in_at).replace(tzinfo=None)
        if registration.checked_in_at
        else None,
        "checked_out_at": to_local(registration.checked_out_at).replace(tzinfo=None)
        if registration.checked_out_at
        else None,
    }
    if formdata is None:
        return TimesForm(prefix=f"r{registration.id}", formdata=None, data=data)
    return TimesForm(prefix=f"r{registration.id}")


@bp.get("/events/<int:event_id>/attendance")
@login_required
def attendance(event_id: int):
    """The roster: attended / no-show, check-in and check-out times."""
    event = _managed_event(event_id)
    context = _roster_context(event, page_arg())
    if context["page"] > 1 and not context["rows"]:
        abort(404)
    return render_page("hours/attendance.html", _fragment("roster", "roster"), **context)


def _registration(event: Event, registration_id: int) -> Registration:
    registration = db.get_or_404(Registration, registration_id)
    if registration.event_id != event.id:
        abort(404)
    return registration


def _row_response(event: Event, registration: Registration, status: int = 200, times_form: TimesForm | None = None):
    """After a change to one row: the row (htmx; with its times form open when that form has errors),
    else the roster again (the form open with its errors), or a redirect to it."""
    if is_htmx():
        return render_page(
            "hours/attendance.html",
            "row",
            status=status,
            event=event,
            reg=registration,
            page=_page(),
            form=TokenForm(),
            editing=registration.id if times_form is not None else None,
            tf=times_form,
            **_labels(),
        )
    if status != 200:
        context = _roster_context(event, _page(), editing=registration if times_form else None, times_form=times_form)
        return render_page("hours/attendance.html", status=status, **context)
    return redirect(url_for("hours.attendance", event_id=event.id, page=_page() if _page() > 1 else None), 303)


@bp.post("/events/<int:event_id>/attendance/<int:registration_id>/mark")
@login_required
def mark(event_id: int, registration_id: int):
    """Mark one person attended or no-show."""
    event = _managed_event(event_id)
    registration = _registration(event, registration_id)
    form = MarkForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        set_attendance(current_user, registration, form.state.data)
    except HoursError as exc:
        return _refuse(exc, url_for("hours.attendance", event_id=event.id))
    db.session.commit()
    flash(
        _("%(name)s: %(state)s.", name=registration.user.name, state=ATTENDANCE_LABELS[registration.state]), "success"
    )
    return _row_response(event, registration)


@bp.route("/events/<int:event_id>/attendance/<int:registration_id>/times", methods=["GET", "POST"])
@login_required
def times(event_id: int, registration_id: int):
    """Fix someone's check-in and check-out times (GET: the form, into the row's "Fix times" with htmx,
    else the roster with that row's form open)."""
    event = _managed_event(event_id)
    registration = _registration(event, registration_id)
    if request.method == "GET":
        if is_htmx():  # into the row's "Fix times" (times-<id>)
            html = render_template(
                "hours/_times_form.html", event=event, reg=registration, page=_page(), tf=_times_form(registration)
            )
            return make_response(html)
        return render_page("hours/attendance.html", **_roster_context(event, _page(), editing=registration))
    form = _times_form(registration, formdata=True)
    if form.validate_on_submit():
        try:
            fix_times(
                current_user, registration, form.aware(form.checked_in_at.data), form.aware(form.checked_out_at.data)
            )
        except HoursError as exc:
            db.session.rollback()
            registration = _registration(event, registration_id)
            form.checked_in_at.errors = [*form.checked_in_at.errors, error_text(exc)]
        else:
            db.session.commit()
            flash(_("Times of %(name)s saved.", name=registration.user.name), "success")
            return _row_response(event, registration)
    return _row_response(event, registration, status=422, times_form=form)


@bp.post("/events/<int:event_id>/attendance/all")
@login_required
def mark_all(event_id: int):
    """Everyone confirmed and not yet marked: attended, with the planned hours."""
    event = _managed_event(event_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        count = mark_all_attended(current_user, event)
    except HoursError as exc:
        return _refuse(exc, url_for("hours.attendance", event_id=event.id))
    db.session.commit()
    flash(_("%(n)s people marked attended.", n=count), "success")
    if is_htmx():
        return render_page("hours/attendance.html", "roster", **_roster_context(event, 1))
    return redirect(url_for("hours.attendance", event_id=event.id), 303)


# --- hours of an event --------------------------------------------------------------------------


def _hours_context(event: Event, **extra) -> dict:
    context = {"event": event, "form": TokenForm(), **_labels()}
    settings = effective_settings(event.org)
    context["settings"] = settings
    context["rounding_label"] = ROUNDING_LABELS.get(settings.rounding_rule, settings.rounding_rule)
    if event.hours_confirmed_at is None:
        lines = compute_hours(event)
        context.update(
            lines=lines,
            total=sum(line.minutes or 0 for line in lines),
            counted=sum(1 for line in lines if line.minutes),
            missing=[line for line in lines if line.flag == "missing_checkout"],
        )
    else:
        records = event_records(event)
        with_record = {r.volunteer_id for r, effective in records if effective}
        candidates = [reg for reg in roster(event, states=("confirmed", "attended", "no_show"))]
        add_form = extra.pop("add_form", None) or AddRecordForm(prefix="add")
        add_form.volunteer.choices = _volunteer_choices(candidates, with_record)
        context.update(
            records=records,
            total=sum(r.minutes for r, effective in records if effective),
            add_form=add_form,
            requests=list(
                db.session.scalars(
                    sa.select(CorrectionRequest)
                    .where(CorrectionRequest.event_id == event.id, CorrectionRequest.state == "pending")
                    .options(sa.orm.joinedload(CorrectionRequest.volunteer))
                )
            ),
        )
    context.update(extra)
    return context


def _volunteer_choices(registrations, exclude: set[int]):
    from wtforms.fields.choices import SelectChoice

    return [SelectChoice(r.user_id, r.user.name) for r in registrations if r.user_id not in exclude]


@bp.get("/events/<int:event_id>/hours")
@login_required
def event_hours(event_id: int):
    """Hours of an event: the computed preview, then (once confirmed) its records."""
    event = _managed_event(event_id)
    return render_page("hours/event_hours.html", **_hours_context(event))


@bp.post("/events/<int:event_id>/hours/confirm")
@login_required
def confirm(event_id: int):
    """Write the service records from the attendance (once)."""
    event = _managed_event(event_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        records = confirm_hours(current_user, event)
    except HoursError as exc:
        return _refuse(exc, url_for("hours.event_hours", event_id=event.id))
    db.session.commit()
    flash(_("Hours confirmed: %(n)s service records written.", n=len(records)), "success")
    return redirect(url_for("hours.event_hours", event_id=event.id), 303)


@bp.post("/events/<int:event_id>/hours/add")
@login_required
def add(event_id: int):
    """Record hours for someone on the roster who has none (补录 by the leader)."""
    event = _managed_event(event_id)
    if event.hours_confirmed_at is None:
        return _refuse(HoursError("not_confirmed"), url_for("hours.event_hours", event_id=event.id))
    form = AddRecordForm(prefix="add")
    candidates = roster(event)
    form.volunteer.choices = _volunteer_choices(candidates, set())
    if form.validate_on_submit():
        volunteer = db.session.get(User, form.volunteer.data)
        try:
            add_record(current_user, event, volunteer, minutes_of(form.hours.data), form.reason.data)
        except HoursError as exc:
            db.session.rollback()
            form.volunteer.errors = [*form.volunteer.errors, error_text(exc)]
        else:
            db.session.commit()
            flash(_("Record added for %(name)s.", name=volunteer.name), "success")
            return redirect(url_for("hours.event_hours", event_id=event.id), 303)
    return render_page("hours/event_hours.html", "add_form", status=422, **_hours_context(event, add_form=form))


@bp.route("/records/<int:record_id>/correct", methods=["GET", "POST"])
@login_required
def correct(record_id: int):
    """A leader's or coordinator's correction: a new record with a reason supersedes this one."""
    record = db.get_or_404(ServiceRecord, record_id)
    event = record.event
    require(can_manage(current_user, event))
    form = CorrectionForm(data={"hours": record.minutes / 60} if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            correct_record(current_user, record, minutes_of(form.hours.data), form.reason.data)
        except HoursError as exc:
            db.session.rollback()
            form.reason.errors = [*form.reason.errors, error_text(exc)]
        else:
            db.session.commit()
            flash(_("Correction saved for %(name)s.", name=record.volunteer.name), "success")
            return redirect(url_for("hours.event_hours", event_id=event.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_page(
        "hours/correct.html",
        _fragment("form"),
        status=status,
        record=record,
        event=event,
        form=form,
        effective=is_effective(record),
    )


# --- correction requests ------------------------------------------------------------------------


@bp.route("/mine/request", methods=["GET", "POST"])
@login_required
def request_new():
    """A volunteer asks for a correction of a record, or for a missing record (补录申请)."""
    event = _event(request.values.get("event", type=int) or 0)
    record = None
    record_id = request.values.get("record", type=int)
    if record_id:
        record = db.get_or_404(ServiceRecord, record_id)
        require(record.volunteer_id == current_user.id)
        if record.event_id != event.id:
            abort(404)
    form = RequestForm(data={"hours": record.minutes / 60} if record and request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            request_correction(current_user, event, record, minutes_of(form.hours.data), form.message.data)
        except HoursError as exc:
            db.session.rollback()
            form.message.errors = [*form.message.errors, error_text(exc)]
        else:
            db.session.commit()
            flash(_("Your request was sent to the team leader."), "success")
            return redirect(url_for("hours.mine"), 303)
    status = 422 if request.method == "POST" else 200
    return render_page(
        "hours/request_form.html", _fragment("form"), status=status, event=event, record=record, form=form
    )


@bp.get("/requests")
@login_required
def requests():
    """Pending correction requests on the events the user manages, oldest first, a page at a time."""
    require(current_user.is_admin or bool(led_team_ids(current_user)) or _is_coordinator())
    page = page_arg()
    rows = pending_requests_for(current_user, limit=REQUESTS_PAGE + 1, offset=(page - 1) * REQUESTS_PAGE)
    if page > 1 and not rows:
        abort(404)
    return render_page(
        "hours/requests.html",
        _fragment("list", "request-list"),
        rows=rows[:REQUESTS_PAGE],
        page=page,
        has_more=len(rows) > REQUESTS_PAGE,
        forms={r.id: _approve_form(r) for r in rows[:REQUESTS_PAGE]},
        **_labels(),
    )


def _is_coordinator() -> bool:
    from blueprints.orgs.services import is_coordinator

    return is_coordinator(current_user)


def _approve_form(req: CorrectionRequest, formdata=None) -> ApproveForm:
    """The decision form of a request (hours and a note; Approve posts it, Reject posts its note too)."""
    if formdata is None:
        return ApproveForm(prefix=f"a{req.id}", formdata=None, data={"hours": req.requested_minutes / 60})
    return ApproveForm(prefix=f"a{req.id}")


def _request(request_id: int) -> CorrectionRequest:
    req = db.get_or_404(CorrectionRequest, request_id)
    require(can_manage(current_user, req.event))
    return req


def _request_row(req: CorrectionRequest, status: int = 200, form: ApproveForm | None = None):
    forms = {req.id: form or _approve_form(req)}
    if is_htmx():
        return render_page("hours/requests.html", "row", status=status, req=req, forms=forms, **_labels())
    if status != 200:
        return render_page(
            "hours/requests.html", status=status, rows=[req], page=1, has_more=False, forms=forms, **_labels()
        )
    return redirect(url_for("hours.requests"), 303)


@bp.post("/requests/<int:request_id>/approve")
@login_required
def approve(request_id: int):
    """Approve a request: the record is written (a correction or a backfill)."""
    req = _request(request_id)
    form = _approve_form(req, formdata=True)
    if form.validate_on_submit():
        try:
            approve_request(current_user, req, minutes_of(form.hours.data), form.note.data)
        except HoursError as exc:
            return _refuse(exc, url_for("hours.requests"))
        db.session.commit()
        flash(_("Request of %(name)s approved; the record is written.", name=req.volunteer.name), "success")
        return _request_row(req)
    return _request_row(req, status=422, form=form)


@bp.post("/requests/<int:request_id>/reject")
@login_required
def reject(request_id: int):
    """Reject a request with a reason (the decision form's note, which rejecting requires)."""
    req = _request(request_id)
    form = RejectForm(prefix=f"a{req.id}")
    if form.validate_on_submit():
        try:
            reject_request(current_user, req, form.note.data)
        except HoursError as exc:
            return _refuse(exc, url_for("hours.requests"))
        db.session.commit()
        flash(_("Request of %(name)s rejected.", name=req.volunteer.name), "success")
        return _request_row(req)
    shown = _approve_form(req, formdata=True)  # the hours and note as typed, the note's error with them
    shown.note.errors = list(form.note.errors)
    return _request_row(req, status=422, form=shown)


# --- beneficiaries ------------------------------------------------------------------------------


@bp.route("/events/<int:event_id>/beneficiaries", methods=["GET", "POST"])
@login_required
def beneficiaries(event_id: int):
    """People served, per category, with an optional note."""
    event = _managed_event(event_id)
    existing = beneficiaries_of(event)
    data = {}
    for category, row in existing.items():
        data[f"count_{category}"] = row.count
        data[f"note_{category}"] = row.note or ""
    form = BeneficiaryForm(data=data if request.method == "GET" else None)
    if form.validate_on_submit():
        values = {c: (form[f"count_{c}"].data, form[f"note_{c}"].data) for c in BENEFICIARY_CATEGORIES}
        try:
            save_beneficiaries(current_user, event, values)
        except HoursError as exc:
            db.session.rollback()
            flash(error_text(exc), "error")
        else:
            db.session.commit()
            flash(_("People served saved."), "success")
            return redirect(url_for("hours.beneficiaries", event_id=event.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_page(
        "hours/beneficiaries.html", _fragment("form"), status=status, event=event, form=form, **_labels()
    )


# --- my hours -----------------------------------------------------------------------------------


@bp.get("/mine")
@login_required
def mine():
    """A volunteer's hours: this year against the target, lifetime, stars, records, requests."""
    page = _page()
    records, totals = my_records(current_user, limit=PAGE + 1, offset=(page - 1) * PAGE)
    return render_page(
        "hours/mine.html",
        None,
        overview=hours_overview(current_user, totals),
        records=records[:PAGE],
        page=page,
        has_more=len(records) > PAGE,
        requests=my_pending_requests(current_user),
        missing_events=requestable_events(current_user, limit=10),
        certificates=my_certificates(current_user),
        can_self_issue=can_issue_self(current_user, self_service_org_id(current_user)),
        certificate_form=_certificate_form(),
        **_labels(),
    )


@bp.get("/mine.csv")
@login_required
def mine_csv():
    """Download my own records (CSV, opens in Excel)."""
    header = [_("Date"), _("Event"), _("Organisation"), _("Hours"), _("How recorded"), _("Reason")]
    rows = (
        (
            to_local(r.served_at).date(),
            r.title,
            r.name,
            f"{r.minutes / 60:.2f}".rstrip("0").rstrip("."),
            str(SOURCE_LABELS.get(r.source, r.source)),
            r.reason or "",
        )
        for r in my_record_rows(current_user)
    )
    return send_csv(f"my-hours-{local_today().isoformat()}.csv", header, rows)


# --- certificates -------------------------------------------------------------------------------


def _certificate_form(formdata=False) -> CertificateForm:
    today = local_today()
    if formdata:
        return CertificateForm()
    return CertificateForm(formdata=None, data={"period_start": date(today.year, 1, 1), "period_end": today})


@bp.route("/certificates/new", methods=["GET", "POST"])
@login_required
def certificate_new():
    """A volunteer prints their own certificate (when the org allows self-service)."""
    org_id = self_service_org_id(current_user)
    require(can_issue_self(current_user, org_id))
    return _issue(current_user, load_with_ancestors(org_id), url_for("hours.certificate_new"))


@bp.route("/events/<int:event_id>/volunteers/<int:user_id>/certificate", methods=["GET", "POST"])
@login_required
def certificate_for(event_id: int, user_id: int):
    """A leader or coordinator issues a certificate to a volunteer of one of their events."""
    event = _event(event_id)
    volunteer = db.get_or_404(User, user_id)
    require(can_issue_for(current_user, volunteer, event))
    return _issue(volunteer, event.org, url_for("hours.certificate_for", event_id=event.id, user_id=volunteer.id))


def _issue(volunteer: User, org, action: str):
    form = _certificate_form(formdata=request.method == "POST")
    if form.validate_on_submit():
        try:
            certificate = issue_certificate(current_user, volunteer, org, form.period_start.data, form.period_end.data)
        except HoursError as exc:
            db.session.rollback()
            form.period_end.errors = [*form.period_end.errors, error_text(exc)]
        else:
            db.session.commit()
            flash(_("Certificate %(number)s issued.", number=certificate.number), "success")
            return redirect(url_for("hours.certificate", certificate_id=certificate.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_page(
        "hours/certificate_new.html",
        _fragment("form"),
        status=status,
        form=form,
        volunteer=volunteer,
        org=org,
        action=action,
    )


@bp.get("/certificates/<int:certificate_id>")
@login_required
def certificate(certificate_id: int):
    """The printable certificate (A4)."""
    cert = db.get_or_404(Certificate, certificate_id)
    require(can_view_certificate(current_user, cert))
    verify_url = url_for("hours.verify", token=certificate_token(cert.id), _external=True)
    return render_page(
        "hours/certificate.html",
        cert=cert,
        volunteer=cert.volunteer,
        issuer=db.session.get(User, cert.issued_by_id) if cert.issued_by_id else None,
        verify_url=verify_url,
        qr=qr_svg(verify_url, _("Scan to verify this certificate")),
    )


@bp.get("/verify/<token>")
def verify(token: str):
    """Public: is this certificate genuine? Shows the masked name, hours, issuer and date only."""
    certificate_id = certificate_id_from(token)
    cert = db.session.get(Certificate, certificate_id) if certificate_id is not None else None
    if cert is None:
        return render_page("hours/verify.html", status=404, cert=None)
    return render_page("hours/verify.html", cert=cert, masked_name=mask_name(cert.volunteer.name), issuer=cert.org.name)
