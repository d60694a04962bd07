"""iCalendar feeds: an organisation's published events, and one volunteer's own registrations."""

from __future__ import annotations

from flask import Response, url_for
from icalendar import Calendar
from icalendar import Event as ICalEvent

from blueprints.core.timeutil import utcnow
from blueprints.core.translate import gettext as _

from .models import Event
from .queries import org_feed_events, user_feed_rows
from .services import place_text


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Qingyi//Volunteer events//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "UTC")
    cal.add("x-published-ttl", "PT1H")
    return cal


def _entry(event: Event, summary: str) -> ICalEvent:
    entry = ICalEvent()
    entry.add("uid", f"event-{event.id}@qingyi")
    entry.add("dtstamp", event.updated_at or utcnow())
    entry.add("dtstart", event.starts_at)
    entry.add("dtend", event.ends_at)
    entry.add("summary", summary)
    place = place_text(event)
    if place:
        entry.add("location", place)
    url = url_for("events.show", event_id=event.id, _external=True)
    entry.add("url", url)
    description = f"{event.team.name}\n{event.description or ''}".strip()
    entry.add("description", f"{description}\n\n{url}".strip())
    entry.add("status", "CANCELLED" if event.state == "cancelled" else "CONFIRMED")
    return entry


def _response(cal: Calendar, filename: str, private: bool) -> Response:
    response = Response(cal.to_ical(), mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, max-age=900" if private else "public, max-age=900"
    return response


def org_calendar(org) -> Response:  # noqa: ANN001
    """Published, completed and cancelled events of `org`'s subtree (30 days back, 120 days ahead)."""
    cal = _calendar(_("Activities of %(org)s", org=org.name))
    for event in org_feed_events(org):
        cal.add_component(_entry(event, event.title))
    return _response(cal, f"org-{org.id}.ics", private=False)


def user_calendar(user) -> Response:  # noqa: ANN001
    """One volunteer's confirmed and waitlisted events; waitlist places are marked in the title."""
    cal = _calendar(_("My volunteer events"))
    for event, registration in user_feed_rows(user):
        if registration.state == "waitlisted":
            summary = _("[Waitlist %(n)s] %(title)s", n=registration.waitlist_position, title=event.title)
        else:
            summary = event.title
        cal.add_component(_entry(event, summary))
    return _response(cal, "my-events.ics", private=True)
