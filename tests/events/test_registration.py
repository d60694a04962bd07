"""Registration: one tap, waitlist with positions, promotion at once with a notification, the bad inputs."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow
from blueprints.events.models import Event, Registration
from blueprints.events.services import (
    RegistrationError,
    cancel_registration,
    change_capacity,
    promote_waitlist,
    register,
)
from blueprints.notifications.models import Notification
from tests.conftest import htmx


def _regs(event) -> list[Registration]:
    return list(
        db.session.scalars(sa.select(Registration).where(Registration.event_id == event.id).order_by(Registration.id))
    )


def _count(model=Registration) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _waitlist(event) -> list[tuple[int, int]]:
    """[(user_id, position)] of the waitlist in position order."""
    return list(
        db.session.execute(
            sa.select(Registration.user_id, Registration.waitlist_position)
            .where(Registration.event_id == event.id, Registration.state == "waitlisted")
            .order_by(Registration.waitlist_position)
        ).all()
    )


def _fresh(event) -> Event:
    db.session.expire_all()
    return db.session.get(Event, event.id)


def test_register_in_one_tap_then_cancel(client, login_as, make_event, make_user):
    event = make_event(capacity=2)
    volunteer = login_as(make_user(name="小青"))
    response = client.post(f"/events/{event.id}/register", headers=htmx())
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "You are registered" in body and "Cancel my place" in body
    [reg] = _regs(event)
    assert (reg.user_id, reg.state, reg.waitlist_position) == (volunteer.id, "confirmed", None)
    assert _fresh(event).confirmed_count == 1
    cancelled = client.post(f"/events/{event.id}/registration/cancel")
    assert cancelled.status_code == 303
    db.session.expire_all()
    assert _regs(event)[0].state == "cancelled" and _fresh(event).confirmed_count == 0
    # registering again after cancelling is allowed (the old row is cancelled)
    assert client.post(f"/events/{event.id}/register").status_code == 303
    assert [r.state for r in _regs(event)] == ["cancelled", "confirmed"]


def test_full_event_waitlists_with_positions_and_promotes_first(app, make_event, make_user):
    event = make_event(capacity=2)
    people = [make_user(name=f"志愿者{i}") for i in range(6)]
    regs = [register(event, u) for u in people]
    db.session.commit()
    assert [r.state for r in regs] == ["confirmed"] * 2 + ["waitlisted"] * 4
    assert _waitlist(event) == [(people[i].id, i - 1) for i in range(2, 6)]
    # someone in the middle of the waitlist leaves: no gap
    cancel_registration(regs[3], people[3])
    db.session.commit()
    assert _waitlist(event) == [(people[2].id, 1), (people[4].id, 2), (people[5].id, 3)]
    # a confirmed volunteer cancels: the first on the waitlist moves up at once and is told
    promoted = cancel_registration(regs[0], people[0])
    db.session.commit()
    assert [r.user_id for r in promoted] == [people[2].id]
    assert _waitlist(event) == [(people[4].id, 1), (people[5].id, 2)]
    ev = _fresh(event)
    assert (ev.confirmed_count, ev.waitlist_count) == (2, 2)
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == people[2].id))
    assert note.kind == "waitlist_promoted" and note.params["title"] == event.title
    assert note.link == f"/events/{event.id}"


def test_register_twice_is_refused_and_writes_nothing(client, login_as, make_event, make_user):
    event = make_event()
    login_as(make_user())
    assert client.post(f"/events/{event.id}/register").status_code == 303
    before = _count()
    again = client.post(f"/events/{event.id}/register", headers=htmx())
    assert again.status_code == 409 and "already registered" in again.get_data(as_text=True)
    assert _count() == before and _fresh(event).confirmed_count == 1


def test_second_place_refused_by_the_database_counts_no_seat(client, login_as, make_event, make_user, monkeypatch):
    """When the check before the write misses a place (a writer that bypassed the locks), the unique index
    refuses the second one: a clear 409, and the seat the same transaction counted is not kept."""
    import blueprints.events.services as services

    event = make_event(capacity=5)
    login_as(make_user())
    assert client.post(f"/events/{event.id}/register").status_code == 303
    before = _count()
    monkeypatch.setattr(services, "active_registration", lambda event, user: None)
    again = client.post(f"/events/{event.id}/register", headers=htmx())
    assert again.status_code == 409 and "already registered" in again.get_data(as_text=True)
    assert _count() == before and _fresh(event).confirmed_count == 1
    assert [r.state for r in _regs(event)] == ["confirmed"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"state": "cancelled", "cancel_reason": "下雨"}, "was cancelled"),
        ({"starts_in": timedelta(days=-2)}, "already taken place"),
        ({"state": "completed", "starts_in": timedelta(hours=-1)}, "already taken place"),
        ({"reg_closes_at": "past"}, "has closed"),
        ({"starts_in": timedelta(minutes=-30), "hours": 3}, "has closed"),
        ({"reg_opens_at": "future"}, "Registration opens on"),
    ],
)
def test_registration_refused_with_a_message(client, login_as, make_event, make_user, overrides, message):
    now = utcnow()
    if overrides.get("reg_closes_at") == "past":
        overrides["reg_closes_at"] = now - timedelta(hours=1)
        overrides["reg_opens_at"] = now - timedelta(days=2)
    if overrides.get("reg_opens_at") == "future":
        overrides["reg_opens_at"] = now + timedelta(days=1)
    event = make_event(**overrides)
    login_as(make_user())
    response = client.post(f"/events/{event.id}/register")
    assert response.status_code == 409
    assert message in response.get_data(as_text=True)
    assert _count() == 0 and _fresh(event).confirmed_count == 0


def test_members_only_for_non_member(client, login_as, make_event, make_team, make_user):
    member = make_user()
    team = make_team(members=[member])
    event = make_event(team=team, members_only=True)
    login_as(make_user())
    refused = client.post(f"/events/{event.id}/register")
    assert refused.status_code == 409 and "Only members of" in refused.get_data(as_text=True)
    assert _count() == 0
    login_as(member)
    assert client.post(f"/events/{event.id}/register").status_code == 303


def test_overlapping_confirmed_seats_refused_naming_the_other(client, login_as, make_event, make_user):
    first = make_event(title="周六敬老院探访", starts_in=timedelta(days=3), hours=3)
    second = make_event(title="河道清洁", starts_in=timedelta(days=3, hours=2), hours=2)
    later = make_event(title="晚间读书会", starts_in=timedelta(days=3, hours=3), hours=1)
    login_as(make_user())
    assert client.post(f"/events/{first.id}/register").status_code == 303
    clash = client.post(f"/events/{second.id}/register")
    assert clash.status_code == 409 and "周六敬老院探访" in clash.get_data(as_text=True)
    assert _count() == 1
    assert client.post(f"/events/{later.id}/register").status_code == 303  # touching, not overlapping


def test_draft_is_404_for_volunteers_and_unknown_ids_404(client, login_as, make_event, make_user):
    draft = make_event(state="draft")
    login_as(make_user())
    assert client.get(f"/events/{draft.id}").status_code == 404
    assert client.post(f"/events/{draft.id}/register").status_code == 404
    assert client.get("/events/999999").status_code == 404
    assert client.post("/events/999999/register").status_code == 404
    assert client.post("/events/registrations/999999/cancel").status_code == 404


def test_cancelling_someone_elses_registration_is_403(client, login_as, make_event, make_user):
    event = make_event()
    owner = make_user()
    reg = register(event, owner)
    db.session.commit()
    login_as(make_user())
    assert client.post(f"/events/registrations/{reg.id}/cancel").status_code == 403
    db.session.refresh(reg)
    assert reg.state == "confirmed"
    with pytest.raises(RegistrationError) as info:
        cancel_registration(reg, make_user())
    assert info.value.code == "forbidden"


def test_leader_cancels_a_place_from_the_roster(client, login_as, make_event, make_team, make_user):
    leader = make_user()
    team = make_team(leader=leader)
    event = make_event(team=team, capacity=1)
    a, b = make_user(name="甲"), make_user(name="乙")
    ra = register(event, a)
    register(event, b)
    db.session.commit()
    login_as(leader)
    response = client.post(f"/events/registrations/{ra.id}/cancel?list=confirmed", headers=htmx())
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "乙" in body and "<html" not in body
    kinds = {
        n.user_id: n.kind
        for n in db.session.scalars(sa.select(Notification).where(Notification.user_id.in_([a.id, b.id])))
    }
    assert kinds == {a.id: "registration_cancelled", b.id: "waitlist_promoted"}


def test_volunteer_cannot_cancel_a_confirmed_place_after_the_start(app, make_event, make_user):
    event = make_event(starts_in=timedelta(days=1))
    user = make_user()
    reg = register(event, user)
    db.session.commit()
    with pytest.raises(RegistrationError) as info:
        cancel_registration(reg, user, now=event.starts_at + timedelta(minutes=5))
    assert info.value.code == "started"


def test_walk_in_outside_the_window(app, make_event, make_user):
    now = utcnow()
    event = make_event(
        starts_in=timedelta(minutes=-10), allow_walk_ins=True, capacity=1, reg_closes_at=now - timedelta(days=1)
    )
    user = make_user()
    with pytest.raises(RegistrationError) as closed:
        register(event, user)
    assert closed.value.code == "closed"
    reg = register(event, user, walk_in=True)
    db.session.commit()
    assert (reg.state, reg.walk_in) == ("confirmed", True)
    with pytest.raises(RegistrationError) as full:
        register(event, make_user(), walk_in=True)
    assert full.value.code == "full"
    no_walk_ins = make_event(starts_in=timedelta(minutes=-10))
    with pytest.raises(RegistrationError) as refused:
        register(no_walk_ins, make_user(), walk_in=True)
    assert refused.value.code == "no_walk_ins"
    assert refused.value.message == "该活动不接受现场报名。"  # outside a request: the default language
    from flask import current_app

    with current_app.test_request_context(headers={"Accept-Language": "en"}):
        assert refused.value.message == "This event does not admit walk-ins."


def test_capacity_change_refused_below_confirmed_and_raising_promotes(
    client, login_as, make_event, make_team, make_user
):
    leader = make_user()
    event = make_event(team=make_team(leader=leader), capacity=2)
    people = [make_user() for _ in range(5)]
    for p in people:
        register(event, p)
    db.session.commit()
    login_as(leader)
    low = client.post(f"/events/{event.id}/capacity", data={"capacity": "1"})
    assert low.status_code == 422 and "2 volunteers are already confirmed" in low.get_data(as_text=True)
    zero = client.post(f"/events/{event.id}/capacity", data={"capacity": "0"})
    assert zero.status_code == 422 and "from 1 to 10000" in zero.get_data(as_text=True)
    assert _fresh(event).capacity == 2
    assert client.post(f"/events/{event.id}/capacity", data={"capacity": "4"}).status_code == 303
    ev = _fresh(event)
    assert (ev.capacity, ev.confirmed_count, ev.waitlist_count) == (4, 4, 1)
    assert _waitlist(event) == [(people[4].id, 1)]
    promoted_kinds = db.session.scalars(
        sa.select(Notification.user_id).where(Notification.kind == "waitlist_promoted")
    ).all()
    assert sorted(promoted_kinds) == sorted([people[2].id, people[3].id])


def test_promote_waitlist_is_a_no_op_when_full(app, make_event, make_user):
    event = make_event(capacity=1)
    register(event, make_user())
    register(event, make_user())
    db.session.commit()
    assert promote_waitlist(event) == []
    assert change_capacity(make_user(is_admin=True), event, 1) == []


def test_my_events_lists_confirmed_waitlisted_and_past(client, login_as, make_event, make_user):
    user = login_as(make_user())
    upcoming = make_event(title="下周活动")
    full = make_event(title="满员活动", capacity=1, starts_in=timedelta(days=10))
    register(upcoming, user)
    register(full, make_user())
    register(full, user)
    past = make_event(title="上周活动", starts_in=timedelta(days=8))
    register(past, user)
    db.session.commit()
    past.starts_at = utcnow() - timedelta(days=7)
    past.ends_at = past.starts_at + timedelta(hours=2)
    past.state = "completed"
    db.session.commit()
    body = client.get("/events/mine").get_data(as_text=True)
    assert "下周活动" in body and "满员活动" in body and "Waitlist 1" in body and "上周活动" in body
    assert f"/events/feed/{user.feed_token}.ics" in body


def test_home_panel_shows_next_events(client, login_as, make_event, make_team, make_user):
    leader = make_user()
    team = make_team(leader=leader)
    event = make_event(team=team, title="周末助老")
    volunteer = make_user()
    register(event, volunteer)
    db.session.commit()
    login_as(volunteer)
    assert "周末助老" in client.get("/").get_data(as_text=True)
    login_as(leader)
    body = client.get("/").get_data(as_text=True)
    assert "Your teams" in body and "1 of 10 confirmed" in body


def test_roster_csv_has_bom_and_is_formula_safe(client, login_as, make_event, make_team, make_user):
    leader = make_user()
    event = make_event(team=make_team(leader=leader), capacity=1)
    register(event, make_user(name="=HYPERLINK(1)"))
    register(event, make_user(name="候补者"))
    db.session.commit()
    login_as(leader)
    response = client.get(f"/events/{event.id}/roster.csv", buffered=True)
    raw = response.get_data()
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text and "候补者" in text and "On the waitlist" in text
    login_as(make_user())
    assert client.get(f"/events/{event.id}/roster.csv").status_code == 403
    assert client.get(f"/events/{event.id}/roster").status_code == 403


def test_random_sequences_keep_seats_and_waitlist_exact(app, make_event, make_user, make_team):
    """Any mix of joins, cancellations (seated or waiting) and capacity changes keeps the invariants:
    seats = confirmed rows <= capacity, waitlist positions exactly 1..n in joining order, and
    nobody waits while a seat is free."""
    import random

    leader = make_user()
    event = make_event(team=make_team(leader=leader), capacity=3)
    people = [make_user(name=f"随机{i}") for i in range(14)]
    rng = random.Random(7)
    joined_order: list[int] = []  # user ids in the order they joined the waitlist
    for _step in range(120):
        db.session.expire_all()
        active = {r.user_id: r for r in _regs(event) if r.state in ("confirmed", "waitlisted")}
        op = rng.random()
        if op < 0.5:
            user = rng.choice(people)
            if user.id in active:
                with pytest.raises(RegistrationError):
                    register(event, user)
                db.session.rollback()
                continue
            reg = register(event, user)
            if reg.state == "waitlisted":
                joined_order.append(user.id)
        elif op < 0.85 and active:
            reg = rng.choice(list(active.values()))
            cancel_registration(reg, reg.user)
            if reg.user_id in joined_order:
                joined_order.remove(reg.user_id)
        else:
            ev = _fresh(event)
            change_capacity(leader, ev, max(ev.confirmed_count, 1) + rng.randint(0, 2))
        db.session.commit()
        ev = _fresh(event)
        rows = _regs(event)
        seated = [r for r in rows if r.state == "confirmed"]
        waiting = sorted((r for r in rows if r.state == "waitlisted"), key=lambda r: r.waitlist_position)
        assert ev.confirmed_count == len(seated) <= ev.capacity
        assert [r.waitlist_position for r in waiting] == list(range(1, len(waiting) + 1))
        assert ev.waitlist_count == len(waiting)
        assert not waiting or ev.confirmed_count == ev.capacity
        # promotions take the head of the queue: the waitlist keeps joining order
        promoted = [u for u in joined_order if u not in {r.user_id for r in waiting}]
        joined_order = [u for u in joined_order if u not in promoted]
        assert [r.user_id for r in waiting] == joined_order


def test_one_tap_costs_four_statements_on_postgresql(client, login_as, make_event, make_user, backend):
    """The one-tap register and cancel (htmx), counted: the signed-in user, the event's lock (the volunteer's with
    it on PostgreSQL, where BEGIN travels in the same round trip), the place check, and the write — on
    PostgreSQL the seat and the registration (or the cancellation and the freed seat) in one statement;
    SQLite, where a statement is a function call, writes them one by one. Each answer shows the new state."""
    from tests.support.queries import count_statements

    event = make_event(capacity=3)
    register_url, cancel_url = f"/events/{event.id}/register", f"/events/{event.id}/registration/cancel"
    login_as(make_user())
    writes = 1 if backend == "postgresql" else 2
    for _ in range(2):
        with count_statements(db.engine) as log:
            taken = client.post(register_url, headers=htmx())
        assert taken.status_code == 200 and "2 of 3 places left" in taken.get_data(as_text=True)
        assert len(log) == 3 + writes, str(log)
        with count_statements(db.engine) as log:
            left = client.post(cancel_url, headers=htmx())
        assert left.status_code == 200 and "3 of 3 places left" in left.get_data(as_text=True)
        assert len(log) == 3 + writes, str(log)
    db.session.expire_all()
    assert db.session.get(Event, event.id).confirmed_count == 0
    assert [r.state for r in _regs(event)] == ["cancelled", "cancelled"]
