"""Attendees are invited to rate as soon as the event is completed or attendance is recorded,
without the events or hours blueprints calling us."""

from __future__ import annotations

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.events.services import complete_event
from blueprints.hours.services import confirm_hours, set_attendance
from blueprints.notifications.models import Notification


def _invited() -> list[int]:
    return sorted(db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "feedback_invite")))


def test_completing_and_recording_attendance_invite_once(app, f_world, f_make_event, f_register, make_user):
    leader, team = f_world["leader"], f_world["team"]
    event = f_make_event(team, state="published", ended_days_ago=0.05)
    first, second, absent = make_user("甲"), make_user("乙"), make_user("丙")
    reg_first = f_register(event, first, "confirmed")
    reg_second = f_register(event, second, "confirmed")
    f_register(event, absent, "confirmed")

    set_attendance(leader, reg_first, "attended")
    db.session.commit()
    assert _invited() == []  # not completed yet: nobody is asked

    complete_event(leader, event)
    db.session.commit()
    assert _invited() == [first.id]

    set_attendance(leader, reg_second, "attended")  # marked after completion
    db.session.commit()
    assert _invited() == sorted([first.id, second.id])

    with app.test_request_context():  # confirm_hours builds links
        confirm_hours(leader, event)  # writes service records: nobody new, nobody twice
        db.session.commit()
    assert _invited() == sorted([first.id, second.id])
    note = db.session.scalar(
        sa.select(Notification).where(Notification.user_id == first.id, Notification.kind == "feedback_invite")
    )
    assert note.link == f"/feedback/events/{event.id}/rate" and note.params["event"] == event.title


def test_rolled_back_completion_invites_nobody(app, f_world, f_make_event, f_register):
    event = f_make_event(f_world["team"], state="published", ended_days_ago=0.05)
    f_register(event, f_world["stranger"], "attended")
    complete_event(f_world["leader"], event)
    db.session.rollback()
    assert _invited() == []


def test_old_events_are_not_invited(app, f_world, f_make_event, f_register, f_record):
    old = f_make_event(f_world["team"], ended_days_ago=30)
    f_register(old, f_world["stranger"], "attended")
    f_record(old, f_world["stranger"])  # a late correction of an old event sends nothing
    assert _invited() == []


def test_hours_recorded_for_a_completed_event_invite(app, f_world, f_record, make_user):
    helper = make_user("补录")
    f_record(f_world["event"], helper)  # e.g. an approved hour request, after the event was completed
    assert _invited() == sorted([helper.id, f_world["volunteer"].id])  # and whoever was not asked yet
