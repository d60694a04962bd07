"""The week calendar's grid (CSS grid rows of 15 minutes, no inline styles) and iCal feeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time

from flask import request, url_for
from icalendar import Calendar, Event

from blueprints.core.timeutil import local_zone, to_local, utcnow

from .models import Booking
from .services import DaySchedule, note_text

ROW_MINUTES = 15
#: calendar.css defines .rs-1…64 and .re-2…65: 16 hours of 15-minute rows. A longer week (a home open
#: late or round the clock) is drawn with 30-minute rows of twice the height (.cal-long), so the page
#: does not carry a stylesheet rule for each of 96 rows it rarely needs.
MAX_ROWS = 64


def _minutes(value: time) -> int:
    if value == time.max:
        return 24 * 60
    return value.hour * 60 + value.minute


@dataclass
class GridItem:
    kind: str  # "open" or "booking"
    start: time
    end: time
    rs: int
    re: int
    booking: Booking | None = None


@dataclass
class GridDay:
    day: date
    closure: object | None
    items: list[GridItem] = field(default_factory=list)

    @property
    def openings(self) -> list[GridItem]:
        return [i for i in self.items if i.kind == "open"]

    @property
    def bookings(self) -> list[GridItem]:
        return [i for i in self.items if i.kind == "booking"]


@dataclass
class WeekGrid:
    first_minute: int
    last_minute: int
    hours: list[tuple[str, int, int]]
    days: list[GridDay]
    row_minutes: int = ROW_MINUTES

    @property
    def rows(self) -> int:
        """Rows from the first to the last minute shown (the whole-day items end before row rows + 1)."""
        return -(-(self.last_minute - self.first_minute) // self.row_minutes)


def week_grid(days: list[DaySchedule]) -> WeekGrid:
    """Place opening intervals and approved bookings of 7 days on rows of 15 minutes (30 past 16 hours)."""
    spans: list[tuple[int, int]] = []
    per_day = []
    for d in days:
        booked = []
        for b in d.bookings:
            start, end = to_local(b.starts_at), to_local(b.ends_at)
            s = start.time().replace(tzinfo=None) if start.date() == d.day else time.min
            e = end.time().replace(tzinfo=None) if end.date() == d.day else time.max
            booked.append((s, e, b))
        per_day.append(booked)
        spans += [(_minutes(a), _minutes(b)) for a, b in d.intervals]
        spans += [(_minutes(s), _minutes(e)) for s, e, _b in booked]
    if spans:
        first = min(s for s, _e in spans) // 60 * 60
        last = min(24 * 60, -(-max(e for _s, e in spans) // 60) * 60)
    else:
        first, last = 8 * 60, 18 * 60
    if last <= first:
        last = min(24 * 60, first + 60)
    step = ROW_MINUTES if last - first <= MAX_ROWS * ROW_MINUTES else 2 * ROW_MINUTES

    def row(minute: int) -> int:
        return max(1, min(MAX_ROWS, (minute - first) // step + 1))

    def row_end(minute: int, start_row: int) -> int:
        end = -(-(minute - first) // step) + 1
        return max(start_row + 1, min(MAX_ROWS + 1, end))

    hours = []
    for minute in range(first, last, 60):
        rs = row(minute)
        hours.append((f"{minute // 60:02d}:00", rs, row_end(min(minute + 60, last), rs)))
    grid_days = []
    for d, booked in zip(days, per_day, strict=True):
        gd = GridDay(d.day, d.closure)
        for a, b in d.intervals:
            rs = row(_minutes(a))
            gd.items.append(GridItem("open", a, b, rs, row_end(_minutes(b), rs)))
        for s, e, booking in booked:
            rs = row(_minutes(s))
            gd.items.append(GridItem("booking", s, e, rs, row_end(_minutes(e), rs), booking))
        gd.items.sort(key=lambda i: (i.start, i.kind != "open"))
        grid_days.append(gd)
    return WeekGrid(first, last, hours, grid_days, step)


def booking_feed(title: str, bookings: list[Booking], public: bool) -> bytes:
    """An iCalendar file of `bookings`, times in the configured zone (with its VTIMEZONE)."""
    cal = Calendar()
    cal.add("prodid", "-//Qingyi//youth homes//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", title)
    cal.add("x-wr-timezone", str(local_zone()))
    host = request.host.split(":")[0] if request else "qingyi"
    stamp = utcnow()
    zone = local_zone()
    for b in bookings:
        event = Event()
        event.add("uid", f"booking-{b.id}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", b.starts_at.astimezone(zone))
        event.add("dtend", b.ends_at.astimezone(zone))
        venue = b.venue
        event.add("summary", b.purpose if public else f"{b.purpose} · {venue.name}")
        event.add("location", ", ".join(p for p in (venue.name, venue.address) if p))
        if b.state == "approved":
            event.add("status", "CONFIRMED")
        elif b.state == "pending":
            event.add("status", "TENTATIVE")
        else:
            event.add("status", "CANCELLED")
        if not public and b.decision_note:
            event.add("description", note_text(b.decision_note))
        event.add("url", url_for("venues.show", venue_id=b.venue_id, _external=True))
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
