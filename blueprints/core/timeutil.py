"""Time helpers: store UTC, show the configured zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from .models import utcnow

__all__ = ["utcnow", "local_zone", "to_local", "local_to_utc", "local_today", "local_day_bounds", "iso_week_bounds"]


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))


def to_local(value: datetime) -> datetime:
    return value.astimezone(local_zone())


def local_to_utc(day: date, at: time) -> datetime:
    """A wall-clock date and time in the configured zone, as aware UTC."""
    return datetime.combine(day, at, tzinfo=local_zone()).astimezone(UTC)


def local_today() -> date:
    return utcnow().astimezone(local_zone()).date()


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day, in UTC."""
    return local_to_utc(day, time.min), local_to_utc(day + timedelta(days=1), time.min)


def iso_week_bounds(year: int, week: int) -> tuple[date, date]:
    """Monday and the following Monday of ISO week `week` of `year`."""
    monday = date.fromisocalendar(year, week, 1)
    return monday, monday + timedelta(days=7)
