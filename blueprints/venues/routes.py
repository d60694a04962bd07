"""Youth homes: catalogue, venue pages, week calendar, iCal, booking requests, approvals, venue admin."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import abort, current_app, flash, make_response, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from sqlalchemy.orm import joinedload, selectinload

from blueprints.auth.models import User, phone_shown_to
from blueprints.auth.services import user_by_phone
from blueprints.core.authz import require, safe_next
from blueprints.core.db import set_write_intent
from blueprints.core.extensions import db
from blueprints.core.forms import EmptyForm, TokenForm
from blueprints.core.htmx import is_htmx
from blueprints.core.htmx import render_page as _render_page
from blueprints.core.pagecache import anonymous_page_cache
from blueprints.core.registry import get_registry
from blueprints.core.timeutil import local_today, to_local, utcnow
from blueprints.core.translate import gettext as _
from blueprints.core.translate import translated
from blueprints.orgs.models import Org
from blueprints.orgs.services import is_coordinator, org_picker_context

from . import bp
from .calendar import booking_feed, week_grid
from .forms import (
    FACILITY_LABELS,
    STATE_LABELS,
    WEEKDAYS,
    BookingForm,
    ClosureForm,
    HoursForm,
    ManagerForm,
    NewVenueForm,
    RejectForm,
    VenueForm,
    venue_form_data,
)
from .models import FACILITIES, Booking, Closure, OpeningHours, Venue, VenueManager
from .services import (
    QUEUE_FILTER_LIST,
    QUEUE_PAGE,
    BookingRefused,
    BookingStateError,
    CatalogueFilter,
    VenueError,
    add_closure,
    approval_queue,
    approval_queue_by_venue,
    approve_booking,
    area_choices,
    booking_problems,
    can_administer_venue,
    can_manage_venue,
    cancel_booking,
    catalogue_query,
    collisions,
    create_venue,
    duration_text,
    grant_manager,
    intervals_text,
    is_approver,
    manageable_venues_query,
    note_text,
    pending_count,
    queue_items,
    reject_booking,
    remove_closure,
    request_booking,
    revoke_manager,
    schedule,
    set_opening_hours,
    update_venue,
)

CATALOGUE_PAGE = 20
MY_PAGE = 20
MANAGE_PAGE = 30


def render_page(template: str, block: str | None = None, status: int = 200, **context):
    """core render_page, but a history restore (htmx re-fetching a page it lost) gets the full page."""
    if request.headers.get("HX-History-Restore-Request") == "true":
        block = None
    return _render_page(template, block, status=status, **context)


def _common() -> dict:
    return {
        "phone_shown_to": phone_shown_to,
        "facility_labels": translated(FACILITY_LABELS),
        "state_labels": translated(STATE_LABELS),
        "weekdays": WEEKDAYS,
        "note_text": note_text,
        "duration_text": duration_text,
        "intervals_text": intervals_text,
    }


def _commit() -> None:
    """Commit the request's one transaction; later reads need no write lock.

    On SQLite a read after the commit would otherwise open another BEGIN IMMEDIATE transaction that
    holds the write lock until the request ends — and the email step (teardown) needs that lock to
    mark notifications as emailed.
    """
    db.session.commit()
    set_write_intent(False)


def _done(location: str):
    """After a successful POST: 303 for a plain form; for htmx, a full navigation (HX-Redirect)."""
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = location
        return response
    response = make_response("", 303)
    response.headers["Location"] = location
    return response


def _page_arg() -> int:
    return max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip()) if value else None
    except ValueError:
        return None


def _parse_time(value: str | None) -> time | None:
    try:
        return time.fromisoformat((value or "").strip()) if value else None
    except ValueError:
        return None


def _venue_or_404(venue_id: int) -> Venue:
    return db.get_or_404(Venue, venue_id)


def _managed_venue(venue_id: int) -> Venue:
    venue = _venue_or_404(venue_id)
    require(can_manage_venue(current_user, venue))
    return venue


# --- catalogue and venue pages ----------------------------------------------------------------


@bp.get("/")
def index():
    """The youth-home catalogue: search by name, filter by area, facilities and a free slot."""
    args = request.args
    flt = CatalogueFilter(q=(args.get("q") or "").strip()[:60])
    org_id = args.get("org", type=int)
    if org_id:
        flt.org = db.session.get(Org, org_id)
    flt.facilities = [f for f in args.getlist("facility") if f in FACILITIES]
    flt.day = _parse_date(args.get("day"))
    flt.start, flt.end = _parse_time(args.get("start")), _parse_time(args.get("end"))
    problems = []
    if args.get("day") and flt.day is None:
        problems.append(_("Enter a date like 2026-05-04."))
    if (args.get("start") and flt.start is None) or (args.get("end") and flt.end is None):
        problems.append(_("Enter a time like 09:30."))
    if flt.start and flt.end and flt.end <= flt.start:
        problems.append(_("The end must be after the start."))
    if (flt.start or flt.end) and not flt.day:
        problems.append(_("Choose a date to look for a free time."))
    page = _page_arg()
    venues = list(
        db.session.scalars(catalogue_query(flt).limit(CATALOGUE_PAGE + 1).offset((page - 1) * CATALOGUE_PAGE))
    )
    params = {
        k: v
        for k, v in {
            "q": flt.q or None,
            "org": flt.org.id if flt.org else None,
            "facility": flt.facilities or None,
            "day": args.get("day") or None,
            "start": args.get("start") or None,
            "end": args.get("end") or None,
        }.items()
        if v
    }
    return render_page(
        "venues/index.html",
        "results",
        venues=venues[:CATALOGUE_PAGE],
        has_more=len(venues) > CATALOGUE_PAGE,
        page=page,
        flt=flt,
        problems=problems,
        params=params,
        areas=area_choices(),
        facilities=FACILITIES,
        **_common(),
    )


@bp.get("/<int:venue_id>")
def show(venue_id: int):
    """A youth home: facts, opening hours, closures, managers, the next 7 days of availability."""
    venue = (
        db.session.scalars(
            sa.select(Venue)
            .where(Venue.id == venue_id)
            .options(
                joinedload(Venue.org),
                joinedload(Venue.opening_hours),
                joinedload(Venue.managers).joinedload(VenueManager.user),
            )
        )
        .unique()
        .one_or_none()
    )
    if venue is None:
        abort(404)
    today = local_today()
    closures = list(
        db.session.scalars(
            sa.select(Closure).where(Closure.venue_id == venue.id, Closure.ends_on >= today).order_by(Closure.starts_on)
        )
    )
    days = schedule(venue, today, 7, now=utcnow(), closures=closures)
    return render_page(
        "venues/show.html",
        venue=venue,
        days=days,
        closures=closures[:10],
        can_manage=can_manage_venue(current_user, venue),
        # another blueprint may show the star rating (and satisfaction) in the page slot
        rating_slot=bool(get_registry(current_app).slots.get("venue.page")),
        **_common(),
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _calendar_stamp(venue_id: int) -> object:
    """Has anything the week calendar shows changed (bookings decided or cancelled, closures,
    opening hours)? One statement over the venue's own rows."""

    def value(aggregate, model):  # noqa: ANN001, ANN202
        return sa.select(aggregate).where(model.venue_id == venue_id).scalar_subquery()

    parts = [
        value(sa.func.count(), Booking),
        value(sa.func.max(Booking.id), Booking),
        value(sa.func.max(Booking.decided_at), Booking),
        value(sa.func.max(Booking.cancelled_at), Booking),
        value(sa.func.count(), Closure),
        value(sa.func.max(Closure.id), Closure),
        value(sa.func.count(), OpeningHours),
        value(sa.func.max(OpeningHours.id), OpeningHours),
    ]
    return tuple(db.session.execute(sa.select(*parts)).one())


@bp.get("/<int:venue_id>/calendar")
@anonymous_page_cache(lambda venue_id: _calendar_stamp(venue_id))
def calendar(venue_id: int):
    """A week of a youth home: opening hours × 7 days, approved bookings, closures (htmx prev/next)."""
    venue = (
        db.session.scalars(sa.select(Venue).where(Venue.id == venue_id).options(joinedload(Venue.opening_hours)))
        .unique()
        .one_or_none()
    )
    if venue is None:
        abort(404)
    monday = _monday(_parse_date(request.args.get("week")) or local_today())
    days = schedule(venue, monday, 7)
    return render_page(
        "venues/calendar.html",
        "calendar",
        venue=venue,
        monday=monday,
        grid=week_grid(days),
        today=local_today(),
        prev_week=monday - timedelta(days=7),
        next_week=monday + timedelta(days=7),
        **_common(),
    )


def _ics(body: bytes, filename: str, cache: str):
    response = make_response(body)
    response.mimetype = "text/calendar"
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = cache
    return response


@bp.get("/<int:venue_id>/calendar.ics")
def venue_feed(venue_id: int):
    """iCal feed of a youth home's approved bookings (public)."""
    venue = _venue_or_404(venue_id)
    since = utcnow() - timedelta(days=60)
    bookings = list(
        db.session.scalars(
            sa.select(Booking)
            .where(Booking.venue_id == venue.id, Booking.state == "approved", Booking.ends_at > since)
            .order_by(Booking.starts_at)
            .limit(2000)
        )
    )
    for b in bookings:
        b.venue = venue
    body = booking_feed(_("%(venue)s bookings", venue=venue.name), bookings, public=True)
    return _ics(body, f"venue-{venue.id}.ics", "public, max-age=300")


@bp.get("/feed/<token>.ics")
def user_feed(token: str):
    """iCal feed of one person's own bookings, at a secret URL (User.feed_token)."""
    if not token or len(token) > 64:
        abort(404)
    user = db.session.scalar(sa.select(User).where(User.feed_token == token))
    if user is None:
        abort(404)
    since = utcnow() - timedelta(days=90)
    bookings = list(
        db.session.scalars(
            sa.select(Booking)
            .where(
                Booking.requester_id == user.id,
                Booking.state.in_(("pending", "approved", "cancelled")),
                Booking.ends_at > since,
            )
            .options(joinedload(Booking.venue))
            .order_by(Booking.starts_at)
            .limit(2000)
        )
    )
    body = booking_feed(_("My youth-home bookings"), bookings, public=False)
    return _ics(body, "my-bookings.ics", "private, max-age=300")


# --- booking requests -------------------------------------------------------------------------


def _default_day(venue: Venue) -> date:
    earliest = to_local(utcnow() + timedelta(hours=venue.min_notice_hours)).date()
    return max(local_today() + timedelta(days=1), earliest)


@bp.route("/<int:venue_id>/book", methods=["GET", "POST"])
@login_required
def book(venue_id: int):
    """Ask for a time slot; the form shows that day's schedule (htmx on date change)."""
    venue = (
        db.session.scalars(sa.select(Venue).where(Venue.id == venue_id).options(joinedload(Venue.opening_hours)))
        .unique()
        .one_or_none()
    )
    if venue is None:
        abort(404)
    form = BookingForm()
    status = 200
    if request.method == "GET":
        form.day.data = _parse_date(request.args.get("day")) or _default_day(venue)
        start, end = _parse_time(request.args.get("start")), _parse_time(request.args.get("end"))
        if start and end:
            form.start.data, form.end.data = start, end
        if is_htmx() and request.args.get("day"):
            return _book_page(venue, form, 200, block="schedule")
    elif request.form.get("action") == "show_day":
        form.validate()
        for f in form:
            f.errors = []
    elif form.validate_on_submit():
        try:
            request_booking(
                current_user,
                venue,
                form.day.data,
                form.start.data,
                form.end.data,
                form.purpose.data,
                form.attendees.data,
            )
        except BookingRefused as exc:
            _attach(form, exc.problems)
            status = 422
        else:
            _commit()
            flash(
                _(
                    "Your request was sent to the managers of %(venue)s. You will get a notification when they decide.",
                    venue=venue.name,
                ),
                "success",
            )
            return _done(url_for("venues.my_bookings"))
    else:
        status = 422
        if form.day.data and form.start.data and form.end.data:
            attendees = form.attendees.data if not form.attendees.errors else None
            _attach(form, booking_problems(venue, form.day.data, form.start.data, form.end.data, attendees))
    return _book_page(venue, form, status, block="form")


def _attach(form: BookingForm, problems: dict[str, list[str]]) -> None:
    for name, messages in problems.items():
        field = getattr(form, name, None) or form.day
        for message in messages:
            if message not in field.errors:
                field.errors = [*field.errors, message]


def _book_page(venue: Venue, form: BookingForm, status: int, block: str):
    day = form.day.data or _default_day(venue)
    day_schedule = schedule(venue, day, 1, states=("approved", "pending"), now=utcnow())[0]
    return render_page(
        "venues/book.html", block, status=status, venue=venue, form=form, sched=day_schedule, **_common()
    )


@bp.get("/bookings/<int:booking_id>")
@login_required
def booking(booking_id: int):
    """One booking: its state and decision; actions for the requester (cancel) and managers (decide)."""
    b = db.get_or_404(Booking, booking_id)
    may_decide = can_manage_venue(current_user, b.venue)
    require(b.requester_id == current_user.id or may_decide)
    return _booking_page(b, may_decide)


def _booking_page(b: Booking, may_decide: bool, reject_form: RejectForm | None = None, status: int = 200):
    clash = collisions([b])[b.id] if b.state == "pending" and may_decide else None
    return render_page(
        "venues/booking.html",
        status=status,
        b=b,
        may_decide=may_decide,
        clash=clash,
        form=TokenForm(),
        reject_form=reject_form or RejectForm(),
        now=utcnow(),
        **_common(),
    )


# --- decisions --------------------------------------------------------------------------------


def _badge_oob() -> str:
    n = pending_count(current_user)
    return render_template("venues/_badge_oob.html", n=n)


def _queue_rows(rows: list[Booking], primary: Booking, status: int, reject_form: RejectForm | None = None):
    """htmx answer to a decision: the decided row, the rows it settled (OOB), the badge (OOB), flashes."""
    context = {"now": utcnow(), "clash": {}, **_common()}
    items = queue_items([primary.id, *(other.id for other in rows)])
    html = render_block("venues/approvals.html", "row", b=items[primary.id], reject_form=reject_form, **context)
    for other in rows:
        html += render_block("venues/approvals.html", "row", b=items[other.id], oob=True, reject_form=None, **context)
    html += _badge_oob()
    html += render_template("_flash_oob.html")
    response = make_response(html, status)
    response.vary.add("HX-Request")
    return response


def _decidable_booking(booking_id: int) -> Booking:
    b = db.get_or_404(Booking, booking_id)
    require(can_manage_venue(current_user, b.venue))
    return b


def _back(default: str) -> str:
    return safe_next(request.form.get("next"), default)


@bp.post("/bookings/<int:booking_id>/approve")
@login_required
def approve(booking_id: int):
    """Approve a pending request; overlapping pending ones are rejected ("time slot taken")."""
    b = _decidable_booking(booking_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        losers = approve_booking(current_user, b)
    except BookingStateError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        if is_htmx():
            return _queue_rows([], b, 409)
        return _done(_back(url_for("venues.approvals")))
    _commit()
    message = _("Approved: %(venue)s, %(when)s.", venue=b.venue.name, when=_when(b))
    if losers:
        message += " " + _("%(n)s overlapping request(s) were rejected (time slot taken).", n=len(losers))
    flash(message, "success")
    if is_htmx():
        return _queue_rows(losers, b, 200)
    return _done(_back(url_for("venues.approvals")))


@bp.post("/bookings/<int:booking_id>/reject")
@login_required
def reject(booking_id: int):
    """Reject a pending request; a reason is required."""
    b = _decidable_booking(booking_id)
    form = RejectForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        if is_htmx():
            return _queue_rows([], b, 422, reject_form=form)
        return _booking_page(b, True, reject_form=form, status=422)
    try:
        reject_booking(current_user, b, form.reason.data)
    except BookingStateError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        if is_htmx():
            return _queue_rows([], b, 409)
        return _done(_back(url_for("venues.approvals")))
    _commit()
    flash(_("Rejected: %(venue)s, %(when)s.", venue=b.venue.name, when=_when(b)), "success")
    if is_htmx():
        return _queue_rows([], b, 200)
    return _done(_back(url_for("venues.approvals")))


def _when(b: Booking) -> str:
    start, end = to_local(b.starts_at), to_local(b.ends_at)
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"


@bp.post("/bookings/<int:booking_id>/cancel")
@login_required
def cancel(booking_id: int):
    """The requester cancels a pending or approved booking before it starts."""
    b = db.get_or_404(Booking, booking_id)
    require(b.requester_id == current_user.id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    status = 200
    try:
        cancel_booking(current_user, b)
    except BookingStateError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        status = 409
    else:
        _commit()
        flash(_("Cancelled: %(venue)s, %(when)s.", venue=b.venue.name, when=_when(b)), "success")
    if is_htmx():
        return render_page(
            "venues/my_bookings.html", "row", status=status, b=b, form=TokenForm(), now=utcnow(), **_common()
        )
    return _done(_back(url_for("venues.my_bookings")))


@bp.get("/approvals")
@login_required
def approvals():
    """Pending requests the user may decide, soonest first, with their collisions."""
    require(is_approver(current_user))
    venue_id = request.args.get("venue", type=int)
    name = " ".join((request.args.get("home") or "").split())[:100]
    page = _page_arg()
    rows = approval_queue(
        current_user, venue_id, limit=QUEUE_PAGE + 1, offset=(page - 1) * QUEUE_PAGE, name=name or None
    )
    shown = rows[:QUEUE_PAGE]
    by_venue = approval_queue_by_venue(current_user)
    return render_page(
        "venues/approvals.html",
        "queue",
        rows=shown,
        clash=collisions(shown),
        has_more=len(rows) > QUEUE_PAGE,
        page=page,
        venue_id=venue_id,
        by_venue=by_venue,
        search_by_name=len(by_venue) > QUEUE_FILTER_LIST,
        home_name=name,
        reject_form=None,  # a rejection sent without a reason brings its form back (_queue_rows)
        now=utcnow(),
        **_common(),
    )


@bp.get("/bookings/mine")
@login_required
def my_bookings():
    """The user's requests and bookings: upcoming (soonest first) or past (newest first)."""
    show_past = request.args.get("show") == "past"
    page = _page_arg()
    now = utcnow()
    stmt = (
        sa.select(Booking)
        .where(Booking.requester_id == current_user.id)
        .options(joinedload(Booking.venue), joinedload(Booking.decided_by))
    )
    if show_past:
        stmt = stmt.where(Booking.ends_at <= now).order_by(Booking.starts_at.desc(), Booking.id.desc())
    else:
        stmt = stmt.where(Booking.ends_at > now).order_by(Booking.starts_at, Booking.id)
    rows = list(db.session.scalars(stmt.limit(MY_PAGE + 1).offset((page - 1) * MY_PAGE)))
    return render_page(
        "venues/my_bookings.html",
        "list",
        rows=rows[:MY_PAGE],
        has_more=len(rows) > MY_PAGE,
        page=page,
        show_past=show_past,
        form=TokenForm(),
        now=now,
        feed_url=url_for("venues.user_feed", token=current_user.feed_token, _external=True),
        **_common(),
    )


# --- venue admin ------------------------------------------------------------------------------


@bp.get("/manage")
@login_required
def manage_list():
    """The youth homes the user may manage; coordinators and admins add new ones here."""
    require(is_approver(current_user))
    page = _page_arg()
    venues = list(
        db.session.scalars(
            manageable_venues_query(current_user)
            .options(sa.orm.contains_eager(Venue.org))
            .order_by(Org.path, Venue.name, Venue.id)
            .limit(MANAGE_PAGE + 1)
            .offset((page - 1) * MANAGE_PAGE)
        )
    )
    return render_page(
        "venues/manage_list.html",
        "list",
        venues=venues[:MANAGE_PAGE],
        has_more=len(venues) > MANAGE_PAGE,
        page=page,
        can_create=is_coordinator(current_user),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Add a youth home to an organisation inside the coordinator's scope."""
    require(is_coordinator(current_user))
    form = NewVenueForm(data=None if request.method == "POST" else {"active": True})
    status = 200
    if request.method == "POST" and request.form.get("action") == "search_org":
        form.validate()
        for f in form:
            f.errors = []
    elif form.validate_on_submit():
        org = db.session.get(Org, form.org_id.data)
        if org is None:
            form.org_id.errors.append(_("Choose an organisation from the search results."))
        elif not can_administer_venue(current_user, org=org):
            abort(403)
        else:
            venue = create_venue(current_user, org, **form.values())
            _commit()
            flash(_("%(name)s was added. Now set its opening hours and managers.", name=venue.name), "success")
            return _done(url_for("venues.manage", venue_id=venue.id))
        status = 422
    elif request.method == "POST":
        status = 422
    selected = db.session.get(Org, form.org_id.data) if form.org_id.data else None
    return render_page(
        "venues/edit.html",
        "form",
        status=status,
        venue=None,
        form=form,
        facility_labels=FACILITY_LABELS,
        **org_picker_context(form.org_query.data, selected, user=current_user),
    )


@bp.route("/<int:venue_id>/edit", methods=["GET", "POST"])
@login_required
def edit(venue_id: int):
    """Change a youth home's details and booking rules."""
    venue = _managed_venue(venue_id)
    form = VenueForm(data=None if request.method == "POST" else venue_form_data(venue))
    if form.validate_on_submit():
        update_venue(current_user, venue, **form.values())
        _commit()
        flash(_("Saved."), "success")
        return _done(url_for("venues.manage", venue_id=venue.id))
    status = 422 if request.method == "POST" else 200
    return render_page(
        "venues/edit.html", "form", status=status, venue=venue, form=form, facility_labels=FACILITY_LABELS
    )


def _manage_page(venue: Venue, status: int = 200, block: str | None = None, **forms):
    venue = (
        db.session.scalars(
            sa.select(Venue)
            .where(Venue.id == venue.id)
            # the opening hours in the venue's own statement (a week: a dozen rows at most)
            .options(joinedload(Venue.opening_hours), selectinload(Venue.managers).joinedload(VenueManager.user))
            .execution_options(populate_existing=True)
        )
        .unique()
        .one()
    )
    hours_form = forms.get("hours_form") or HoursForm(
        data={f"day{d}": intervals_text(venue.intervals_on(d)) for d in range(7)}
    )
    today = local_today()
    closures = list(
        db.session.scalars(
            sa.select(Closure).where(Closure.venue_id == venue.id, Closure.ends_on >= today).order_by(Closure.starts_on)
        )
    )
    return render_page(
        "venues/manage.html",
        block,
        status=status,
        venue=venue,
        hours_form=hours_form,
        closure_form=forms.get("closure_form") or ClosureForm(prefix="closure"),
        manager_form=forms.get("manager_form") or ManagerForm(prefix="manager"),
        closures=closures,
        form=TokenForm(),
        can_administer=can_administer_venue(current_user, venue),
        **_common(),
    )


@bp.get("/<int:venue_id>/manage")
@login_required
def manage(venue_id: int):
    """A youth home's admin page: opening hours, closures, managers."""
    return _manage_page(_managed_venue(venue_id))


@bp.post("/<int:venue_id>/hours")
@login_required
def hours(venue_id: int):
    """Replace the weekly opening hours (several intervals per weekday)."""
    venue = _managed_venue(venue_id)
    form = HoursForm()
    if not form.validate_on_submit():
        return _manage_page(venue, 422, "hours", hours_form=form)
    set_opening_hours(current_user, venue, form.week)
    _commit()
    flash(_("Opening hours saved."), "success")
    if is_htmx():
        return _manage_page(venue, 200, "hours")
    return _done(url_for("venues.manage", venue_id=venue.id))


@bp.post("/<int:venue_id>/closures")
@login_required
def add_closure_view(venue_id: int):
    """Close the youth home for a date range (holidays, repairs)."""
    venue = _managed_venue(venue_id)
    form = ClosureForm(prefix="closure")
    if form.validate_on_submit():
        try:
            _closure, affected = add_closure(
                current_user, venue, form.starts_on.data, form.ends_on.data, form.reason.data
            )
        except VenueError as exc:
            getattr(form, exc.field or "reason").errors.append(exc.message)
        else:
            _commit()
            flash(_("Closure added."), "success")
            if affected:
                flash(
                    _(
                        "%(n)s approved booking(s) fall in this closure: %(list)s. Contact the people who made them.",
                        n=len(affected),
                        list=", ".join(_when(b) for b in affected[:10]),
                    ),
                    "warning",
                )
            if is_htmx():
                return _manage_page(venue, 200, "closures")
            return _done(url_for("venues.manage", venue_id=venue.id))
    return _manage_page(venue, 422, "closures", closure_form=form)


@bp.post("/<int:venue_id>/closures/<int:closure_id>/delete")
@login_required
def remove_closure_view(venue_id: int, closure_id: int):
    """Remove a closure (the youth home opens on those days again)."""
    venue = _managed_venue(venue_id)
    closure = db.get_or_404(Closure, closure_id)
    if closure.venue_id != venue.id:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    remove_closure(current_user, closure)
    _commit()
    flash(_("Closure removed."), "success")
    if is_htmx():
        return _manage_page(venue, 200, "closures")
    return _done(url_for("venues.manage", venue_id=venue.id))


@bp.post("/<int:venue_id>/managers")
@login_required
def grant(venue_id: int):
    """Make someone (found by mobile number) a manager of this youth home."""
    venue = _venue_or_404(venue_id)
    require(can_administer_venue(current_user, venue))
    form = ManagerForm(prefix="manager")
    if form.validate_on_submit():
        user = user_by_phone(form.phone.data)
        if user is None:
            form.phone.errors.append(_("No account has this mobile number. Ask them to register first."))
        else:
            try:
                grant_manager(current_user, venue, user)
            except VenueError as exc:
                form.phone.errors.append(exc.message)
            else:
                _commit()
                flash(_("%(name)s now manages %(venue)s.", name=user.name, venue=venue.name), "success")
                if is_htmx():
                    return _manage_page(venue, 200, "managers")
                return _done(url_for("venues.manage", venue_id=venue.id))
    return _manage_page(venue, 422, "managers", manager_form=form)


@bp.post("/<int:venue_id>/managers/<int:grant_id>/revoke")
@login_required
def revoke(venue_id: int, grant_id: int):
    """Take the manager role back."""
    venue = _venue_or_404(venue_id)
    require(can_administer_venue(current_user, venue))
    grant_row = db.get_or_404(VenueManager, grant_id)
    if grant_row.venue_id != venue.id:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    name = grant_row.user.name
    revoke_manager(current_user, grant_row)
    _commit()
    flash(_("%(name)s no longer manages %(venue)s.", name=name, venue=venue.name), "success")
    if is_htmx():
        return _manage_page(venue, 200, "managers")
    return _done(url_for("venues.manage", venue_id=venue.id))


@bp.app_template_global("venue_local_hm")
def venue_local_hm(value: datetime | None) -> str:
    """HH:MM in the configured zone (24-hour clock in both languages), through the layout's localtime
    filter, which keeps each formatted value per process (a queue page shows the same few dozen times)."""
    return current_app.jinja_env.filters["localtime"](value, "HH:mm")
