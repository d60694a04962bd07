"""Venue admin: create / edit with rules, opening hours with several intervals, closures, managers."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import local_today
from blueprints.notifications.models import Notification
from blueprints.venues.models import Closure, OpeningHours, Venue, VenueManager
from tests.conftest import htmx
from tests.fixtures.venues import future_day


def _audit(action: str) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _venue_form(**overrides) -> dict:
    data = {
        "name": "白沙街道青年之家",
        "address": "白沙路1号",
        "description": "阅读角、活动室",
        "capacity": "40",
        "facilities": ["wifi", "piano"],
        "contact_phone": "0831-1234567",
        "min_duration_minutes": "30",
        "max_duration_minutes": "180",
        "max_days_ahead": "14",
        "min_notice_hours": "4",
        "active": "y",
    }
    data.update(overrides)
    return data


def test_coordinator_creates_a_venue_in_scope(client, login_as, city_tree, make_coordinator):
    login_as(make_coordinator(city_tree["d1"]))
    page = client.get("/venues/new")
    assert page.status_code == 200
    search = client.post("/venues/new", data={**_venue_form(), "org_query": "白沙", "action": "search_org"})
    assert search.status_code == 200 and "白沙街道" in search.get_data(as_text=True)
    response = client.post("/venues/new", data={**_venue_form(), "org_id": str(city_tree["t1"].id)})
    assert response.status_code == 303
    venue = db.session.scalar(sa.select(Venue))
    assert (venue.org_id, venue.capacity, venue.facilities, venue.max_duration_minutes) == (
        city_tree["t1"].id,
        40,
        "wifi,piano",
        180,
    )
    assert (venue.max_days_ahead, venue.min_notice_hours, venue.active) == (14, 4, True)
    assert response.headers["Location"].endswith(f"/venues/{venue.id}/manage")
    assert _audit("venue.create")[0].org_id == city_tree["t1"].id


def test_create_out_of_scope_or_not_a_coordinator(client, login_as, city_tree, make_coordinator, make_user):
    login_as(make_coordinator(city_tree["d1"]))
    response = client.post("/venues/new", data={**_venue_form(), "org_id": str(city_tree["c2"].id)})
    assert response.status_code == 403
    login_as(make_user())
    assert client.get("/venues/new").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Venue)) == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "  "}, "Enter a name."),
        ({"capacity": "0"}, "Enter how many people fit."),
        ({"capacity": "-3"}, "Enter a number of at least 1."),
        ({"min_duration_minutes": "120", "max_duration_minutes": "60"}, "must not be shorter than the shortest"),
        ({"max_days_ahead": "0"}, "Enter a number of days."),
        ({"facilities": ["sauna"]}, "Choose facilities from the list."),
        ({"org_id": ""}, "Choose the organisation that runs this youth home."),
    ],
)
def test_create_bad_input(client, login_as, city_tree, make_coordinator, overrides, message):
    login_as(make_coordinator(city_tree["d1"]))
    data = {**_venue_form(), "org_id": str(city_tree["t1"].id), **overrides}
    response = client.post("/venues/new", data=data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Venue)) == 0


def test_manager_edits_details_and_rules(client, login_as, make_venue, make_manager):
    venue = make_venue()
    login_as(make_manager(venue))
    assert client.get(f"/venues/{venue.id}/edit").status_code == 200
    response = client.post(f"/venues/{venue.id}/edit", data=_venue_form(max_duration_minutes="60", capacity="12"))
    assert response.status_code == 303
    db.session.expire_all()
    venue = db.session.get(Venue, venue.id)
    assert (venue.name, venue.capacity, venue.max_duration_minutes) == ("白沙街道青年之家", 12, 60)
    assert _audit("venue.update")[0].detail["changed"]["capacity"] == [30, 12]
    bad = client.post(f"/venues/{venue.id}/edit", data=_venue_form(capacity="0"), headers=htmx())
    assert bad.status_code == 422 and "<html" not in bad.get_data(as_text=True)
    # the new rule applies to requests at once
    data = {"day": future_day().isoformat(), "start": "09:00", "end": "11:00", "purpose": "x", "attendees": "5"}
    refused = client.post(f"/venues/{venue.id}/book", data=data)
    assert refused.status_code == 422 and "at most 1 h here" in refused.get_data(as_text=True)


def test_opening_hours_several_intervals_per_weekday(client, login_as, make_venue, make_manager):
    venue = make_venue(hours={})
    login_as(make_manager(venue))
    data = {"day0": "09:00-12:00, 14:00-18:00", "day2": "8:30～11:30，19:00-21:00", "day5": "10:00-16:00"}
    response = client.post(f"/venues/{venue.id}/hours", data=data)
    assert response.status_code == 303
    rows = db.session.execute(
        sa.select(OpeningHours.weekday, OpeningHours.opens, OpeningHours.closes)
        .where(OpeningHours.venue_id == venue.id)
        .order_by(OpeningHours.weekday, OpeningHours.opens)
    ).all()
    assert rows == [
        (0, time(9), time(12)),
        (0, time(14), time(18)),
        (2, time(8, 30), time(11, 30)),
        (2, time(19), time(21)),
        (5, time(10), time(16)),
    ]
    assert "0" in _audit("venue.hours")[0].detail["changed"]
    html = client.get(f"/venues/{venue.id}").get_data(as_text=True)
    assert "09:00–12:00, 14:00–18:00" in html and "08:30–11:30, 19:00–21:00" in html


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9-12 afternoon", "Write times like 09:00-12:00, 14:00-18:00."),
        ("12:00-09:00", "Each interval must close after it opens."),
        ("09:00-12:00, 11:00-14:00", "The intervals overlap."),
        ("25:00-26:00", "Write times like"),
    ],
)
def test_opening_hours_bad_input(client, login_as, make_venue, make_manager, text, message):
    venue = make_venue()
    login_as(make_manager(venue))
    before = db.session.scalar(sa.select(sa.func.count()).select_from(OpeningHours))
    response = client.post(f"/venues/{venue.id}/hours", data={"day1": text}, headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in html
    assert 'id="day1-error"' in html and message in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OpeningHours)) == before
    assert not _audit("venue.hours")


def test_closures_add_warn_and_remove(client, login_as, make_venue, make_manager, make_booking):
    venue = make_venue()
    login_as(make_manager(venue))
    make_booking(venue, day=future_day(), state="approved")
    data = {
        "closure-starts_on": future_day().isoformat(),
        "closure-ends_on": future_day(3).isoformat(),
        "closure-reason": "设备检修",
    }
    response = client.post(f"/venues/{venue.id}/closures", data=data, headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="closures"' in html and "设备检修" in html
    assert "1 approved booking(s) fall in this closure" in html
    closure = db.session.scalar(sa.select(Closure))
    assert (closure.starts_on, closure.ends_on) == (future_day(), future_day(3))
    assert _audit("venue.closure_add")[0].detail["reason"] == "设备检修"
    bad = client.post(
        f"/venues/{venue.id}/closures", data={**data, "closure-ends_on": (future_day() - timedelta(days=1)).isoformat()}
    )
    assert bad.status_code == 422 and "The last day must not be before the first." in bad.get_data(as_text=True)
    no_reason = client.post(f"/venues/{venue.id}/closures", data={**data, "closure-reason": ""})
    assert no_reason.status_code == 422 and "Give a reason" in no_reason.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Closure)) == 1
    assert client.post(f"/venues/{venue.id}/closures/{closure.id}/delete").status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Closure)) == 0
    assert _audit("venue.closure_remove")


def test_managers_granted_and_revoked_by_phone_audited(
    client, login_as, city_tree, make_venue, make_coordinator, make_user
):
    venue = make_venue(org=city_tree["c1"])
    coordinator = login_as(make_coordinator(city_tree["t1"]))
    newcomer = make_user(name="新管理员", phone="13912345678")
    response = client.post(f"/venues/{venue.id}/managers", data={"manager-phone": "139 1234 5678"}, headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "新管理员" in html and 'id="managers"' in html
    grant = db.session.scalar(sa.select(VenueManager))
    assert (grant.user_id, grant.granted_by_id) == (newcomer.id, coordinator.id)
    entry = _audit("venue.manager_grant")[0]
    assert (entry.actor_id, entry.detail["user_id"], entry.org_id) == (coordinator.id, newcomer.id, venue.org_id)
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == newcomer.id))
    assert note.kind == "venue_manager_granted"
    again = client.post(f"/venues/{venue.id}/managers", data={"manager-phone": "13912345678"})
    assert again.status_code == 422 and "already manages" in again.get_data(as_text=True)
    unknown = client.post(f"/venues/{venue.id}/managers", data={"manager-phone": "13900000000"})
    assert unknown.status_code == 422 and "No account has this mobile number" in unknown.get_data(as_text=True)
    bad = client.post(f"/venues/{venue.id}/managers", data={"manager-phone": "12345"})
    assert bad.status_code == 422 and "11-digit" in bad.get_data(as_text=True)
    assert client.post(f"/venues/{venue.id}/managers/{grant.id}/revoke").status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VenueManager)) == 0
    assert _audit("venue.manager_revoke")[0].detail["user_id"] == newcomer.id


def test_managers_cannot_grant_and_out_of_scope_coordinators_cannot_either(
    client, login_as, city_tree, make_venue, make_manager, make_coordinator, make_user
):
    venue = make_venue(org=city_tree["c1"])
    manager = make_manager(venue)
    make_user(phone="13911112222")
    login_as(manager)
    assert client.post(f"/venues/{venue.id}/managers", data={"manager-phone": "13911112222"}).status_code == 403
    grant = db.session.scalar(sa.select(VenueManager))
    assert client.post(f"/venues/{venue.id}/managers/{grant.id}/revoke").status_code == 403
    login_as(make_coordinator(city_tree["d2"]))
    assert client.post(f"/venues/{venue.id}/managers", data={"manager-phone": "13911112222"}).status_code == 403
    assert client.get(f"/venues/{venue.id}/edit").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VenueManager)) == 1
    assert not _audit("venue.manager_grant")


def test_manage_list_scope(client, login_as, city_tree, make_venue, make_manager, make_coordinator):
    mine = make_venue(org=city_tree["c1"], name="我的青年之家")
    other = make_venue(org=city_tree["c2"], name="别处的青年之家")
    login_as(make_manager(mine))
    html = client.get("/venues/manage").get_data(as_text=True)
    assert mine.name in html and other.name not in html and "Add a youth home" not in html
    login_as(make_coordinator(city_tree["city"]))
    html = client.get("/venues/manage").get_data(as_text=True)
    assert mine.name in html and other.name in html and "Add a youth home" in html


def test_closure_past_ones_hidden(client, login_as, make_venue, make_manager, make_closure):
    venue = make_venue()
    make_closure(venue, local_today() - timedelta(days=5), reason="旧的闭馆")
    login_as(make_manager(venue))
    assert "旧的闭馆" not in client.get(f"/venues/{venue.id}/manage").get_data(as_text=True)
