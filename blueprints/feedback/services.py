"""Youth evaluation (青年评议) and youth-home star ratings (星级动态评定).

Event feedback
- An attendee (registration `attended`, or an effective service record) rates a *completed* event
  1-5 with an optional comment, once, until FEEDBACK_WINDOW_DAYS (default 14) after the event ends.
- People served (no account) rate through the event's public QR link: a signed token per event,
  one rating per device (a random cookie, stored only as an HMAC), from the event's start until
  the same window closes. Marked `is_public`.
- Hiding an abusive comment hides its text only: the rating still counts in every average, so a
  coordinator cannot steer an event's score by hiding comments.

Star ratings
- A checklist is configured per org and inherited: an org uses the nearest org up the tree
  (itself included) that has active items, else the built-in defaults.
- Each item is scored 0..max; stars follow the percentage of the maximum:
  >= 90 % 5 stars, >= 75 % 4, >= 60 % 3, >= 40 % 2, else 1.

Services flush; the view (or CLI) commits once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app, g, has_request_context, url_for
from flask_babel import format_date
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from blueprints.auth.models import User
from blueprints.core.audit import record_audit
from blueprints.core.extensions import db
from blueprints.core.timeutil import local_day_bounds, to_local, utcnow
from blueprints.core.translate import lazy_gettext as _l
from blueprints.events.models import Event, Registration
from blueprints.hours.models import ServiceRecord, is_effective_clause
from blueprints.notifications.models import Notification
from blueprints.notifications.services import notify
from blueprints.orgs.models import Org
from blueprints.orgs.services import can_coordinate, scope_clause, subtree_clause
from blueprints.teams.models import Membership, Team
from blueprints.venues.models import Booking, Venue, VenueManager

from .models import ChecklistItem, Feedback, VenueAssessment

DEFAULT_WINDOW_DAYS = 14
DEFAULT_REASSESS_DAYS = 365
SATISFACTION_DAYS = 365
COMMENT_MAX = 1000
PUBLIC_SALT = "qingyi.feedback.public"
INVITE_KIND = "feedback_invite"
ASSESSED_KIND = "venue_assessed"

#: why a rating is refused; the words a person sees
REFUSALS = {
    "already_rated": _l("You have already rated this event. Each person rates an event once."),
    "device_rated": _l("A rating for this event was already sent from this phone. Thank you!"),
    "not_completed": _l("You can rate this event once its leader has marked it completed."),
    "not_attended": _l("Only volunteers who attended this event can rate it."),
    "window_closed": _l("Rating for this event closed on %(date)s."),
    "not_started": _l("Rating opens when the event starts."),
    "cancelled": _l("This event was cancelled, so it cannot be rated."),
    "bad_rating": _l("Choose a rating from 1 to 5 stars."),
}

#: the built-in checklist: Chinese title (stored), English label, maximum score
DEFAULT_CHECKLIST = (
    ("设施完备", _l("Facilities complete"), 20),
    ("按时开放", _l("Opening hours kept"), 20),
    ("活动开展", _l("Activities held"), 25),
    ("青年满意度", _l("Youth satisfaction"), 20),
    ("管理规范", _l("Well managed"), 15),
)
DEFAULT_LABELS = {title: label for title, label, _max in DEFAULT_CHECKLIST}
SATISFACTION_TITLE = "青年满意度"
#: (minimum percentage, stars), checked from the top
STAR_BANDS = ((90, 5), (75, 4), (60, 3), (40, 2), (0, 1))


class FeedbackRefused(ValueError):
    """A rating that cannot be accepted; `reason` is a key of REFUSALS."""

    def __init__(self, reason: str, **params):
        super().__init__(reason)
        self.reason = reason
        self.params = params

    def message(self) -> str:
        """The reason in the reader's language (dates formatted in the configured zone)."""
        params = {
            k: format_date(to_local(v).date(), "medium") if isinstance(v, datetime) else v
            for k, v in self.params.items()
        }
        return str(REFUSALS[self.reason]) % params if params else str(REFUSALS[self.reason])


class ChecklistError(ValueError):
    """A checklist or assessment change that is not allowed; the message is shown to the user."""


# --- windows and permissions ------------------------------------------------------------------


def window_days() -> int:
    return int(current_app.config.get("FEEDBACK_WINDOW_DAYS", DEFAULT_WINDOW_DAYS))


def reassess_days() -> int:
    return int(current_app.config.get("FEEDBACK_REASSESS_DAYS", DEFAULT_REASSESS_DAYS))


def rating_deadline(event: Event) -> datetime:
    """The last moment an event can be rated."""
    return event.ends_at + timedelta(days=window_days())


def is_event_leader(user, event: Event) -> bool:
    """An active leader of the event's team, or the person who created the event."""
    if not getattr(user, "is_authenticated", False):
        return False
    if event.created_by_id == user.id:
        return True
    cache = g.setdefault("_fb_leads", {}) if has_request_context() else {}
    key = (user.id, event.team_id)
    if key not in cache:
        cache[key] = (
            db.session.scalar(
                sa.select(Membership.id)
                .where(
                    Membership.team_id == event.team_id,
                    Membership.user_id == user.id,
                    Membership.role == "leader",
                    Membership.state == "active",
                )
                .limit(1)
            )
            is not None
        )
    return cache[key]


def can_moderate(user, event: Event) -> bool:
    """Coordinators of the event's org (and above), and admins, may hide comments."""
    return bool(getattr(user, "is_authenticated", False) and (user.is_admin or can_coordinate(user, event.org)))


def can_view_feedback(user, event: Event) -> bool:
    """The event's leaders, coordinators in scope and admins see ratings and comments."""
    return can_moderate(user, event) or is_event_leader(user, event)


def has_attended(event: Event, user) -> bool:
    """Attendance as recorded: a registration marked attended, or an effective service record."""
    registered = sa.exists().where(
        Registration.event_id == event.id, Registration.user_id == user.id, Registration.state == "attended"
    )
    recorded = sa.exists().where(
        ServiceRecord.event_id == event.id, ServiceRecord.volunteer_id == user.id, is_effective_clause()
    )
    return bool(db.session.scalar(sa.select(sa.or_(registered, recorded))))


def own_feedback(event: Event, user) -> Feedback | None:
    return db.session.scalar(sa.select(Feedback).where(Feedback.event_id == event.id, Feedback.user_id == user.id))


def member_refusal(event: Event, user, now: datetime | None = None) -> FeedbackRefused | None:
    """None when `user` may rate `event` now, else why not."""
    now = now or utcnow()
    if own_feedback(event, user) is not None:
        return FeedbackRefused("already_rated")
    if event.state == "cancelled":
        return FeedbackRefused("cancelled")
    if event.state != "completed":
        return FeedbackRefused("not_completed")
    if not has_attended(event, user):
        return FeedbackRefused("not_attended")
    if now > rating_deadline(event):
        return _closed(event)
    return None


def _closed(event: Event) -> FeedbackRefused:
    return FeedbackRefused("window_closed", date=rating_deadline(event))


def _clean_comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    return text[:COMMENT_MAX] or None


def _check_rating(rating) -> int:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise FeedbackRefused("bad_rating")
    return rating


def _insert(feedback: Feedback, duplicate_reason: str) -> Feedback:
    """Insert inside a savepoint: the partial unique indexes turn a second rating into a refusal."""
    try:
        with db.session.begin_nested():
            db.session.add(feedback)
            db.session.flush()
    except IntegrityError:
        raise FeedbackRefused(duplicate_reason) from None
    return feedback


def rate_event(event: Event, user, rating: int, comment: str | None = None, now: datetime | None = None) -> Feedback:
    """An attendee's rating of a completed event. Raises FeedbackRefused; flushes."""
    refusal = member_refusal(event, user, now)
    if refusal is not None:
        raise refusal
    rating = _check_rating(rating)
    feedback = Feedback(event_id=event.id, user_id=user.id, rating=rating, comment=_clean_comment(comment))
    return _insert(feedback, "already_rated")


# --- public feedback (QR) ---------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=PUBLIC_SALT)


def public_token(event: Event) -> str:
    """The signed token in the event's public feedback URL (the same for every request)."""
    return _serializer().dumps(event.id)


def event_id_from_token(token: str) -> int | None:
    """The event a public token was made for, or None when it was not made by us."""
    try:
        value = _serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def public_url(event: Event, external: bool = True) -> str:
    return url_for("feedback.public", token=public_token(event), _external=external)


def device_hash(device_id: str) -> str:
    """What is stored of a device cookie: an HMAC, so the cookie cannot be read back from the database."""
    key = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) else current_app.secret_key
    return hmac.new(key, ("device:" + device_id).encode(), hashlib.sha256).hexdigest()


def public_refusal(event: Event, device: str | None, now: datetime | None = None) -> FeedbackRefused | None:
    """None when a person served may rate `event` now from the device with hash `device`."""
    now = now or utcnow()
    if device is not None:
        found = db.session.scalar(
            sa.select(Feedback.id).where(Feedback.event_id == event.id, Feedback.device_hash == device).limit(1)
        )
        if found is not None:
            return FeedbackRefused("device_rated")
    if event.state == "cancelled":
        return FeedbackRefused("cancelled")
    if event.state not in ("published", "completed") or now < event.starts_at:
        return FeedbackRefused("not_started")
    if now > rating_deadline(event):
        return _closed(event)
    return None


def rate_event_public(
    event: Event, device: str, rating: int, comment: str | None = None, now: datetime | None = None
) -> Feedback:
    """A rating through the public QR link, one per device. Raises FeedbackRefused; flushes."""
    refusal = public_refusal(event, device, now)
    if refusal is not None:
        raise refusal
    rating = _check_rating(rating)
    feedback = Feedback(
        event_id=event.id,
        user_id=None,
        is_public=True,
        device_hash=device,
        rating=rating,
        comment=_clean_comment(comment),
    )
    return _insert(feedback, "device_rated")


# --- moderation -------------------------------------------------------------------------------


def hide_comment(actor, feedback: Feedback) -> bool:
    """Hide an abusive comment (the rating keeps counting). False when there was nothing to hide."""
    if not feedback.comment or feedback.hidden_at is not None:
        return False
    feedback.hidden_at = utcnow()
    feedback.hidden_by_id = actor.id
    db.session.flush()
    record_audit(
        actor,
        "feedback.hide",
        feedback,
        org_id=feedback.event.org_id,
        event_id=feedback.event_id,
        comment=feedback.comment[:200],
    )
    return True


def restore_comment(actor, feedback: Feedback) -> bool:
    """Show a hidden comment again."""
    if feedback.hidden_at is None:
        return False
    feedback.hidden_at = None
    feedback.hidden_by_id = None
    db.session.flush()
    record_audit(actor, "feedback.restore", feedback, org_id=feedback.event.org_id, event_id=feedback.event_id)
    return True


# --- figures ----------------------------------------------------------------------------------


@dataclass
class RatingStats:
    """Counts and averages of an event's ratings (hidden comments' ratings included)."""

    distribution: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, 6), 0))
    member_count: int = 0
    member_sum: int = 0
    public_count: int = 0
    public_sum: int = 0

    @property
    def count(self) -> int:
        return self.member_count + self.public_count

    @property
    def average(self) -> float | None:
        return (self.member_sum + self.public_sum) / self.count if self.count else None

    @property
    def member_average(self) -> float | None:
        return self.member_sum / self.member_count if self.member_count else None

    @property
    def public_average(self) -> float | None:
        return self.public_sum / self.public_count if self.public_count else None

    def share(self, stars: int) -> int:
        """Percentage of ratings with `stars`, for the bar chart."""
        return round(100 * self.distribution[stars] / self.count) if self.count else 0


def event_stats(event_id: int) -> RatingStats:
    """One grouped query."""
    stats = RatingStats()
    rows = db.session.execute(
        sa.select(Feedback.is_public, Feedback.rating, sa.func.count())
        .where(Feedback.event_id == event_id)
        .group_by(Feedback.is_public, Feedback.rating)
    ).all()
    for is_public, rating, n in rows:
        stats.distribution[rating] = stats.distribution.get(rating, 0) + n
        if is_public:
            stats.public_count += n
            stats.public_sum += rating * n
        else:
            stats.member_count += n
            stats.member_sum += rating * n
    return stats


def ratings_by_event(event_ids) -> dict[int, tuple[float, int]]:
    """{event id: (average rating, number of ratings)} for many events in one query (lists, exports)."""
    ids = list(event_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Feedback.event_id, sa.func.avg(Feedback.rating), sa.func.count())
        .where(Feedback.event_id.in_(ids))
        .group_by(Feedback.event_id)
    ).all()
    return {event_id: (float(avg), n) for event_id, avg, n in rows}


def comments_page(event: Event, page: int, per_page: int = 20, with_hidden_text: bool = False):
    """Ratings that carry a comment, newest first: [(feedback, author name or None)], has_more."""
    stmt = (
        sa.select(Feedback, User.name)
        .outerjoin(User, User.id == Feedback.user_id)
        .where(Feedback.event_id == event.id, Feedback.comment.is_not(None))
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    )
    rows = db.session.execute(stmt).all()
    return [tuple(r) for r in rows[:per_page]], len(rows) > per_page


def venue_satisfaction(venue_id: int, now: datetime | None = None, days: int = SATISFACTION_DAYS):
    """(average, ratings, events) of events held at the youth home (an approved booking of it) that
    ended in the last `days` days; average None without ratings."""
    now = now or utcnow()
    avg, n, events = db.session.execute(
        sa.select(sa.func.avg(Feedback.rating), sa.func.count(Feedback.id), sa.func.count(sa.distinct(Event.id)))
        .select_from(Feedback)
        .join(Event, Event.id == Feedback.event_id)
        .join(Booking, Booking.id == Event.booking_id)
        .where(
            Booking.venue_id == venue_id,
            Booking.state == "approved",
            Event.state != "cancelled",
            Event.ends_at >= now - timedelta(days=days),
            Event.ends_at <= now,
        )
    ).one()
    return (float(avg) if avg is not None else None), n, events


def _bounds(start, end) -> tuple[datetime, datetime]:
    """A period as [start, end) in UTC; dates are local calendar days with `end` included."""
    if isinstance(start, date) and not isinstance(start, datetime):
        start = local_day_bounds(start)[0]
    if isinstance(end, date) and not isinstance(end, datetime):
        end = local_day_bounds(end)[1]
    return start, end


def latest_rating_id() -> int | None:
    """The highest rating id: what cached satisfaction figures are checked against (a new rating
    raises it). Read once per request; `note_latest_rating_id` saves even that statement."""
    if has_request_context() and "_fb_latest_rating" in g:
        return g._fb_latest_rating
    value = db.session.scalar(sa.select(sa.func.max(Feedback.id)))
    if has_request_context():
        g._fb_latest_rating = value
    return value


def note_latest_rating_id(value: int | None) -> None:
    """Hand over the highest rating id a page read together with its own validity checks (the
    coordinator dashboard reads it in the statement that checks its cached figures)."""
    if has_request_context():
        g._fb_latest_rating = value


def satisfaction_inputs_stamp() -> tuple:
    """What the satisfaction tables read besides the ratings, in one statement of index reads and
    sums of small tables: events (a new one, or any change: max updated_at), bookings (approved or
    cancelled: their decision and cancellation times), and the names and places of teams, youth
    homes and orgs."""
    high, total, count, length = sa.func.max, sa.func.sum, sa.func.count, sa.func.length
    values = [
        (Event, high(Event.id)),
        (Event, high(Event.updated_at)),
        (Booking, high(Booking.id)),
        (Booking, high(Booking.decided_at)),
        (Booking, high(Booking.cancelled_at)),
        (Team, count()),
        (Team, total(length(Team.name))),
        (Venue, count()),
        (Venue, total(length(Venue.name))),
        (Venue, total(Venue.org_id)),
        (Org, count()),
        (Org, total(length(Org.name))),
        (Org, total(length(Org.path))),
    ]
    return tuple(
        db.session.execute(
            sa.select(*[sa.select(value).select_from(table).scalar_subquery() for table, value in values])
        ).one()
    )


@dataclass(frozen=True)
class SatisfactionRow:
    id: int
    name: str
    org_name: str
    events: int
    ratings: int
    average: float


def satisfaction_by_team(org: Org, start, end, limit: int = 10, offset: int = 0) -> list[SatisfactionRow]:
    """Teams of events in `org`'s subtree that started in the period, most rated first."""
    start, end = _bounds(start, end)
    n = sa.func.count(Feedback.id)
    stmt = (
        sa.select(Team.id, Team.name, Org.name, sa.func.count(sa.distinct(Event.id)), n, sa.func.avg(Feedback.rating))
        .select_from(Feedback)
        .join(Event, Event.id == Feedback.event_id)
        .join(Team, Team.id == Event.team_id)
        .join(Org, Org.id == Event.org_id)
        .where(subtree_clause(org), Event.starts_at >= start, Event.starts_at < end, Event.state != "cancelled")
        .group_by(Team.id, Team.name, Org.name)
        .order_by(n.desc(), Team.name, Team.id)
        .limit(limit)
        .offset(offset)
    )
    return [SatisfactionRow(r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in db.session.execute(stmt)]


def satisfaction_by_home(org: Org, start, end, limit: int = 10, offset: int = 0) -> list[SatisfactionRow]:
    """Youth homes in `org`'s subtree: ratings of events held there (approved bookings) in the period."""
    start, end = _bounds(start, end)
    n = sa.func.count(Feedback.id)
    stmt = (
        sa.select(Venue.id, Venue.name, Org.name, sa.func.count(sa.distinct(Event.id)), n, sa.func.avg(Feedback.rating))
        .select_from(Feedback)
        .join(Event, Event.id == Feedback.event_id)
        .join(Booking, Booking.id == Event.booking_id)
        .join(Venue, Venue.id == Booking.venue_id)
        .join(Org, Org.id == Venue.org_id)
        .where(
            subtree_clause(org),
            Booking.state == "approved",
            Event.starts_at >= start,
            Event.starts_at < end,
            Event.state != "cancelled",
        )
        .group_by(Venue.id, Venue.name, Org.name)
        .order_by(n.desc(), Venue.name, Venue.id)
        .limit(limit)
        .offset(offset)
    )
    return [SatisfactionRow(r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in db.session.execute(stmt)]


# --- "my" ratings: rate links and the home panel ----------------------------------------------


def my_ratings(user) -> dict[int, int]:
    """{event id: rating} of everything `user` rated (cached for the request; one query)."""
    cache = g.setdefault("_fb_mine", {}) if has_request_context() else {}
    if user.id not in cache:
        cache[user.id] = dict(
            db.session.execute(sa.select(Feedback.event_id, Feedback.rating).where(Feedback.user_id == user.id)).all()
        )
    return cache[user.id]


def my_recorded_events(user) -> set[int]:
    """Events `user` has an effective service record for (cached for the request; one query)."""
    cache = g.setdefault("_fb_recorded", {}) if has_request_context() else {}
    if user.id not in cache:
        cache[user.id] = set(
            db.session.scalars(
                sa.select(ServiceRecord.event_id).where(ServiceRecord.volunteer_id == user.id, is_effective_clause())
            )
        )
    return cache[user.id]


def rating_open_for(event: Event, registration, user, now: datetime | None = None) -> bool:
    """Cheap check for lists: `user` (whose registration this is) may rate `event` now."""
    now = now or utcnow()
    if event.state != "completed" or now > rating_deadline(event) or event.id in my_ratings(user):
        return False
    if registration is not None and registration.state == "attended":
        return True
    return event.id in my_recorded_events(user)


@functools.cache
def _rateable_statement(limit: int):
    """Built once per process (the home page shows it on every view); the user and the window are parameters."""
    user_id = sa.bindparam("rate_user", type_=sa.Integer)
    attended = sa.select(Registration.event_id).where(Registration.user_id == user_id, Registration.state == "attended")
    recorded = sa.select(ServiceRecord.event_id).where(ServiceRecord.volunteer_id == user_id, is_effective_clause())
    rated = sa.exists().where(Feedback.event_id == Event.id, Feedback.user_id == user_id)
    return (
        sa.select(Event)
        .where(
            # one IN over the union, not two INs joined by OR: PostgreSQL planned the OR as a
            # sequential scan of every event (10-40 ms at city scale), the union as a few key reads
            Event.id.in_(sa.union(attended, recorded)),
            Event.state == "completed",
            Event.ends_at >= sa.bindparam("rate_since", type_=Event.ends_at.type),
            ~rated,
        )
        .order_by(Event.ends_at.desc(), Event.id.desc())
        .limit(limit)
    )


def rateable_events(user, limit: int = 5, now: datetime | None = None) -> list[Event]:
    """Completed events `user` attended, still open for rating and not rated yet, latest first."""
    since = (now or utcnow()) - timedelta(days=window_days())
    return list(db.session.scalars(_rateable_statement(limit), {"rate_user": user.id, "rate_since": since}))


# --- invitations ------------------------------------------------------------------------------


def attendee_ids(event: Event) -> set[int]:
    attended = sa.select(Registration.user_id).where(
        Registration.event_id == event.id, Registration.state == "attended"
    )
    recorded = sa.select(ServiceRecord.volunteer_id).where(ServiceRecord.event_id == event.id, is_effective_clause())
    return set(db.session.scalars(sa.union(attended, recorded)))


def invite_feedback(event: Event, now: datetime | None = None, flush: bool = True) -> int:
    """Notify every attendee of a completed event who has neither rated it nor been invited yet.

    Safe to call more than once (when the event is completed, from a CLI, from cron): returns how
    many were invited now; 0 when the event is not completed or its rating window has closed.
    `hooks.py` calls it by itself when a flush completes an event or records attendance.
    """
    now = now or utcnow()
    if event.state != "completed" or now > rating_deadline(event):
        return 0
    link = url_for("feedback.rate", event_id=event.id) if has_request_context() else f"/feedback/events/{event.id}/rate"
    ids = attendee_ids(event)
    if not ids:
        return 0
    done = set(
        db.session.scalars(sa.select(Feedback.user_id).where(Feedback.event_id == event.id, Feedback.user_id.in_(ids)))
    )
    done |= set(
        db.session.scalars(
            sa.select(Notification.user_id).where(
                Notification.kind == INVITE_KIND, Notification.link == link, Notification.user_id.in_(ids)
            )
        )
    )
    todo = sorted(ids - done)
    if not todo:
        return 0
    until = to_local(rating_deadline(event)).date().isoformat()
    for user in db.session.scalars(sa.select(User).where(User.id.in_(todo), User.active.is_(True)).order_by(User.id)):
        notify(user, INVITE_KIND, link=link, event=event.title, until=until)
    if flush:
        db.session.flush()
    return len(todo)


def member_window_problem(event: Event, now: datetime | None = None) -> str | None:
    """Why an event's attendees cannot be invited to rate it (plain English for the CLI), or None."""
    now = now or utcnow()
    if event.state != "completed":
        return f"the event is {event.state}, not completed"
    if now > rating_deadline(event):
        return f"its rating window closed on {rating_deadline(event).isoformat(timespec='minutes')}"
    return None


def events_to_invite(now: datetime | None = None) -> list[Event]:
    """Completed events whose rating window is open (for `flask feedback invite --recent`)."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            sa.select(Event)
            .where(Event.state == "completed", Event.ends_at >= now - timedelta(days=window_days()))
            .order_by(Event.ends_at)
        )
    )


# --- checklists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistEntry:
    """An item as used by an assessment: a stored item, or one of the built-in defaults."""

    key: str
    title: str
    max_score: int
    item_id: int | None = None
    position: int = 0

    @property
    def label(self) -> str:
        return title_label(self.title)


def title_label(title: str) -> str:
    """Built-in item titles are shown in the reader's language; others as written."""
    label = DEFAULT_LABELS.get(title)
    return str(label) if label is not None else title


@dataclass(frozen=True)
class Checklist:
    #: the org whose items these are; None for the built-in defaults
    source: Org | None
    entries: list[ChecklistEntry]

    @property
    def max_total(self) -> int:
        return sum(e.max_score for e in self.entries)


def default_entries() -> list[ChecklistEntry]:
    return [ChecklistEntry(f"d{i}", title, mx, None, i) for i, (title, _label, mx) in enumerate(DEFAULT_CHECKLIST)]


def effective_checklist(org: Org) -> Checklist:
    """The checklist of the nearest org up the tree (itself first) that has active items."""
    ids = org.ancestor_ids or [org.id]
    items = list(
        db.session.scalars(
            sa.select(ChecklistItem)
            .where(ChecklistItem.org_id.in_(ids), ChecklistItem.active.is_(True))
            .order_by(ChecklistItem.position, ChecklistItem.id)
        )
    )
    by_org: dict[int, list[ChecklistItem]] = {}
    for item in items:
        by_org.setdefault(item.org_id, []).append(item)
    for oid in reversed(ids):
        if oid in by_org:
            source = org if oid == org.id else db.session.get(Org, oid)
            return Checklist(
                source,
                [ChecklistEntry(f"i{i.id}", i.title, i.max_score, i.id, i.position) for i in by_org[oid]],
            )
    return Checklist(None, default_entries())


def own_items(org: Org) -> list[ChecklistItem]:
    return list(
        db.session.scalars(
            sa.select(ChecklistItem)
            .where(ChecklistItem.org_id == org.id, ChecklistItem.active.is_(True))
            .order_by(ChecklistItem.position, ChecklistItem.id)
        )
    )


def customise_checklist(actor, org: Org) -> list[ChecklistItem]:
    """Give `org` its own checklist, starting from the one it inherits. No-op when it has one."""
    existing = own_items(org)
    if existing:
        return existing
    inherited = effective_checklist(org)
    items = [
        ChecklistItem(org_id=org.id, title=e.title, max_score=e.max_score, position=n)
        for n, e in enumerate(inherited.entries)
    ]
    db.session.add_all(items)
    db.session.flush()
    record_audit(
        actor,
        "checklist.customise",
        org,
        org_id=org.id,
        from_org_id=inherited.source.id if inherited.source else None,
        items=len(items),
    )
    return items


def add_item(actor, org: Org, title: str, max_score: int) -> ChecklistItem:
    """Add an item to `org`'s own checklist (copying the inherited one first, if it has none)."""
    items = customise_checklist(actor, org)
    title = title.strip()
    if any(i.title == title for i in items):
        raise ChecklistError("duplicate")
    item = ChecklistItem(
        org_id=org.id, title=title, max_score=max_score, position=max((i.position for i in items), default=-1) + 1
    )
    db.session.add(item)
    db.session.flush()
    record_audit(actor, "checklist.add", item, org_id=org.id, title=title, max_score=max_score)
    return item


def update_item(actor, item: ChecklistItem, title: str, max_score: int, position: int) -> None:
    title = title.strip()
    clash = db.session.scalar(
        sa.select(ChecklistItem.id).where(
            ChecklistItem.org_id == item.org_id,
            ChecklistItem.active.is_(True),
            ChecklistItem.title == title,
            ChecklistItem.id != item.id,
        )
    )
    if clash is not None:
        raise ChecklistError("duplicate")
    changed = {
        k: [getattr(item, k), v]
        for k, v in (("title", title), ("max_score", max_score), ("position", position))
        if getattr(item, k) != v
    }
    item.title, item.max_score, item.position = title, max_score, position
    db.session.flush()
    if changed:
        record_audit(actor, "checklist.update", item, org_id=item.org_id, changed=changed)


def remove_item(actor, item: ChecklistItem) -> None:
    """Retire an item (kept for the record). When none is left, the org inherits again."""
    item.active = False
    db.session.flush()
    record_audit(actor, "checklist.remove", item, org_id=item.org_id, title=item.title)


def revert_checklist(actor, org: Org) -> int:
    """Retire all of `org`'s own items: it uses the inherited checklist again."""
    n = db.session.execute(
        sa.update(ChecklistItem)
        .where(ChecklistItem.org_id == org.id, ChecklistItem.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire_all()
    if n:
        record_audit(actor, "checklist.revert", org, org_id=org.id, items=n)
    return n


# --- assessments ------------------------------------------------------------------------------


def stars_for(total: int, max_total: int) -> int:
    """Stars from the share of the maximum score: >= 90 % 5, >= 75 % 4, >= 60 % 3, >= 40 % 2, else 1."""
    if max_total <= 0:
        raise ChecklistError("empty")
    for minimum, stars in STAR_BANDS:
        if total * 100 >= minimum * max_total:
            return stars
    return 1


def can_view_assessments(user, venue: Venue) -> bool:
    """Coordinators in scope, admins, and the youth home's own managers."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_admin or can_coordinate(user, venue.org):
        return True
    from blueprints.venues.services import is_manager  # the user's managed homes, read once per request

    return is_manager(user, venue)


def assess_venue(
    actor, venue: Venue, checklist: Checklist, scores: dict[str, int], note: str | None = None, now=None
) -> VenueAssessment:
    """Record an assessment against `checklist`, set the venue's current stars, tell its managers."""
    now = now or utcnow()
    if not checklist.entries:
        raise ChecklistError("empty")
    items = []
    total = 0
    for entry in checklist.entries:
        score = scores.get(entry.key)
        if score is None or isinstance(score, bool) or not 0 <= score <= entry.max_score:
            raise ChecklistError("score_range")
        total += score
        items.append(
            {"key": entry.key, "item_id": entry.item_id, "title": entry.title, "max": entry.max_score, "score": score}
        )
    max_total = checklist.max_total
    stars = stars_for(total, max_total)
    assessment = VenueAssessment(
        venue_id=venue.id,
        assessor_id=actor.id,
        stars=stars,
        scores={"items": items, "checklist_org_id": checklist.source.id if checklist.source else None},
        total=total,
        max_total=max_total,
        note=(note or "").strip()[:1000] or None,
        assessed_at=now,
    )
    db.session.add(assessment)
    venue.stars = stars
    venue.stars_assessed_at = now
    db.session.flush()
    record_audit(actor, "venue.assess", venue, org_id=venue.org_id, stars=stars, total=total, max_total=max_total)
    managers = db.session.scalars(
        sa.select(User).join(VenueManager, VenueManager.user_id == User.id).where(VenueManager.venue_id == venue.id)
    )
    link = url_for("feedback.history", venue_id=venue.id) if has_request_context() else None
    for manager in managers:
        if manager.id != actor.id:
            notify(manager, ASSESSED_KIND, link=link, venue=venue.name, stars=stars)
    return assessment


def latest_assessment(venue_id: int) -> VenueAssessment | None:
    return db.session.scalar(
        sa.select(VenueAssessment)
        .options(joinedload(VenueAssessment.assessor))
        .where(VenueAssessment.venue_id == venue_id)
        .order_by(VenueAssessment.assessed_at.desc(), VenueAssessment.id.desc())
        .limit(1)
    )


def assessments_page(venue: Venue, page: int, per_page: int = 10):
    rows = list(
        db.session.scalars(
            sa.select(VenueAssessment)
            .options(joinedload(VenueAssessment.assessor))
            .where(VenueAssessment.venue_id == venue.id)
            .order_by(VenueAssessment.assessed_at.desc(), VenueAssessment.id.desc())
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        )
    )
    return rows[:per_page], len(rows) > per_page


def venues_in_scope(user, due_only: bool, page: int, per_page: int = 30, now: datetime | None = None):
    """Active youth homes the user coordinates: [(venue, org name, due)], has_more.

    Due: never assessed, or last assessed more than FEEDBACK_REASSESS_DAYS ago. Due ones come first,
    the longest overdue first.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=reassess_days())
    due = sa.or_(Venue.stars_assessed_at.is_(None), Venue.stars_assessed_at < cutoff)
    stmt = (
        sa.select(Venue, Org.name)
        .join(Org, Org.id == Venue.org_id)
        .where(scope_clause(user), Venue.active.is_(True))
        .order_by(Venue.stars_assessed_at.asc().nulls_first(), Venue.name, Venue.id)
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    )
    if due_only:
        stmt = stmt.where(due)
    rows = db.session.execute(stmt).all()
    out = [(v, org_name, v.stars_assessed_at is None or v.stars_assessed_at < cutoff) for v, org_name in rows]
    return out[:per_page], len(out) > per_page


def count_due(user, now: datetime | None = None) -> int:
    now = now or utcnow()
    cutoff = now - timedelta(days=reassess_days())
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Venue)
            .join(Org, Org.id == Venue.org_id)
            .where(
                scope_clause(user),
                Venue.active.is_(True),
                sa.or_(Venue.stars_assessed_at.is_(None), Venue.stars_assessed_at < cutoff),
            )
        )
        or 0
    )
