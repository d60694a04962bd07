"""Approval queue: approve / reject inline, collisions, auto-rejection, state errors, scope, badge, cancel."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import local_to_utc, local_today, utcnow
from blueprints.notifications.models import Notification
from blueprints.venues.models import Booking, VenueManager
from blueprints.venues.services import SLOT_TAKEN_NOTE
from tests.conftest import htmx
from tests.fixtures.venues import future_day


def _fresh(booking: Booking) -> Booking:
    db.session.expire_all()
    return db.session.get(Booking, booking.id)


def _actions(action: str) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _notes(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)))


@pytest.fixture
def world(city_tree, make_venue, make_manager, make_user, make_booking):
    venue = make_venue(org=city_tree["c1"], name="向阳社区青空间")
    other_venue = make_venue(org=city_tree["c2"], name="幸福社区青空间")
    manager = make_manager(venue, name="管理员甲")
    other_manager = make_manager(other_venue, name="管理员乙")
    alice, bob, carol = (make_user(name=n) for n in ("小艾", "小博", "小卡"))
    a = make_booking(venue, alice, start=time(9), end=time(11), purpose="A 读书会")
    b = make_booking(venue, bob, start=time(10), end=time(12), purpose="B 团日活动")
    c = make_booking(venue, carol, start=time(11), end=time(12), purpose="C 不重叠A")
    return {
        "venue": venue,
        "other_venue": other_venue,
        "manager": manager,
        "other_manager": other_manager,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "a": a,
        "b": b,
        "c": c,
    }


def test_queue_shows_pending_with_collisions(client, login_as, world):
    login_as(world["manager"])
    html = client.get("/venues/approvals").get_data(as_text=True)
    assert "A 读书会" in html and "B 团日活动" in html and "C 不重叠A" in html
    assert "Collides with 1 other request(s)" in html  # A overlaps B; C overlaps B only
    assert "Collides with 2 other request(s)" in html  # B overlaps A and C
    fragment = client.get("/venues/approvals", headers=htmx()).get_data(as_text=True)
    assert "<html" not in fragment and 'id="queue"' in fragment


def test_approve_rejects_overlapping_pending_with_reason(client, login_as, world):
    login_as(world["manager"])
    response = client.post(f"/venues/bookings/{world['a'].id}/approve")
    assert response.status_code == 303
    a, b, c = (_fresh(world[k]) for k in "abc")
    assert a.state == "approved" and a.decided_by_id == world["manager"].id and a.decided_at is not None
    assert b.state == "rejected" and b.decision_note == SLOT_TAKEN_NOTE
    assert c.state == "pending"  # 11:00-12:00 touches A's end (11:00) but does not overlap it
    assert [e.object_id for e in _actions("booking.approve")] == [a.id]
    rejects = _actions("booking.reject")
    assert [e.object_id for e in rejects] == [b.id] and rejects[0].detail["automatic"] is True
    assert [n.kind for n in _notes(world["alice"])] == ["booking_approved"]
    assert [n.kind for n in _notes(world["bob"])] == ["booking_slot_taken"]
    flash = client.get("/venues/approvals").get_data(as_text=True)
    assert "1 overlapping request(s) were rejected (time slot taken)." in flash
    mine = client.get(f"/venues/bookings/{b.id}")
    assert mine.status_code == 200  # the manager may open it
    login_as(world["bob"])
    page = client.get("/venues/bookings/mine").get_data(as_text=True)
    assert "Rejected" in page and "time slot taken" in page


def test_htmx_approve_swaps_the_row_and_updates_badge_and_settled_rows_out_of_band(client, login_as, world):
    login_as(world["manager"])
    page = client.get("/venues/approvals").get_data(as_text=True)
    assert 'id="badge-approvals" class="badge"' in page and ">3<" in page
    response = client.post(f"/venues/bookings/{world['a'].id}/approve", headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith(f'<li class="list-item queue-row" id="booking-{world["a"].id}"')
    assert f'id="booking-{world["b"].id}" hx-swap-oob="true"' in html and "time slot taken" in html
    badge = html.split('id="badge-approvals"', 1)[1].split("</span>", 2)
    assert 'hx-swap-oob="true"' in html.split('id="badge-approvals"', 1)[1][:80]
    assert "1" in "".join(badge[:2])  # only C is left
    assert 'id="flash"' in html and "Approved:" in html


def test_reject_needs_a_reason_and_tells_the_requester(client, login_as, world):
    login_as(world["manager"])
    b = world["b"]
    response = client.post(f"/venues/bookings/{b.id}/reject", data={"reason": "   "})
    assert response.status_code == 422 and "Give a reason for the rejection." in response.get_data(as_text=True)
    response = client.post(f"/venues/bookings/{b.id}/reject", data={}, headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in html and 'id="reason-' in html
    assert "Give a reason for the rejection." in html
    assert _fresh(b).state == "pending" and not _actions("booking.reject")
    response = client.post(f"/venues/bookings/{b.id}/reject", data={"reason": "当天另有安排"})
    assert response.status_code == 303
    b = _fresh(b)
    assert (b.state, b.decision_note, b.decided_by_id) == ("rejected", "当天另有安排", world["manager"].id)
    assert _actions("booking.reject")[0].detail["reason"] == "当天另有安排"
    note = _notes(world["bob"])[0]
    assert note.kind == "booking_rejected" and note.params["reason"] == "当天另有安排"


@pytest.mark.parametrize("state", ["approved", "rejected", "cancelled"])
def test_deciding_a_decided_or_cancelled_request_changes_nothing(client, login_as, world, state):
    a = world["a"]
    a.state = state
    a.decision_note = "已拒绝" if state == "rejected" else None
    db.session.commit()
    login_as(world["manager"])
    expected = {
        "approved": "This request was already approved.",
        "rejected": "This request was already rejected: 已拒绝.",
        "cancelled": "This request was cancelled by the person who made it.",
    }[state]
    for action, data in (("approve", {}), ("reject", {"reason": "再拒一次"})):
        response = client.post(f"/venues/bookings/{a.id}/{action}", data=data, headers=htmx())
        assert response.status_code == 409 and expected in response.get_data(as_text=True)
        response = client.post(f"/venues/bookings/{a.id}/{action}", data=data)
        assert response.status_code == 303
        assert expected in client.get("/venues/approvals").get_data(as_text=True)
    fresh = _fresh(a)
    assert fresh.state == state and fresh.decided_by_id is None
    assert _fresh(world["b"]).state == "pending"
    assert not _actions("booking.approve") and not _actions("booking.reject")
    assert not _notes(world["alice"])


def test_manager_of_another_home_gets_403(client, login_as, world):
    login_as(world["other_manager"])
    a = world["a"]
    assert client.post(f"/venues/bookings/{a.id}/approve").status_code == 403
    assert client.post(f"/venues/bookings/{a.id}/reject", data={"reason": "x"}).status_code == 403
    assert client.get(f"/venues/bookings/{a.id}").status_code == 403
    assert client.get(f"/venues/{world['venue'].id}/manage").status_code == 403
    assert client.post(f"/venues/{world['venue'].id}/hours", data={"day0": "09:00-10:00"}).status_code == 403
    assert "A 读书会" not in client.get("/venues/approvals").get_data(as_text=True)
    assert _fresh(a).state == "pending"


def test_plain_user_and_requester_cannot_decide(client, login_as, world):
    login_as(world["alice"])
    assert client.get("/venues/approvals").status_code == 403
    assert client.post(f"/venues/bookings/{world['a'].id}/approve").status_code == 403
    assert client.get(f"/venues/bookings/{world['a'].id}").status_code == 200  # her own
    assert client.get(f"/venues/bookings/{world['b'].id}").status_code == 403  # someone else's
    assert _fresh(world["a"]).state == "pending"


def test_unknown_ids_404(client, login_as, world):
    login_as(world["manager"])
    for url in ("/venues/bookings/9999/approve", "/venues/bookings/9999/reject", "/venues/bookings/9999/cancel"):
        assert client.post(url, data={"reason": "x"}).status_code == 404
    assert client.get("/venues/bookings/9999").status_code == 404
    assert client.get("/venues/9999").status_code == 404
    assert client.get("/venues/9999/calendar").status_code == 404
    assert client.get("/venues/9999/calendar.ics").status_code == 404
    assert client.get("/venues/9999/manage").status_code == 404
    assert client.post(f"/venues/{world['venue'].id}/closures/9999/delete").status_code == 404
    assert client.post(f"/venues/{world['venue'].id}/managers/9999/revoke").status_code == 403  # manager, not admin


def test_coordinator_above_may_decide_sibling_coordinator_may_not(client, login_as, world, city_tree, make_coordinator):
    login_as(make_coordinator(city_tree["d2"], name="邻区书记"))
    assert client.post(f"/venues/bookings/{world['a'].id}/approve").status_code == 403
    login_as(make_coordinator(city_tree["d1"], name="区书记"))
    assert "A 读书会" in client.get("/venues/approvals").get_data(as_text=True)
    assert client.post(f"/venues/bookings/{world['a'].id}/approve").status_code == 303
    assert _fresh(world["a"]).state == "approved"


def test_database_invariant_violation_becomes_a_message(client, login_as, world, make_booking):
    """An approved booking that appeared behind the service's back: the DB refuses, the user reads why."""
    venue = world["venue"]
    # written straight to the table, as another machine's approval would be
    db.session.execute(sa.update(Booking).where(Booking.id == world["c"].id).values(state="approved"))
    db.session.commit()
    login_as(world["manager"])
    response = client.post(f"/venues/bookings/{world['b'].id}/approve", headers=htmx())
    assert response.status_code == 409
    assert "That time slot was just taken by another approved booking." in response.get_data(as_text=True)
    assert _fresh(world["b"]).state == "pending"
    response = client.post(f"/venues/bookings/{world['b'].id}/approve")
    assert response.status_code == 303
    assert "That time slot was just taken" in client.get("/venues/approvals").get_data(as_text=True)
    assert not _actions("booking.approve")
    approved = db.session.scalars(sa.select(Booking).where(Booking.venue_id == venue.id, Booking.state == "approved"))
    assert [b.id for b in approved] == [world["c"].id]


def test_started_request_can_no_longer_be_approved(client, login_as, world, make_booking):
    now = utcnow()
    started = make_booking(world["venue"], day=local_today(), start=time(0), end=time(0, 30))
    started.starts_at, started.ends_at = now - timedelta(minutes=5), now + timedelta(minutes=30)
    db.session.commit()
    login_as(world["manager"])
    response = client.post(f"/venues/bookings/{started.id}/approve", headers=htmx())
    assert response.status_code == 409 and "already begun" in response.get_data(as_text=True)
    assert _fresh(started).state == "pending"


def test_badge_counts_only_what_the_user_may_decide(client, login_as, world, make_booking):
    make_booking(world["other_venue"], start=time(9), end=time(10))
    login_as(world["other_manager"])
    page = client.get("/venues/").get_data(as_text=True)
    assert '<span id="badge-approvals" class="badge"><span class="visually-hidden">(</span>1<' in page
    login_as(world["manager"])
    page = client.get("/venues/").get_data(as_text=True)
    assert '<span id="badge-approvals" class="badge"><span class="visually-hidden">(</span>3<' in page
    login_as(world["alice"])
    assert 'id="badge-approvals"' not in client.get("/venues/").get_data(as_text=True)  # no Approvals link


def test_coordinators_badge_counts_the_homes_below_their_grants(
    client, login_as, world, city_tree, make_coordinator, make_booking
):
    make_booking(world["other_venue"], start=time(9), end=time(10))  # c2, in district d2
    badge = '<span id="badge-approvals" class="badge"><span class="visually-hidden">(</span>{}<'
    for org, expected in (("city", 4), ("d1", 3), ("t2", 1), ("c1", 3)):
        login_as(make_coordinator(city_tree[org], name=f"协调员{org}"))
        assert badge.format(expected) in client.get("/venues/").get_data(as_text=True), org
    # a coordinator of d2 who also manages the d1 home counts both
    both = make_coordinator(city_tree["d2"], name="兼任")
    db.session.add(VenueManager(venue_id=world["venue"].id, user_id=both.id))
    db.session.commit()
    login_as(both)
    assert badge.format(4) in client.get("/venues/").get_data(as_text=True)


def test_cancel_approved_frees_the_slot(client, login_as, world):
    login_as(world["manager"])
    client.post(f"/venues/bookings/{world['a'].id}/approve")
    login_as(world["alice"])
    response = client.post(f"/venues/bookings/{world['a'].id}/cancel", headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and "Cancelled" in html
    a = _fresh(world["a"])
    assert a.state == "cancelled" and a.cancelled_at is not None
    assert _actions("booking.cancel")[0].detail["was"] == "approved"
    assert [n.kind for n in _notes(world["manager"])] == ["booking_cancelled"]
    # the slot is free again: a new request for it is accepted and can be approved
    data = {"day": future_day().isoformat(), "start": "09:00", "end": "11:00", "purpose": "再约", "attendees": "5"}
    assert client.post(f"/venues/{world['venue'].id}/book", data=data).status_code == 303
    new = db.session.scalar(sa.select(Booking).where(Booking.purpose == "再约"))
    login_as(world["manager"])
    assert client.post(f"/venues/bookings/{new.id}/approve").status_code == 303
    assert _fresh(new).state == "approved"


def test_cancel_rules(client, login_as, world, make_booking):
    login_as(world["bob"])
    assert client.post(f"/venues/bookings/{world['a'].id}/cancel").status_code == 403  # not his
    assert _fresh(world["a"]).state == "pending"
    login_as(world["alice"])
    assert client.post(f"/venues/bookings/{world['a'].id}/cancel").status_code == 303
    again = client.post(f"/venues/bookings/{world['a'].id}/cancel", headers=htmx())
    assert again.status_code == 409 and "already cancelled" in again.get_data(as_text=True)
    past = make_booking(world["venue"], world["alice"], day=local_today() - timedelta(days=1), state="approved")
    response = client.post(f"/venues/bookings/{past.id}/cancel", headers=htmx())
    assert response.status_code == 409 and "already begun" in response.get_data(as_text=True)
    assert _fresh(past).state == "approved"
    assert len(_actions("booking.cancel")) == 1


def test_my_bookings_shows_decision_reason_and_feed(client, login_as, world, make_booking):
    make_booking(
        world["venue"],
        world["alice"],
        day=future_day(4),
        state="rejected",
        decision_note="人数太多",
        decided_by_id=world["manager"].id,
        decided_at=utcnow(),
    )
    make_booking(
        world["venue"], world["alice"], day=local_today() - timedelta(days=3), state="approved", purpose="上周的活动"
    )
    login_as(world["alice"])
    html = client.get("/venues/bookings/mine").get_data(as_text=True)
    assert "人数太多" in html and "Decided by 管理员甲" in html and "上周的活动" not in html
    assert f"/venues/feed/{world['alice'].feed_token}.ics" in html
    past = client.get("/venues/bookings/mine?show=past").get_data(as_text=True)
    assert "上周的活动" in past and "人数太多" not in past


def test_approved_request_start_in_local_zone(app, world):
    a = world["a"]
    assert a.starts_at == local_to_utc(future_day(), time(9))


def test_queue_filter_is_a_name_search_when_many_homes_have_requests(client, login_as, world, monkeypatch):
    """A city coordinator's queue has requests from hundreds of homes: instead of a list of every home
    (kilobytes of <option>), a name search; a percent sign or underscore is matched literally."""
    from blueprints.venues import routes

    login_as(world["manager"])
    page = client.get("/venues/approvals").get_data(as_text=True)
    assert 'name="home"' not in page  # one home: no filter at all
    monkeypatch.setattr(routes, "QUEUE_FILTER_LIST", 0)
    page = client.get("/venues/approvals").get_data(as_text=True)
    assert 'name="home"' in page and 'name="venue"' not in page and 'for="queue-home"' in page
    assert "A 读书会" in page
    found = client.get("/venues/approvals?home=向阳").get_data(as_text=True)
    assert "A 读书会" in found and 'value="向阳"' in found
    for missing in ("幸福", "%", "_", "a" * 300):
        response = client.get("/venues/approvals", query_string={"home": missing})
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and "A 读书会" not in html, missing
        assert "No requests are waiting at a youth home whose name contains" in html, missing
    fragment = client.get("/venues/approvals?home=青空间", headers=htmx()).get_data(as_text=True)
    assert "<html" not in fragment and "B 团日活动" in fragment
