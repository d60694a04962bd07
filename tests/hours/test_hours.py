"""Hours from attendance: capped, rounded by the org's rule, minimum attendance, confirmation once."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import utcnow
from blueprints.events.models import Event
from blueprints.hours.models import ServiceRecord
from blueprints.hours.services import compute_hours
from blueprints.notifications.models import Notification


def _records(event) -> list[ServiceRecord]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(ServiceRecord).where(ServiceRecord.event_id == event.id).order_by(ServiceRecord.id)
        )
    )


def _attend(world, h_make_registration, make_user, minutes_in: int, minutes_out: int | None, name: str):
    start = world.event.starts_at
    return h_make_registration(
        world.event,
        make_user(name=name),
        state="attended",
        checked_in_at=start + timedelta(minutes=minutes_in),
        checked_out_at=start + timedelta(minutes=minutes_out) if minutes_out is not None else None,
    )


def test_hours_are_capped_rounded_and_flagged(h_world, h_make_registration, make_user):
    world = h_world  # the event lasts 120 minutes; default rule: nearest half hour
    world.registration.state = "attended"  # marked by the leader, no times: the planned hours (= length)
    _attend(world, h_make_registration, make_user, 0, 80, "八十分钟")  # 80 -> 90
    _attend(world, h_make_registration, make_user, -30, 200, "太长")  # 230 -> capped 120
    _attend(world, h_make_registration, make_user, 0, 10, "太短")  # 10 -> 0
    _attend(world, h_make_registration, make_user, 0, None, "没签退")
    h_make_registration(world.event, make_user(name="缺席"), state="no_show")
    h_make_registration(world.event, make_user(name="未标记"))
    db.session.commit()
    lines = {line.registration.user.name: line for line in compute_hours(world.event)}
    assert lines["李小青"].minutes == 120 and lines["李小青"].source == "leader"
    assert lines["八十分钟"].minutes == 90 and lines["八十分钟"].source == "checkin"
    assert lines["太长"].minutes == 120
    assert lines["太短"].minutes == 0 and lines["太短"].flag == "zero"
    assert lines["没签退"].minutes is None and lines["没签退"].flag == "missing_checkout"
    assert lines["缺席"].flag == "no_show" and lines["未标记"].flag == "not_marked"


def test_planned_hours_rounding_rule_and_minimum_attendance(h_world, h_make_registration, make_user):
    world = h_world
    world.event.planned_minutes = 90
    world.tree["c1"].rounding_rule = "local_15_45"
    world.tree["d1"].min_attendance_percent = 50
    db.session.commit()
    _attend(world, h_make_registration, make_user, 0, 70, "七十")  # 70 of 90: local rule -> 60 + 0 (10 min)
    _attend(world, h_make_registration, make_user, 0, 84, "八四")  # 84 -> 60 + 30 (24 min)
    _attend(world, h_make_registration, make_user, 0, 100, "一百")  # capped 90 -> 60 + 30
    _attend(world, h_make_registration, make_user, 0, 40, "四十")  # under 50% of 90 -> nothing
    lines = {line.registration.user.name: line for line in compute_hours(world.event)}
    assert lines["七十"].minutes == 60
    assert lines["八四"].minutes == 90
    assert lines["一百"].minutes == 90
    assert lines["四十"].minutes == 0 and lines["四十"].flag == "below_minimum"


def test_leader_confirms_once(client, login_as, h_world, h_make_registration, make_user):
    world = h_world
    _attend(world, h_make_registration, make_user, 0, 95, "签到者")
    world.registration.state = "attended"
    db.session.commit()
    login_as(world.leader)
    preview = client.get(f"/hours/events/{world.event.id}/hours").get_data(as_text=True)
    assert "签到者" in preview and "Confirm hours" in preview
    response = client.post(f"/hours/events/{world.event.id}/hours/confirm")
    assert response.status_code == 303
    records = _records(world.event)
    assert sorted((r.volunteer.name, r.minutes, r.source) for r in records) == [
        ("李小青", 120, "leader"),
        ("签到者", 90, "checkin"),
    ]
    assert all(r.served_at == world.event.starts_at and r.org_id == world.event.org_id for r in records)
    assert all(r.recorded_by_id == world.leader.id for r in records)
    assert db.session.get(Event, world.event.id).hours_confirmed_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditLog.action == "hours.confirm")) == 1
    notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "hours_recorded")).all()
    assert {n.user_id for n in notes} == {r.volunteer_id for r in records}
    again = client.post(f"/hours/events/{world.event.id}/hours/confirm", follow_redirects=True)
    assert "already confirmed" in again.get_data(as_text=True)
    assert len(_records(world.event)) == 2
    page = client.get(f"/hours/events/{world.event.id}/hours").get_data(as_text=True)
    assert "Correct" in page and "签到者" in page


def test_missing_check_out_blocks_confirmation(client, login_as, h_world, h_make_registration, make_user):
    _attend(h_world, h_make_registration, make_user, 0, None, "忘签退")
    login_as(h_world.leader)
    page = client.get(f"/hours/events/{h_world.event.id}/hours").get_data(as_text=True)
    assert "did not check out" in page
    response = client.post(f"/hours/events/{h_world.event.id}/hours/confirm", follow_redirects=True)
    assert "checked in but not out (忘签退)" in response.get_data(as_text=True)
    assert _records(h_world.event) == []
    assert db.session.get(Event, h_world.event.id).hours_confirmed_at is None


def test_future_event_cannot_be_confirmed(client, login_as, h_world, h_make_event):
    future = h_make_event(h_world.team, starts_at=utcnow() + timedelta(days=2))
    login_as(h_world.leader)
    response = client.post(f"/hours/events/{future.id}/hours/confirm", follow_redirects=True)
    assert "has not started" in response.get_data(as_text=True)
    assert db.session.get(Event, future.id).hours_confirmed_at is None


def test_volunteer_and_other_leader_cannot_confirm(client, login_as, h_world):
    h_world.registration.state = "attended"
    db.session.commit()
    for user in (h_world.volunteer, h_world.other_leader):
        login_as(user)
        assert client.get(f"/hours/events/{h_world.event.id}/hours").status_code == 403
        assert client.post(f"/hours/events/{h_world.event.id}/hours/confirm").status_code == 403
    assert _records(h_world.event) == []
