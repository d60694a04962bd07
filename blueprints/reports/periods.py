"""Report periods: a month, a quarter, a year or custom dates, as local calendar days.

A period is a closed range of local dates [start, end]; queries use its UTC bounds
[local midnight of start, local midnight after end).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import format_date

from blueprints.core.timeutil import local_day_bounds, local_today, local_zone
from blueprints.core.translate import gettext as _

PERIOD_KINDS = ("month", "quarter", "year", "custom")
MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # inclusive

    @classmethod
    def year_of(cls, year: int) -> Period:
        return cls("year", date(year, 1, 1), date(year, 12, 31))

    @classmethod
    def month_of(cls, year: int, month: int) -> Period:
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        return cls("month", date(year, month, 1), nxt - timedelta(days=1))

    @classmethod
    def quarter_of(cls, year: int, quarter: int) -> Period:
        first = 3 * (quarter - 1) + 1
        return cls("quarter", date(year, first, 1), cls.month_of(year, first + 2).end)

    @classmethod
    def this_year(cls) -> Period:
        return cls.year_of(local_today().year)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC."""
        return local_day_bounds(self.start)[0], local_day_bounds(self.end)[1]

    @property
    def year(self) -> int:
        """The year whose annual target applies: the year of the last day."""
        return self.end.year

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def args(self) -> dict:
        """Query arguments that select this period again (for links)."""
        if self.kind == "year":
            return {"period": "year", "year": self.start.year}
        if self.kind == "quarter":
            return {"period": "quarter", "year": self.start.year, "quarter": (self.start.month - 1) // 3 + 1}
        if self.kind == "month":
            return {"period": "month", "year": self.start.year, "month": self.start.month}
        return {"period": "custom", "start": self.start.isoformat(), "end": self.end.isoformat()}

    def label(self) -> str:
        if self.kind == "year":
            return _("Year %(year)s", year=self.start.year)
        if self.kind == "quarter":
            return _("Q%(quarter)s %(year)s", quarter=(self.start.month - 1) // 3 + 1, year=self.start.year)
        if self.kind == "month":
            return format_date(self.start, "yyyy-MM")
        return _("%(start)s to %(end)s", start=self.start.isoformat(), end=self.end.isoformat())

    @property
    def by_year(self) -> bool:
        """Charts show years instead of months for periods over three years."""
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month >= 36

    def buckets(self) -> list[tuple[date, datetime]]:
        """(first day, UTC start) of each calendar month (or year, see by_year) the period touches."""
        buckets = []
        day = self.start.replace(month=1, day=1) if self.by_year else self.start.replace(day=1)
        while day <= self.end:
            buckets.append((day, local_day_bounds(max(day, self.start))[0]))
            day = (
                date(day.year + 1, 1, 1) if self.by_year else date(day.year + (day.month == 12), day.month % 12 + 1, 1)
            )
        return buckets


class PeriodError(ValueError):
    """Bad period arguments: {field: message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def _int(value: str | None, field: str, low: int, high: int, message: str, errors: dict) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        errors[field] = message
        return None
    if not low <= number <= high:
        errors[field] = message
        return None
    return number


def parse_date(value: str | None) -> date | None:
    """YYYY-MM-DD, else ValueError."""
    if value is None or not str(value).strip():
        raise ValueError("empty")
    day = date.fromisoformat(str(value).strip())
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError("out of range")
    return day


def parse_period(args) -> Period:
    """Read a period from request arguments (period, year, quarter, month, start, end).

    No arguments: this year. Raises PeriodError with a message per field.
    """
    errors: dict[str, str] = {}
    kind = (args.get("period") or "").strip() or ("custom" if args.get("start") or args.get("end") else "year")
    if kind not in PERIOD_KINDS:
        raise PeriodError({"period": _("Choose a month, a quarter, a year or custom dates.")})
    today = datetime.now(local_zone()).date()
    if kind == "custom":
        start = end = None
        for name in ("start", "end"):
            try:
                value = parse_date(args.get(name))
            except ValueError:
                errors[name] = _("Enter a date as YYYY-MM-DD, e.g. %(example)s.", example=today.isoformat())
                continue
            if name == "start":
                start = value
            else:
                end = value
        if start and end and start > end:
            errors["end"] = _("The end date is before the start date.")
        if errors:
            raise PeriodError(errors)
        return Period("custom", start, end)
    year = _int(args.get("year"), "year", MIN_YEAR, MAX_YEAR, _("Enter a year from 2000 to 2100."), errors)
    year = year or today.year
    if kind == "year":
        if errors:
            raise PeriodError(errors)
        return Period.year_of(year)
    if kind == "quarter":
        quarter = _int(args.get("quarter"), "quarter", 1, 4, _("Choose a quarter from 1 to 4."), errors)
        if errors:
            raise PeriodError(errors)
        return Period.quarter_of(year, quarter or (today.month - 1) // 3 + 1)
    month = _int(args.get("month"), "month", 1, 12, _("Choose a month from 1 to 12."), errors)
    if errors:
        raise PeriodError(errors)
    return Period.month_of(year, month or today.month)
