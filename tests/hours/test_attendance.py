"""Roster attendance: attended / no-show, fixing times, marking everyone — htmx rows and plain forms."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import to_local, utcnow
from blueprints.events.models import Registration
from tests.conftest import htmx


def _reg(registration_id: int) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, registration_id)


def _local(value):
    return to_local(value).strftime("%Y-%m-%dT%H:%M")


def test_roster_lists_people_with_actions(client, login_as, h_world):
    login_as(h_world.leader)
    html = client.get(f"/hours/events/{h_world.event.id}/attendance").get_data(as_text=True)
    assert "李小青" in html and 'hx-target="closest tr"' in html
    assert f'action="/hours/events/{h_world.event.id}/attendance/{h_world.registration.id}/mark' in html


def test_mark_attended_and_no_show_htmx_row(client, login_as, h_world):
    login_as(h_world.leader)
    url = f"/hours/events/{h_world.event.id}/attendance/{h_world.registration.id}/mark"
    response = client.post(url, data={"state": "no_show"}, headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and html.lstrip().startswith("<tr")
    assert _reg(h_world.registration.id).state == "no_show"
    response = client.post(url, data={"state": "attended"})
    assert response.status_code == 303
    assert _reg(h_world.registration.id).state == "attended"
    assert client.post(url, data={"state": "cancelled"}).status_code == 400
    assert len(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "attendance.mark")).all()) == 2


def test_fix_times(client, login_as, h_world):
    login_as(h_world.leader)
    event = h_world.event
    url = f"/hours/events/{event.id}/attendance/{h_world.registration.id}/times"
    prefix = f"r{h_world.registration.id}-"
    start = event.starts_at.replace(second=0, microsecond=0)
    check_in, check_out = start + timedelta(minutes=5), start + timedelta(minutes=95)
    response = client.post(
        url,
        data={prefix + "checked_in_at": _local(check_in), prefix + "checked_out_at": _local(check_out)},
        headers=htmx(),
    )
    assert response.status_code == 200 and "<tr" in response.get_data(as_text=True)
    registration = _reg(h_world.registration.id)
    assert registration.checked_in_at == check_in and registration.checked_out_at == check_out
    assert registration.state == "attended" and registration.attendance_by_id == h_world.leader.id


def test_bad_times_are_422_and_change_nothing(client, login_as, h_world):
    login_as(h_world.leader)
    event = h_world.event
    url = f"/hours/events/{event.id}/attendance/{h_world.registration.id}/times"
    p = f"r{h_world.registration.id}-"
    cases = [
        ({p + "checked_in_at": ""}, "Enter the check-in time"),
        ({p + "checked_in_at": "yesterday"}, "Not a valid datetime value"),
        (
            {p + "checked_in_at": _local(event.ends_at), p + "checked_out_at": _local(event.starts_at)},
            "cannot be before the check-in",
        ),
        ({p + "checked_in_at": _local(event.starts_at - timedelta(days=3))}, "within a day of the event"),
    ]
    for data, message in cases:
        for headers in ({}, htmx()):
            response = client.post(url, data=data, headers=headers)
            assert response.status_code == 422, data
            assert message in response.get_data(as_text=True), (data, message)
    registration = _reg(h_world.registration.id)
    assert registration.checked_in_at is None and registration.state == "confirmed"


def test_mark_all_confirmed_attended(client, login_as, h_world, make_user, h_make_registration):
    event = h_world.event
    others = [h_make_registration(event, make_user(name=f"队员{i}")) for i in range(3)]
    no_show = h_make_registration(event, make_user(name="缺席"), state="no_show")
    login_as(h_world.leader)
    response = client.post(f"/hours/events/{event.id}/attendance/all", headers=htmx())
    assert response.status_code == 200 and 'id="roster"' in response.get_data(as_text=True)
    states = [_reg(r.id).state for r in [h_world.registration, *others]]
    assert states == ["attended"] * 4
    assert _reg(no_show.id).state == "no_show"


def test_others_cannot_touch_the_roster(client, login_as, h_world):
    event = h_world.event
    url = f"/hours/events/{event.id}/attendance/{h_world.registration.id}/mark"
    for user in (h_world.volunteer, h_world.other_leader):
        login_as(user)
        assert client.get(f"/hours/events/{event.id}/attendance").status_code == 403
        assert client.post(url, data={"state": "attended"}).status_code == 403
        assert client.post(f"/hours/events/{event.id}/attendance/all").status_code == 403
    assert _reg(h_world.registration.id).state == "confirmed"


def test_coordinator_in_scope_may_mark_outside_may_not(client, login_as, h_world, make_coordinator):
    url = f"/hours/events/{h_world.event.id}/attendance/{h_world.registration.id}/mark"
    login_as(make_coordinator(h_world.tree["d2"]))
    assert client.post(url, data={"state": "attended"}).status_code == 403
    login_as(make_coordinator(h_world.tree["d1"]))
    assert client.post(url, data={"state": "attended"}).status_code == 303


def test_roster_is_frozen_after_hours_are_confirmed(client, login_as, h_world):
    h_world.event.hours_confirmed_at = utcnow()
    db.session.commit()
    login_as(h_world.leader)
    url = f"/hours/events/{h_world.event.id}/attendance/{h_world.registration.id}/mark"
    response = client.post(url, data={"state": "attended"}, headers=htmx())
    assert response.status_code == 409 and "already confirmed" in response.get_data(as_text=True)
    assert _reg(h_world.registration.id).state == "confirmed"
