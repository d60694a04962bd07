"""What this blueprint adds to other pages: slots, the home panel, the dashboard section.

Each function returns the template context, or None to add nothing. Keys start with `fb_` so
they never shadow the host page's own variables.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import g, request, url_for
from flask_login import current_user

from blueprints.core.timeutil import to_local, utcnow
from blueprints.orgs.services import can_coordinate

from .services import (
    can_view_assessments,
    can_view_feedback,
    event_stats,
    latest_assessment,
    latest_rating_id,
    my_ratings,
    public_refusal,
    rateable_events,
    rating_deadline,
    rating_open_for,
    satisfaction_by_home,
    satisfaction_by_team,
    satisfaction_inputs_stamp,
    venue_satisfaction,
)

DASHBOARD_ROWS = 10


def _stats(event):
    """Event stats, computed once per request even when several slots show them."""
    cache = g.setdefault("_fb_stats", {})
    if event.id not in cache:
        cache[event.id] = event_stats(event.id)
    return cache[event.id]


def _here() -> str | None:
    return request.full_path.rstrip("?") if request.method == "GET" else None


def rate_link(event=None, registration=None, **_values) -> dict | None:
    """ "my_events.past_row" / "event.volunteer": rate this event, or the rating already given."""
    user = current_user
    if event is None or not getattr(user, "is_authenticated", False) or event.state != "completed":
        return None
    if registration is not None and registration.user_id != user.id:
        return None
    rated = my_ratings(user).get(event.id)
    if rated is not None:
        return {"fb_rated": rated, "fb_rate_url": None, "fb_until": None}
    if not rating_open_for(event, registration, user):
        return None
    return {
        "fb_rated": None,
        "fb_rate_url": url_for("feedback.rate", event_id=event.id, next=_here()),
        "fb_until": rating_deadline(event),
    }


def leader_view(event=None, **_values) -> dict | None:
    """ "event.leader": the ratings so far, links to the comments and to the QR code for people served."""
    if event is None or event.state not in ("published", "completed"):
        return None
    if not can_view_feedback(current_user, event):
        return None
    return {
        "fb_stats": _stats(event),
        "fb_url": url_for("feedback.event_feedback", event_id=event.id),
        "fb_qr_url": url_for("feedback.event_qr", event_id=event.id),
        "fb_public_open": public_refusal(event, None) is None,
    }


def event_summary(event=None, **_values) -> dict | None:
    """ "event.summary": the average rating of a completed event, for everyone."""
    if event is None or event.state != "completed":
        return None
    stats = _stats(event)
    if not stats.count:
        return None
    return {"fb_stats": stats}


def venue_page(venue=None, **_values) -> dict | None:
    """ "venue.page": the current stars, when and by whom, and the 12-month youth satisfaction."""
    if venue is None:
        return None
    user = current_user
    latest = latest_assessment(venue.id) if venue.stars is not None else None
    average, ratings, events = venue_satisfaction(venue.id)
    can_assess = bool(getattr(user, "is_authenticated", False) and can_coordinate(user, venue.org))
    return {
        "fb_venue": venue,
        "fb_latest": latest,
        "fb_satisfaction": average,
        "fb_ratings": ratings,
        "fb_events": events,
        "fb_assess_url": url_for("feedback.assess", venue_id=venue.id) if can_assess else None,
        "fb_history_url": url_for("feedback.history", venue_id=venue.id)
        if can_assess or can_view_assessments(user, venue)
        else None,
    }


def home_panel(user) -> dict | None:
    """Home page: events the user attended and can still rate."""
    events = rateable_events(user, limit=5)
    if not events:
        return None
    return {"events": events, "deadlines": {e.id: rating_deadline(e) for e in events}}


def _local_date(value) -> date:
    if isinstance(value, datetime):
        return to_local(value).date()
    return value


def _satisfaction(org, start, end) -> dict:
    """The section's tables (by team, by youth home) and links, kept per process while nothing
    they read changed.

    A year of the whole city groups hundreds of thousands of ratings (a third of a second); the
    highest rating id, read with the dashboard's own validity checks, tells whether a rating came
    since. Other changes (an event cancelled, a booking moved, a team renamed) are looked for
    every REPORTS_REST_MAX_AGE seconds, as the reports' own dashboard does: one statement of
    index reads (`satisfaction_inputs_stamp`), and the tables are computed again only if it moved.
    """
    import time

    from flask import current_app

    cache = current_app.extensions.setdefault("feedback_dashboard_cache", {})
    key = (org.id, org.path, start, end, request.script_root)
    stamp = latest_rating_id()
    max_age = current_app.config.get("REPORTS_REST_MAX_AGE", 30)
    now = time.monotonic()
    entry = cache.get(key)
    if entry is not None and entry[0] == stamp and now - entry[1] < max_age:
        return entry[2]
    inputs = satisfaction_inputs_stamp()
    if entry is not None and entry[0] == stamp and entry[3] == inputs:
        cache[key] = (stamp, now, entry[2], inputs)
        return entry[2]
    start_day, end_day = _local_date(start), _local_date(end)
    args = {"org": org.id, "start": start_day.isoformat(), "end": end_day.isoformat()}
    value = {
        "teams": satisfaction_by_team(org, start, end, DASHBOARD_ROWS),
        "homes": satisfaction_by_home(org, start, end, DASHBOARD_ROWS),
        "url": url_for("feedback.satisfaction", **args),
        "csv_url": url_for("feedback.satisfaction_csv", **args),
    }
    if len(cache) >= 64:
        cache.clear()
    cache[key] = (stamp, now, value, inputs)
    return value


def dashboard(user, org, start, end) -> dict | None:
    """Coordinator dashboard: satisfaction per team and per youth home in the period."""
    if org is None or not can_coordinate(user, org):
        return None
    start = start or to_local(utcnow()).date().replace(month=1, day=1)
    end = end or to_local(utcnow()).date()
    return {"feedback": {**_satisfaction(org, start, end), "org": org}}
