"""Event pages: weekly activity list, event page with one-tap registration, my events, leader pages,
calendar feeds, service categories."""

from __future__ import annotations

import functools
from datetime import date, timedelta

import segno
import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import force_locale
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload
from wtforms.fields.choices import SelectChoice

from blueprints.auth.models import User, new_feed_token
from blueprints.core.authz import admin_required, require, safe_next
from blueprints.core.db import commit_keeping_state, stop_writing, writes_late
from blueprints.core.exports import send_csv
from blueprints.core.extensions import db
from blueprints.core.forms import TokenForm, check_csrf
from blueprints.core.htmx import is_htmx, render_page
from blueprints.core.pagecache import anonymous_page_cache
from blueprints.core.paging import last_page, page_arg
from blueprints.core.timeutil import iso_week_bounds, to_local, utcnow
from blueprints.core.translate import gettext as _
from blueprints.orgs.models import Org
from blueprints.teams.models import Team

from . import bp, ical
from .forms import (
    EVENT_STATE_LABELS,
    NO_BOOKING,
    REGISTRATION_STATE_LABELS,
    CancelEventForm,
    CapacityForm,
    CategoryForm,
    CategoryRenameForm,
    EventForm,
    event_form_data,
)
from .models import Event, EventCategory, Registration
from .queries import (
    current_week,
    default_org,
    event_options,
    group_by_day,
    manageable_teams,
    my_coming,
    my_past,
    my_states,
    parse_week,
    roster,
    roster_counts,
    roster_rows,
    week_count,
    week_events,
    week_label,
)
from .services import (
    EventData,
    EventError,
    RegistrationError,
    active_registration,
    add_category,
    bookable_bookings,
    can_create_event,
    can_manage_event,
    cancel_event,
    cancel_registration,
    categories,
    change_capacity,
    complete_event,
    create_event,
    locked_event,
    place_text,
    publish_event,
    register,
    registration_closes_at,
    registration_status,
    set_category_active,
    update_category,
    update_event,
)

WEEK_PAGE = 20
#: events on one printed sheet of the weekly list (two A4 pages at most in the print layout's 10 pt)
PRINT_SHEET = 40
PAST_PAGE = 10
COMING_PAGE = 10
#: a volunteer waits for a place at a few events at most: the soonest this many are shown
WAITLIST_SHOWN = 10
ROSTER_PAGE = 50


def _labels() -> dict:
    return {"event_states": EVENT_STATE_LABELS, "registration_states": REGISTRATION_STATE_LABELS}


def _event_or_404(event_id: int) -> Event:
    """Load an event; drafts exist only for those who manage them (404 for everyone else)."""
    event = db.get_or_404(Event, event_id, options=[*event_options(), joinedload(Event.org)])
    if event.state == "draft" and not can_manage_event(current_user, event):
        abort(404)
    return event


def _event_to_register(event_id: int, *, registering: bool = False) -> Event:
    """The event a volunteer registers for or leaves, read and locked for the transaction at once (the
    service would lock it anyway; a registration locks the volunteer first, as the service does); the
    row alone: the answer, the registration block, needs none of its relationships. Drafts are 404 as above."""
    event = locked_event(event_id, volunteer=current_user if registering else None)
    if event is None or (event.state == "draft" and not can_manage_event(current_user, event)):
        abort(404)
    return event


def _managed_event(event_id: int) -> Event:
    event = _event_or_404(event_id)
    require(can_manage_event(current_user, event))
    return event


# --- weekly activity list -----------------------------------------------------------------------


def _children_and_trail(org: Org | None) -> tuple[list[Org], str]:
    """The org's children (to narrow the list) and its ancestors' names, in one query."""
    if org is None:
        return [], ""
    rows = list(
        db.session.scalars(
            sa.select(Org).where(sa.or_(Org.parent_id == org.id, Org.id.in_(org.ancestor_ids))).order_by(Org.name)
        )
    )
    names = {o.id: o.name for o in rows}
    trail = " › ".join(names.get(i, "?") for i in org.ancestor_ids)
    return [o for o in rows if o.parent_id == org.id], trail


@functools.lru_cache(maxsize=512)
def _qr_svg(url: str, title: str) -> str:
    """The page's QR code (segno takes ~10 ms to encode one; the same few weeks are asked for all day)."""
    return segno.make(url, error="m").svg_inline(scale=3, dark="#1c1b1f", omitsize=True, title=title)


def _week_context(limit: int, offset: int, by_day: bool = False) -> dict:
    try:
        parsed = parse_week(request.args.get("week"))
    except ValueError:
        abort(404)
    monday = iso_week_bounds(*parsed)[0] if parsed else current_week()
    org_id = request.args.get("org", type=int)
    org = db.get_or_404(Org, org_id) if org_id else default_org(current_user)
    category_id = request.args.get("category", type=int) or None
    day = _day_of_week(monday) if by_day else None
    events = week_events(org, monday, category_id=category_id, limit=limit + 1, offset=offset, day=day) if org else []
    shown = events[:limit]
    week = week_label(monday)
    children, trail = _children_and_trail(org)
    page_url = url_for("events.week", org=org.id if org else None, week=week, _external=True)
    return {
        "org": org,
        "trail": trail,
        "parent_id": org.parent_id if org else None,
        "children": children,
        "monday": monday,
        "sunday": monday + timedelta(days=6),
        "week": week,
        "prev_week": week_label(monday - timedelta(days=7)),
        "next_week": week_label(monday + timedelta(days=7)),
        "this_week": week_label(current_week()),
        "days": group_by_day(shown),
        "count": len(shown),
        "has_more": len(events) > limit,
        "category_id": category_id,
        "day": day,
        "categories": categories(),
        "mine": my_states(current_user, [e.id for e in shown]),
        "page_url": page_url,
        "qr_svg": _qr_svg(page_url, _("QR code of this page")),
        "feed_url": url_for("events.org_feed", org_id=org.id, _external=True) if org else None,
        **_labels(),
    }


def _events_stamp() -> object:
    """Has any event changed (created, edited, a seat taken or freed)? The latest change time, from
    an index: what the cached public weekly list is checked against."""
    return db.session.scalar(sa.select(sa.func.max(Event.updated_at)))


def _event_stamp(event_id: int) -> object:
    """Has this event, its hours, ratings or people served changed? One statement of index reads."""
    from blueprints.feedback.models import Feedback
    from blueprints.hours.models import BeneficiaryCount, ServiceRecord

    return tuple(
        db.session.execute(
            sa.select(
                Event.updated_at,
                Event.state,
                sa.select(sa.func.max(ServiceRecord.id)).where(ServiceRecord.event_id == event_id).scalar_subquery(),
                sa.select(sa.func.max(Feedback.id)).where(Feedback.event_id == event_id).scalar_subquery(),
                sa.select(sa.func.max(BeneficiaryCount.updated_at))
                .where(BeneficiaryCount.event_id == event_id)
                .scalar_subquery(),
            ).where(Event.id == event_id)
        ).one_or_none()
        or ()
    )


@bp.get("/")
@anonymous_page_cache(lambda: _events_stamp())
def week():
    """The public weekly activity list of an organisation and everything below it."""
    page = max(1, request.args.get("page", 1, type=int))
    context = _week_context(WEEK_PAGE, (page - 1) * WEEK_PAGE)
    return render_page("events/week.html", "week", page=page, **context)


def _day_of_week(monday: date) -> date | None:
    """The `day` argument: one day of the week of `monday` (None when absent; any other value is a 404)."""
    text = request.args.get("day")
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        abort(404)
    if not monday <= day < monday + timedelta(days=7):
        abort(404)
    return day


@bp.get("/print")
def week_print():
    """The print layout of the week's list (活动清单), with a QR code to the page. One sheet holds
    PRINT_SHEET events; a longer week prints sheet by sheet (?page=), or one day (?day=) or one
    organisation below (?org=) at a time."""
    sheet = page_arg()
    context = _week_context(PRINT_SHEET, (sheet - 1) * PRINT_SHEET, by_day=True)
    org = context["org"]
    total = week_count(org, context["monday"], category_id=context["category_id"], day=context["day"]) if org else 0
    sheets = last_page(total, PRINT_SHEET)
    if sheet > sheets:
        abort(404)
    week_days = [context["monday"] + timedelta(days=n) for n in range(7)]
    return render_page(
        "events/week_print.html", sheet=sheet, sheets=sheets, total=total, week_days=week_days, **context
    )


# --- calendar feeds -----------------------------------------------------------------------------


@bp.get("/org/<int:org_id>/calendar.ics")
def org_feed(org_id: int):
    """iCal feed of an organisation's published events (its subtree)."""
    org = db.get_or_404(Org, org_id)
    return ical.org_calendar(org)


@bp.get("/feed/<token>.ics")
def user_feed(token: str):
    """iCal feed of one volunteer's registrations; the secret token in the URL is the key."""
    if len(token) > 64:
        abort(404)
    user = db.session.scalar(sa.select(User).where(User.feed_token == token, User.active.is_(True)))
    if user is None:
        abort(404)
    with force_locale(user.locale or "zh_CN"):
        return ical.user_calendar(user)


@bp.post("/mine/feed")
@login_required
def reset_feed():
    """A new secret feed address; the old one stops working."""
    check_csrf()
    current_user.feed_token = new_feed_token()
    db.session.commit()
    flash(_("Your calendar address was changed. Subscribe again with the new one."), "success")
    return redirect(url_for("events.mine"), 303)


# --- my events ----------------------------------------------------------------------------------


@bp.get("/mine")
@login_required
def mine():
    """Coming places (a page of them), waitlist positions, and past events (pages of their own)."""
    page, coming_page = page_arg(), page_arg("coming")
    past = my_past(current_user, PAST_PAGE + 1, (page - 1) * PAST_PAGE)
    confirmed, waitlisted = my_coming(
        current_user, COMING_PAGE + 1, (coming_page - 1) * COMING_PAGE, waitlist_limit=WAITLIST_SHOWN + 1
    )
    if (page > 1 and not past) or (coming_page > 1 and not confirmed):
        abort(404)
    return render_page(
        "events/mine.html",
        "coming" if request.headers.get("HX-Target") == "coming" else "past",
        confirmed=confirmed[:COMING_PAGE],
        coming_page=coming_page,
        coming_more=len(confirmed) > COMING_PAGE,
        waitlisted=waitlisted[:WAITLIST_SHOWN],
        waitlist_more=len(waitlisted) > WAITLIST_SHOWN,
        past=past[:PAST_PAGE],
        page=page,
        has_more=len(past) > PAST_PAGE,
        feed_url=url_for("events.user_feed", token=current_user.feed_token, _external=True),
        form=TokenForm(),
        **_labels(),
    )


# --- the event page and registration -------------------------------------------------------------


def _venue_url(event: Event) -> str | None:
    if event.booking_id and "venues.show" in current_app.view_functions and event.booking is not None:
        return url_for("venues.show", venue_id=event.booking.venue_id)
    return None


_UNKNOWN = object()


def _event_page(event: Event, status: int = 200, block: str | None = None, registration=_UNKNOWN, **extra):
    """The event page (or one of its blocks); `registration`: the user's active one when the caller knows it.
    The registration block (htmx answer to register / cancel) shows neither the place nor the leader's tools."""
    if registration is _UNKNOWN:
        registration = active_registration(event, current_user)
    whole = block != "registration" or not is_htmx()
    context = {
        "event": event,
        "registration": registration,
        "reg_status": registration_status(event),
        "started": event.starts_at <= utcnow(),
        "closes_at": registration_closes_at(event),
        "place": place_text(event) if whole else "",
        "venue_url": _venue_url(event) if whole else None,
        "can_manage": can_manage_event(current_user, event) if whole else False,
        "form": TokenForm(),
        "reg_error": None,
        **_labels(),
        **extra,
    }
    return render_page("events/show.html", block, status=status, **context)


@bp.get("/<int:event_id>")
@anonymous_page_cache(lambda event_id: _event_stamp(event_id))
def show(event_id: int):
    """An event: details, place, seats; register or cancel in one tap; the leader's tools."""
    return _event_page(_event_or_404(event_id))


@bp.post("/<int:event_id>/register")
@login_required
@writes_late
def register_view(event_id: int):
    """One tap: a confirmed place, or a place on the waitlist."""
    event = _event_to_register(event_id, registering=True)
    check_csrf()
    try:
        registration = register(event, current_user)
    except RegistrationError as exc:
        stop_writing()
        return _event_page(event, status=409, block="registration", reg_error=exc.message)
    commit_keeping_state()  # the event and registration as register() left them loaded (its RETURNING rows)
    if registration.state == "confirmed":
        flash(_("You are registered for “%(title)s”.", title=event.title), "success")
    else:
        flash(
            _("The event is full. You are on the waitlist at position %(n)s.", n=registration.waitlist_position),
            "warning",
        )
    if is_htmx():
        return _event_page(event, block="registration", registration=registration)
    return redirect(url_for("events.show", event_id=event.id), 303)


@bp.post("/<int:event_id>/registration/cancel")
@login_required
@writes_late
def cancel_mine(event_id: int):
    """One tap: give up my place (a freed seat goes to the first on the waitlist at once)."""
    event = _event_to_register(event_id)
    check_csrf()
    registration = active_registration(event, current_user)
    if registration is None:
        stop_writing()
        return _event_page(
            event, status=409, block="registration", reg_error=_("You have no place at this event to cancel.")
        )
    was_waitlisted = registration.state == "waitlisted"
    try:
        cancel_registration(registration, current_user, read_after_lock=True)
    except RegistrationError as exc:
        stop_writing()
        return _event_page(event, status=409, block="registration", reg_error=exc.message)
    commit_keeping_state()  # as cancel_registration() left them (RETURNING rows; the waitlist expired)
    flash(
        _("You left the waitlist.") if was_waitlisted else _("Your place is cancelled. Thank you for letting us know."),
        "success",
    )
    if is_htmx():
        return _event_page(event, block="registration", registration=None)
    return redirect(safe_next(request.form.get("next"), url_for("events.show", event_id=event.id)), 303)


@bp.post("/registrations/<int:registration_id>/cancel")
@login_required
def cancel_registration_view(registration_id: int):
    """Cancel a registration by id: its volunteer, or a manager of the event (from the roster)."""
    registration = db.get_or_404(Registration, registration_id)
    event = _event_or_404(registration.event_id)
    manager = can_manage_event(current_user, event)
    require(registration.user_id == current_user.id or manager)
    check_csrf()
    status = 200
    try:
        cancel_registration(registration, current_user)
    except RegistrationError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        status = 409
    else:
        db.session.commit()
        flash(_("The registration of %(name)s is cancelled.", name=registration.user.name), "success")
    if is_htmx() and manager:
        return _roster_page(event, status=status, block="roster")
    if is_htmx():
        return _event_page(event, status=status, block="registration")
    return redirect(safe_next(request.form.get("next"), url_for("events.show", event_id=event.id)), 303)


# --- leaders: create, edit, publish, cancel, complete ---------------------------------------------


def _fill_choices(form: EventForm, team: Team, event: Event | None = None) -> None:
    cats = categories()
    current = event.category_id if event else None
    if current and all(c.id != current for c in cats):
        extra = db.session.get(EventCategory, current)
        if extra is not None:
            cats.append(extra)
    locale = _locale()
    form.category_id.choices = [SelectChoice(c.id, c.label(locale)) for c in cats]
    bookings = bookable_bookings(team, keep_id=event.booking_id if event else None)
    form.booking_id.choices = [NO_BOOKING] + [
        SelectChoice(
            str(b.id),
            f"{b.venue.name} · {to_local(b.starts_at):%Y-%m-%d %H:%M}–{to_local(b.ends_at):%H:%M}",
        )
        for b in bookings
    ]


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale())


def _event_data(form: EventForm) -> EventData:
    return EventData(
        title=form.title.data,
        description=(form.description.data or "").strip(),
        category_id=form.category_id.data,
        starts_at=form.starts_at.data,
        ends_at=form.ends_at.data,
        booking_id=int(form.booking_id.data) if form.booking_id.data else None,
        address=(form.address.data or "").strip(),
        capacity=form.capacity.data,
        reg_opens_at=form.reg_opens_at.data,
        reg_closes_at=form.reg_closes_at.data,
        members_only=bool(form.members_only.data),
        allow_walk_ins=bool(form.allow_walk_ins.data),
        planned_minutes=form.planned_minutes,
    )


def _attach(form, exc: EventError) -> None:  # noqa: ANN001
    field = getattr(form, exc.field, None) if exc.field else None
    if field is None:
        field = form.title
    field.errors = list(field.errors) + [exc.message]


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    """A leader (or a coordinator) creates an event for a team: saved as a draft, or published."""
    team_id = request.values.get("team", type=int)
    if not team_id:
        teams = manageable_teams(current_user)
        require(bool(teams))
        if len(teams) == 1:
            return redirect(url_for("events.new", team=teams[0].id))
        return render_page("events/choose_team.html", teams=teams)
    team = db.get_or_404(Team, team_id, options=[joinedload(Team.org)])
    require(can_create_event(current_user, team))
    form = EventForm(data={"capacity": 20})
    _fill_choices(form, team)
    if form.validate_on_submit():
        try:
            event = create_event(current_user, team, _event_data(form), publish=request.form.get("action") == "publish")
        except EventError as exc:
            db.session.rollback()
            _attach(form, exc)
        else:
            db.session.commit()
            if event.state == "published":
                flash(_("“%(title)s” is published. Volunteers can register now.", title=event.title), "success")
            else:
                flash(_("“%(title)s” is saved as a draft.", title=event.title), "success")
            return redirect(url_for("events.show", event_id=event.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_page("events/form.html", "form", status=status, form=form, team=team, event=None)


@bp.route("/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit(event_id: int):
    """Change an event; registrants hear about a new time or place."""
    event = _managed_event(event_id)
    if event.state in ("cancelled", "completed"):
        flash(_("A cancelled or completed event cannot be changed."), "error")
        return redirect(url_for("events.show", event_id=event.id), 303)
    form = EventForm(data=event_form_data(event))
    _fill_choices(form, event.team, event)
    if form.validate_on_submit():
        try:
            update_event(current_user, event, _event_data(form))
        except EventError as exc:
            db.session.rollback()
            _attach(form, exc)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("events.show", event_id=event.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_page("events/form.html", "form", status=status, form=form, team=event.team, event=event)


def _state_change(event_id: int, change, message) -> object:  # noqa: ANN001
    event = _managed_event(event_id)
    check_csrf()
    try:
        change(event)
    except EventError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _event_page(_event_or_404(event_id), status=409)
    db.session.commit()
    flash(message(event), "success")
    return redirect(url_for("events.show", event_id=event.id), 303)


@bp.post("/<int:event_id>/publish")
@login_required
def publish(event_id: int):
    """Draft -> published: volunteers can see it and register."""
    return _state_change(
        event_id,
        lambda e: publish_event(current_user, e),
        lambda e: _("“%(title)s” is published. Volunteers can register now.", title=e.title),
    )


@bp.post("/<int:event_id>/complete")
@login_required
def complete(event_id: int):
    """Published -> completed, once the event has started (hours can then be recorded)."""
    return _state_change(
        event_id,
        lambda e: complete_event(current_user, e),
        lambda e: _("“%(title)s” is marked as completed.", title=e.title),
    )


@bp.route("/<int:event_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(event_id: int):
    """Cancel the event with a reason; everyone registered is notified."""
    event = _managed_event(event_id)
    form = CancelEventForm()
    if event.state not in ("draft", "published"):
        flash(_("Only a draft or published event can be cancelled."), "error")
        return redirect(url_for("events.show", event_id=event.id), 303)
    if form.validate_on_submit():
        try:
            told = cancel_event(current_user, event, form.reason.data)
        except EventError as exc:
            db.session.rollback()
            form.reason.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("The event is cancelled; %(n)s volunteers were notified.", n=told), "success")
            return redirect(url_for("events.show", event_id=event.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_page("events/cancel.html", "form", status=status, form=form, event=event)


# --- leaders: roster, capacity, export -----------------------------------------------------------


def _roster_page(event: Event, status: int = 200, block: str | None = None, capacity_form=None):
    which = request.values.get("list", "confirmed")
    if which not in ("confirmed", "waitlisted", "cancelled"):
        which = "confirmed"
    page = page_arg()
    counts = roster_counts(event)
    last = last_page(counts[which], ROSTER_PAGE)
    if page > last:
        if request.method == "GET":
            abort(404)
        page = last  # the last one on the last page was just cancelled: show what is left
    rows = roster(event, which, ROSTER_PAGE + 1, (page - 1) * ROSTER_PAGE)
    return render_page(
        "events/roster.html",
        block,
        status=status,
        event=event,
        which=which,
        rows=rows[:ROSTER_PAGE],
        page=page,
        has_more=len(rows) > ROSTER_PAGE,
        counts=counts,
        capacity_form=capacity_form or CapacityForm(data={"capacity": event.capacity}),
        form=TokenForm(),
        **_labels(),
    )


@bp.get("/<int:event_id>/roster")
@login_required
def roster_view(event_id: int):
    """The leader's roster: confirmed, waitlist (in order), cancelled; capacity; CSV export."""
    return _roster_page(_managed_event(event_id), block="roster")


@bp.post("/<int:event_id>/capacity")
@login_required
def capacity(event_id: int):
    """Change the number of places: never below the confirmed count; more places promote the waitlist."""
    event = _managed_event(event_id)
    form = CapacityForm()
    if form.validate_on_submit():
        try:
            promoted = change_capacity(current_user, event, form.capacity.data)
        except EventError as exc:
            db.session.rollback()
            form.capacity.errors.append(exc.message)
        else:
            db.session.commit()
            if promoted:
                flash(
                    _(
                        "Places set to %(n)s; %(k)s volunteers moved up from the waitlist.",
                        n=event.capacity,
                        k=len(promoted),
                    ),
                    "success",
                )
            else:
                flash(_("Places set to %(n)s.", n=event.capacity), "success")
            return redirect(url_for("events.roster_view", event_id=event.id), 303)
    return _roster_page(_event_or_404(event_id), status=422, block="capacity", capacity_form=form)


@bp.get("/<int:event_id>/roster.csv")
@login_required
def roster_csv(event_id: int):
    """The roster as CSV (UTF-8 with BOM; cells that could start a formula are neutralised)."""
    event = _managed_event(event_id)
    viewer = current_user._get_current_object()
    labels = {k: str(v) for k, v in REGISTRATION_STATE_LABELS.items()}
    yes, no = _("yes"), _("no")
    header = [
        _("Name"),
        _("Mobile number"),
        _("State"),
        _("Waitlist position"),
        _("Registered at"),
        _("Cancelled at"),
        _("Walk-in"),
        _("Checked in"),
        _("Checked out"),
    ]

    def local(value):  # noqa: ANN001, ANN202
        return to_local(value).replace(tzinfo=None) if value else None

    rows = [
        [
            user.name,
            user.phone_for(viewer),
            labels.get(r.state, r.state),
            r.waitlist_position,
            local(r.created_at),
            local(r.cancelled_at),
            yes if r.walk_in else no,
            local(r.checked_in_at),
            local(r.checked_out_at),
        ]
        for r, user in roster_rows(event)
    ]
    stamp = to_local(event.starts_at).strftime("%Y%m%d")
    return send_csv(f"{stamp}-{event.title}-{_('roster')}.csv", header, rows)


# --- service categories (admins) -----------------------------------------------------------------


def _categories_page(status: int = 200, form=None, block: str | None = None):
    return render_page(
        "events/categories.html",
        block,
        status=status,
        items=categories(include_inactive=True),
        form=form or CategoryForm(prefix="new"),
        toggle_form=TokenForm(),
        locale=_locale(),
    )


@bp.get("/categories")
@admin_required
def category_list():
    """The service categories offered when creating events."""
    return _categories_page()


@bp.post("/categories")
@admin_required
def category_add():
    """Add a service category."""
    form = CategoryForm(prefix="new")
    if form.validate_on_submit():
        try:
            add_category(current_user, form.code.data, form.name_zh.data, form.name_en.data)
        except EventError as exc:
            db.session.rollback()
            form.code.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("The category was added."), "success")
            return redirect(url_for("events.category_list"), 303)
    return _categories_page(status=422, form=form, block="add_form")


@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
@admin_required
def category_edit(category_id: int):
    """Rename a category or change its place in the list."""
    category = db.get_or_404(EventCategory, category_id)
    form = CategoryRenameForm(
        data={"name_zh": category.name_zh, "name_en": category.name_en, "position": category.position}
    )
    if form.validate_on_submit():
        update_category(current_user, category, form.name_zh.data, form.name_en.data, form.position.data)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("events.category_list"), 303)
    status = 422 if request.method == "POST" else 200
    return render_page("events/category_edit.html", "form", status=status, form=form, category=category)


@bp.post("/categories/<int:category_id>/toggle")
@admin_required
def category_toggle(category_id: int):
    """Deactivate a category (its events keep it) or bring it back."""
    category = db.get_or_404(EventCategory, category_id)
    check_csrf()
    set_category_active(current_user, category, not category.active)
    db.session.commit()
    if category.active:
        flash(_("The category is offered again."), "success")
    else:
        flash(_("The category is no longer offered for new events."), "success")
    return redirect(url_for("events.category_list"), 303)
