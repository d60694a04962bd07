"""The services other blueprints use, and the pure helpers (intervals, free time)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from blueprints.core.timeutil import local_today, utcnow
from blueprints.venues.services import (
    approved_bookings_of,
    can_manage_venue,
    free_intervals,
    is_manager,
    managed_venue_ids,
    parse_intervals,
    pending_count,
)
from tests.fixtures.venues import future_day


def test_roles(city_tree, make_venue, make_manager, make_coordinator, make_user):
    v1 = make_venue(org=city_tree["c1"])
    v2 = make_venue(org=city_tree["c1"])
    v3 = make_venue(org=city_tree["c2"])
    manager = make_manager(v1)
    from blueprints.core.extensions import db
    from blueprints.venues.models import VenueManager

    db.session.add(VenueManager(venue_id=v2.id, user_id=manager.id))
    db.session.commit()
    assert managed_venue_ids(manager) == sorted([v1.id, v2.id])
    assert is_manager(manager, v1) and not is_manager(manager, v3)
    assert can_manage_venue(manager, v2) and not can_manage_venue(manager, v3)
    coordinator = make_coordinator(city_tree["d1"])
    assert can_manage_venue(coordinator, v1) and not can_manage_venue(coordinator, v3)
    assert not is_manager(coordinator, v1)
    admin = make_user(is_admin=True)
    assert can_manage_venue(admin, v3) and managed_venue_ids(admin) == []
    nobody = make_user()
    assert not can_manage_venue(nobody, v1) and managed_venue_ids(nobody) == []
    assert pending_count(nobody) == 0


def test_approved_bookings_of(make_venue, make_user, make_booking):
    venue = make_venue()
    user = make_user()
    later = make_booking(venue, user, day=future_day(5), state="approved")
    sooner = make_booking(venue, user, day=future_day(2), state="approved")
    make_booking(venue, user, day=future_day(3), state="pending")
    make_booking(venue, user, day=local_today() - timedelta(days=2), state="approved")
    make_booking(venue, make_user(), day=future_day(4), state="approved")
    assert [b.id for b in approved_bookings_of(user)] == [sooner.id, later.id]
    assert approved_bookings_of(user)[0].venue.name == venue.name
    assert [b.id for b in approved_bookings_of(user, start=utcnow() + timedelta(days=3))] == [later.id]


def test_parse_intervals():
    assert parse_intervals("") == []
    assert parse_intervals("14:00-18:00, 09:00-12:00") == [(time(9), time(12)), (time(14), time(18))]
    assert parse_intervals("9-12；14：00至17：30") == [(time(9), time(12)), (time(14), time(17, 30))]
    for bad, reason in (("9-", "format"), ("12-9", "order"), ("9-12,11-13", "overlap"), ("a-b", "format")):
        with pytest.raises(ValueError, match=reason):
            parse_intervals(bad)


def test_free_intervals():
    day = date(2030, 1, 7)
    opening = [(time(9), time(12)), (time(14), time(18))]
    busy = [(time(10), time(11)), (time(11), time(12)), (time(15), time(16))]
    assert free_intervals(opening, busy, day) == [(time(9), time(10)), (time(14), time(15)), (time(16), time(18))]
    assert free_intervals(opening, [(time(8), time(19))], day) == []


def test_free_intervals_start_at_the_earliest_requestable_quarter_hour(app):
    from datetime import UTC, datetime

    from blueprints.core.timeutil import local_zone

    day = date(2030, 1, 7)
    opening = [(time(9), time(12)), (time(14), time(18))]
    earliest = datetime(2030, 1, 7, 10, 7, tzinfo=local_zone()).astimezone(UTC)
    assert free_intervals(opening, [], day, earliest) == [(time(10, 15), time(12)), (time(14), time(18))]
    assert free_intervals(opening, [], day - timedelta(days=1), earliest) == []
    assert free_intervals(opening, [], day + timedelta(days=1), earliest) == opening


def test_badge_counts_stop_at_the_cap_and_show_99_plus(app, client, login_as, make_venue, make_manager, make_user):
    """A manager with more pending requests than a badge counts sees "99+" in the nav and on the home page;
    the queue itself still lists every request."""
    from datetime import timedelta

    from blueprints.core.extensions import db
    from blueprints.core.registry import BADGE_COUNT_CAP
    from blueprints.core.timeutil import utcnow
    from blueprints.venues.models import Booking

    venue = make_venue()
    manager = make_manager(venue)
    requester = make_user()
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    for i in range(BADGE_COUNT_CAP + 5):
        begins = start + timedelta(hours=i)
        db.session.add(
            Booking(
                venue_id=venue.id,
                requester_id=requester.id,
                purpose=f"活动{i}",
                attendees=5,
                starts_at=begins,
                ends_at=begins + timedelta(minutes=30),
                state="pending",
            )
        )
    db.session.commit()
    assert pending_count(manager) == BADGE_COUNT_CAP
    login_as(manager)
    home = client.get("/").get_data(as_text=True)
    assert "99+" in home
    nav = client.get("/venues/approvals").get_data(as_text=True)
    assert '<span class="visually-hidden">(</span>99+<span class="visually-hidden">)</span>' in nav
