"""Events: leaders create and edit (422 on bad input, 403 for other teams), publish, cancel with a reason,
complete; registrants hear about a new time or place; service categories."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import to_local, utcnow
from blueprints.events.models import DEFAULT_CATEGORIES, Event, EventCategory, Registration
from blueprints.events.services import categories, register
from blueprints.notifications.models import Notification
from tests.conftest import htmx
from tests.fixtures.events import first_category


def _local(dt) -> str:
    return to_local(dt).strftime("%Y-%m-%dT%H:%M")


def _form(**overrides) -> dict:
    start = (utcnow() + timedelta(days=4)).replace(minute=0, second=0, microsecond=0)
    data = {
        "title": "周末敬老院探访",
        "description": "陪老人聊天、读报",
        "category_id": str(first_category().id),
        "starts_at": _local(start),
        "ends_at": _local(start + timedelta(hours=3)),
        "booking_id": "",
        "address": "幸福路12号",
        "capacity": "15",
        "reg_opens_at": "",
        "reg_closes_at": _local(start - timedelta(hours=12)),
        "planned_hours": "2.5",
        "action": "publish",
    }
    data.update(overrides)
    return data


def _events() -> list[Event]:
    return list(db.session.scalars(sa.select(Event).order_by(Event.id)))


def test_leader_creates_and_publishes_an_event(client, login_as, make_team, make_user):
    leader = make_user()
    team = make_team(leader=leader)
    login_as(leader)
    assert client.get(f"/events/new?team={team.id}").status_code == 200
    response = client.post(f"/events/new?team={team.id}", data=_form(members_only="y"))
    assert response.status_code == 303
    [event] = _events()
    assert (event.state, event.team_id, event.org_id, event.capacity) == ("published", team.id, team.org_id, 15)
    assert event.planned_minutes == 150 and event.members_only and event.address == "幸福路12号"
    assert event.ends_at - event.starts_at == timedelta(hours=3)
    draft = client.post(f"/events/new?team={team.id}", data=_form(action="draft", title="草稿活动"))
    assert draft.status_code == 303 and _events()[-1].state == "draft"
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "event.publish"))


def test_bad_event_input_is_422_with_messages_and_nothing_written(client, login_as, make_team, make_user):
    leader = make_user()
    team = make_team(leader=leader)
    login_as(leader)
    url = f"/events/new?team={team.id}"
    start = (utcnow() + timedelta(days=4)).replace(second=0, microsecond=0)
    cases = [
        (
            _form(ends_at=_local(start - timedelta(hours=1)), starts_at=_local(start)),
            "The end must be after the start.",
        ),
        (_form(capacity="0"), "from 1 to 10000"),
        (_form(capacity="-5"), "from 1 to 10000"),
        (_form(capacity=""), "how many volunteers"),
        (
            _form(
                starts_at=_local(start),
                ends_at=_local(start + timedelta(hours=2)),
                reg_closes_at=_local(start + timedelta(hours=1)),
            ),
            "Registration must close before the event starts.",
        ),
        (_form(title="  "), "Enter a title."),
        (_form(address=""), "Give an address"),
        (_form(category_id="999999"), "Not a valid choice"),
        (_form(starts_at="tomorrow"), "Enter a date and time."),
    ]
    for data, message in cases:
        response = client.post(url, data=data, headers=htmx())
        body = response.get_data(as_text=True)
        assert response.status_code == 422, message
        assert message in body, message
        assert "<html" not in body
    assert _events() == []


def test_other_teams_leader_gets_403(client, login_as, make_team, make_event, make_user):
    team = make_team(leader=make_user())
    event = make_event(team=team)
    intruder = make_user()
    make_team(leader=intruder)
    login_as(intruder)
    assert client.get(f"/events/new?team={team.id}").status_code == 403
    assert client.post(f"/events/new?team={team.id}", data=_form()).status_code == 403
    assert client.get(f"/events/{event.id}/edit").status_code == 403
    assert client.post(f"/events/{event.id}/edit", data=_form(title="改名")).status_code == 403
    assert client.post(f"/events/{event.id}/cancel", data={"reason": "x"}).status_code == 403
    assert client.post(f"/events/{event.id}/capacity", data={"capacity": "99"}).status_code == 403
    assert client.post(f"/events/{event.id}/publish").status_code == 403
    db.session.refresh(event)
    assert (event.title, event.state, event.capacity) != ("改名", "cancelled", 99)
    assert event.state == "published"


def test_coordinator_in_scope_manages_and_sibling_does_not(
    client, login_as, city_tree, make_team, make_event, make_coordinator
):
    event = make_event(team=make_team(org=city_tree["c1"]))
    login_as(make_coordinator(city_tree["d2"]))
    assert client.get(f"/events/{event.id}/roster").status_code == 403
    login_as(make_coordinator(city_tree["d1"]))
    assert client.get(f"/events/{event.id}/roster").status_code == 200


def test_editing_time_of_published_event_notifies_registrants(client, login_as, make_team, make_event, make_user):
    leader = make_user()
    event = make_event(team=make_team(leader=leader), capacity=1)
    a, b, gone = make_user(), make_user(), make_user()
    register(event, a)
    register(event, b)  # waitlisted: told as well
    reg = register(event, gone)
    db.session.commit()
    from blueprints.events.services import cancel_registration

    cancel_registration(reg, gone)
    db.session.commit()
    login_as(leader)
    new_start = event.starts_at + timedelta(days=1)
    data = _form(
        title=event.title,
        starts_at=_local(new_start),
        ends_at=_local(new_start + timedelta(hours=2)),
        reg_closes_at="",
        capacity="1",
        address=event.address,
    )
    assert client.post(f"/events/{event.id}/edit", data=data).status_code == 303
    notes = list(db.session.scalars(sa.select(Notification).where(Notification.kind == "event_changed")))
    assert sorted(n.user_id for n in notes) == sorted([a.id, b.id])
    assert to_local(new_start).strftime("%Y-%m-%d %H:%M") in notes[0].params["when"]
    # only the description changed: nobody is told
    data["description"] = "多带一把伞"
    assert client.post(f"/events/{event.id}/edit", data=data).status_code == 303
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Notification).where(Notification.kind == "event_changed")
        )
        == 2
    )


def test_edit_capacity_below_confirmed_is_422(client, login_as, make_team, make_event, make_user):
    leader = make_user()
    event = make_event(team=make_team(leader=leader), capacity=3)
    for _ in range(3):
        register(event, make_user())
    db.session.commit()
    login_as(leader)
    data = _form(
        title="新标题", capacity="2", reg_closes_at="", starts_at=_local(event.starts_at), ends_at=_local(event.ends_at)
    )
    response = client.post(f"/events/{event.id}/edit", data=data)
    assert response.status_code == 422 and "3 volunteers are already confirmed" in response.get_data(as_text=True)
    db.session.expire_all()
    assert (db.session.get(Event, event.id).title, db.session.get(Event, event.id).capacity) != ("新标题", 2)


def test_cancel_needs_a_reason_and_notifies(client, login_as, make_team, make_event, make_user):
    leader = make_user()
    event = make_event(team=make_team(leader=leader), capacity=1)
    a, b = make_user(), make_user()
    register(event, a)
    register(event, b)
    db.session.commit()
    login_as(leader)
    empty = client.post(f"/events/{event.id}/cancel", data={"reason": "   "})
    assert empty.status_code == 422 and "Give a reason" in empty.get_data(as_text=True)
    db.session.refresh(event)
    assert event.state == "published"
    assert client.post(f"/events/{event.id}/cancel", data={"reason": "暴雨预警"}).status_code == 303
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert (event.state, event.cancel_reason, event.confirmed_count, event.waitlist_count) == (
        "cancelled",
        "暴雨预警",
        0,
        0,
    )
    notes = list(db.session.scalars(sa.select(Notification).where(Notification.kind == "event_cancelled")))
    assert sorted(n.user_id for n in notes) == sorted([a.id, b.id]) and notes[0].params["reason"] == "暴雨预警"
    assert set(db.session.scalars(sa.select(Registration.state))) == {"cancelled"}
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "暴雨预警" in page


def test_publish_and_complete(client, login_as, make_team, make_event, make_user):
    leader = make_user()
    team = make_team(leader=leader)
    draft = make_event(team=team, state="draft")
    running = make_event(team=team, starts_in=timedelta(hours=-1))
    login_as(leader)
    assert "Publish" in client.get(f"/events/{draft.id}").get_data(as_text=True)
    assert client.post(f"/events/{draft.id}/publish").status_code == 303
    assert client.post(f"/events/{draft.id}/complete").status_code == 409  # not started yet
    assert client.post(f"/events/{running.id}/complete").status_code == 303
    db.session.expire_all()
    assert db.session.get(Event, draft.id).state == "published"
    assert db.session.get(Event, running.id).state == "completed"


def test_event_at_an_approved_booking_of_a_leader(client, login_as, make_team, make_user, make_event_booking):
    leader = make_user()
    team = make_team(leader=leader)
    booking = make_event_booking(leader, starts_in=timedelta(days=5), hours=4)
    other_booking = make_event_booking(make_user(), starts_in=timedelta(days=6), venue_name="别家青年之家")
    login_as(leader)
    form_page = client.get(f"/events/new?team={team.id}").get_data(as_text=True)
    assert "向阳青年之家" in form_page and "别家青年之家" not in form_page
    start = booking.starts_at + timedelta(minutes=30)
    data = _form(
        booking_id=str(booking.id),
        address="",
        starts_at=_local(start),
        ends_at=_local(start + timedelta(hours=2)),
        reg_closes_at="",
    )
    assert client.post(f"/events/new?team={team.id}", data=data).status_code == 303
    event = _events()[-1]
    assert event.booking_id == booking.id
    assert "向阳青年之家" in client.get(f"/events/{event.id}").get_data(as_text=True)
    # outside the booked time: refused with a message
    late = _form(
        booking_id=str(booking.id),
        address="",
        starts_at=_local(booking.ends_at),
        ends_at=_local(booking.ends_at + timedelta(hours=1)),
        reg_closes_at="",
    )
    refused = client.post(f"/events/new?team={team.id}", data=late)
    assert refused.status_code == 422
    # someone else's booking is not a valid choice
    theirs = client.post(f"/events/new?team={team.id}", data=_form(booking_id=str(other_booking.id), address=""))
    assert theirs.status_code == 422 and len(_events()) == 1


def test_categories_are_seeded_lazily_and_admin_manages_them(client, login_as, make_user):
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EventCategory)) == 0
    assert [c.name_zh for c in categories()] == [zh for _code, zh, _en in DEFAULT_CATEGORIES]
    db.session.commit()
    login_as(make_user())
    assert client.get("/events/categories").status_code == 403
    login_as(make_user(is_admin=True))
    assert "关爱儿童" in client.get("/events/categories").get_data(as_text=True)
    bad = client.post("/events/categories", data={"new-code": "Bad Code", "new-name_zh": "", "new-name_en": "x"})
    assert bad.status_code == 422
    assert (
        client.post(
            "/events/categories", data={"new-code": "reading", "new-name_zh": "阅读推广", "new-name_en": "Reading"}
        ).status_code
        == 303
    )
    dup = client.post("/events/categories", data={"new-code": "reading", "new-name_zh": "重复", "new-name_en": "Dup"})
    assert dup.status_code == 422 and "already has this code" in dup.get_data(as_text=True)
    reading = db.session.scalar(sa.select(EventCategory).where(EventCategory.code == "reading"))
    assert (
        client.post(
            f"/events/categories/{reading.id}",
            data={"name_zh": "全民阅读", "name_en": "Reading for all", "position": "3"},
        ).status_code
        == 303
    )
    assert client.post(f"/events/categories/{reading.id}/toggle").status_code == 303
    db.session.expire_all()
    reading = db.session.get(EventCategory, reading.id)
    assert (reading.name_zh, reading.active) == ("全民阅读", False)
    assert reading.id not in [c.id for c in categories()]
    assert client.post("/events/categories/999999/toggle").status_code == 404
