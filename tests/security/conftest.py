"""The security scenario: objects in district A (翠屏区) and people in district B (叙州区).

`build_world(text)` makes, in district A: a youth home with a manager, a closure, a pending, an
approved and a rejected booking; a team with a leader, a member and a pending join request; events
(published, draft, running, completed, cancelled) with registrations, a service record, a correction
request, people served, a member's rating with a comment, a certificate; an assessment checklist item
and a star assessment; a notification. In district B it makes the actors — a volunteer, the leader of
another team, the manager of another youth home, the coordinator of the sibling district — each with
objects of their own, and an admin. Names of A's objects start with 甲区, B's with 乙区, so a page can
be searched for names of the other scope. `text(s)` lets a test put payloads into every free text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time, timedelta

import pytest

from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow
from blueprints.events.models import Registration
from blueprints.feedback.models import ChecklistItem, Feedback, VenueAssessment
from blueprints.feedback.services import public_token
from blueprints.hours.models import BeneficiaryCount, Certificate, CorrectionRequest, ServiceRecord
from blueprints.hours.tokens import certificate_token, scan_token
from blueprints.notifications.models import Notification
from blueprints.orgs.models import CoordinatorGrant
from blueprints.teams.models import Membership
from blueprints.venues.models import VenueManager
from tests.fixtures.events import first_category
from tests.fixtures.venues import future_day

ACTORS = ("anon", "vol", "leader", "manager", "coord", "admin")
#: rate limits high enough for a test that posts a form many times from one address. (Not
#: RATELIMIT_ENABLED=False: Flask-Limiter keeps that flag on its one shared object, so it would stay
#: off for the apps of later tests.)
GENEROUS_LIMITS = {
    "RATELIMIT_LOGIN_PER_IP": "100000 per minute",
    "RATELIMIT_LOGIN_PER_PHONE": "100000 per minute",
    "FEEDBACK_PUBLIC_LIMIT_IP": "100000 per minute",
    "FEEDBACK_PUBLIC_LIMIT_DEVICE": "100000 per minute",
}
A_MARK, B_MARK = "甲区", "乙区"


@dataclass
class World:
    ids: dict[str, int | str] = field(default_factory=dict)
    users: dict[str, object] = field(default_factory=dict)
    objects: dict[str, object] = field(default_factory=dict)

    def url(self, pattern: str) -> str:
        return pattern.format(**self.ids)


@pytest.fixture
def people() -> dict:
    """The users of the world built last (for `act`)."""
    return {}


@pytest.fixture
def build_world(
    app,
    people,
    city_tree,
    make_user,
    make_coordinator,
    make_venue,
    make_booking,
    make_closure,
    make_team,
    make_event,
):
    def _build(text: Callable[[str], str] = lambda s: s) -> World:
        w = World()
        d1, d2, c1, c2 = city_tree["d1"], city_tree["d2"], city_tree["c1"], city_tree["c2"]
        now = utcnow().replace(second=0, microsecond=0)
        u = w.users
        # --- people --------------------------------------------------------------------------------
        u["coordA"] = make_coordinator(d1, name=text("甲区团委书记"), phone="13900000001")
        u["coordA2"] = make_coordinator(d1, name="甲区副书记", phone="13900000002")
        u["managerA"] = make_user(name=text("甲区阵地管理员"), phone="13900000003", org=c1)
        u["managerA2"] = make_user(name="甲区阵地副管理员", phone="13900000004", org=c1)
        u["leaderA"] = make_user(name=text("甲区队长"), phone="13900000005", org=c1)
        u["memberA"] = make_user(name=text("甲区志愿者"), phone="13900000006", org=c1)
        u["joinerA"] = make_user(name="甲区申请入队者", phone="13900000007", org=c1)
        u["requesterA"] = make_user(name=text("甲区申请人"), phone="13900000008", org=c1)
        u["vol"] = make_user(name="乙区志愿者", phone="13900000011", org=c2)
        u["leader"] = make_user(name="乙区队长", phone="13900000012", org=c2)
        u["manager"] = make_user(name="乙区阵地管理员", phone="13900000013", org=c2)
        u["coord"] = make_coordinator(d2, name="乙区团委书记", phone="13900000014")
        u["admin"] = make_user(name="系统管理员", phone="13900000015", is_admin=True)
        # --- district A: youth home and bookings ----------------------------------------------------
        venue = make_venue(
            org=c1,
            name=text("甲区青年之家"),
            address=text("甲区人民路1号"),
            description=text("甲区青年之家简介"),
            managers=[u["managerA"]],
        )
        grant2 = VenueManager(venue_id=venue.id, user_id=u["managerA2"].id)
        db.session.add(grant2)
        closure = make_closure(venue, future_day(20), reason=text("甲区装修"))
        pending = make_booking(
            venue, u["requesterA"], day=future_day(3), start=time(9), end=time(11), purpose=text("甲区读书会")
        )
        approved = make_booking(
            venue,
            u["requesterA"],
            day=future_day(4),
            start=time(14),
            end=time(16),
            purpose=text("甲区观影会"),
            state="approved",
        )
        rejected = make_booking(
            venue,
            u["requesterA"],
            day=future_day(5),
            start=time(14),
            end=time(16),
            purpose=text("甲区联谊会"),
            state="rejected",
            decision_note=text("甲区时间不合适"),
        )
        # --- district A: team, events, registrations, hours ------------------------------------------
        team = make_team(
            org=c1,
            name=text("甲区志愿服务队"),
            leader=u["leaderA"],
            members=[u["memberA"]],
            description=text("甲区服务队简介"),
        )
        joining = Membership(team_id=team.id, user_id=u["joinerA"].id, role="member", state="pending")
        db.session.add(joining)
        db.session.flush()
        member_row = db.session.query(Membership).filter_by(team_id=team.id, user_id=u["memberA"].id).one()
        published = make_event(
            team=team,
            title=text("甲区关爱老人"),
            description=text("甲区活动说明"),
            address=text("甲区敬老院"),
            capacity=10,
            confirmed_count=1,
        )
        reg = Registration(event_id=published.id, user_id=u["memberA"].id, state="confirmed")
        draft = make_event(team=team, title=text("甲区草稿活动"), state="draft")
        running = make_event(
            team=team, title=text("甲区正在进行"), starts_in=timedelta(minutes=-30), hours=2, confirmed_count=1
        )
        running_reg = Registration(  # checked in a while ago: the page offers checking out
            event_id=running.id, user_id=u["memberA"].id, state="attended", checked_in_at=now - timedelta(minutes=20)
        )
        done = make_event(
            team=team, title=text("甲区清洁活动"), starts_in=timedelta(days=-3), hours=3, state="completed"
        )
        done.confirmed_count = 2
        done.hours_confirmed_at = done.ends_at + timedelta(hours=1)
        done_reg = Registration(event_id=done.id, user_id=u["memberA"].id, state="attended")
        # the leader served too and has not rated yet: the rating form shows
        leader_reg = Registration(event_id=done.id, user_id=u["leaderA"].id, state="attended")
        cancelled = make_event(
            team=team, title=text("甲区取消的活动"), state="cancelled", cancel_reason=text("甲区下雨")
        )
        db.session.add_all([reg, running_reg, done_reg, leader_reg])
        db.session.flush()
        record = ServiceRecord(
            volunteer_id=u["memberA"].id,
            event_id=done.id,
            registration_id=done_reg.id,
            minutes=180,
            source="leader",
            recorded_by_id=u["leaderA"].id,
            served_at=done.starts_at,
            org_id=done.org_id,
        )
        db.session.add(record)
        db.session.flush()
        correction = CorrectionRequest(
            volunteer_id=u["memberA"].id,
            event_id=done.id,
            record_id=record.id,
            requested_minutes=240,
            message=text("甲区少记了一小时"),
        )
        served = BeneficiaryCount(event_id=done.id, category="elderly", count=12, note=text("甲区老人"))
        rating = Feedback(event_id=done.id, user_id=u["memberA"].id, rating=4, comment=text("甲区活动很好"))
        certificate = Certificate(
            number="QY-TEST-000001",
            volunteer_id=u["memberA"].id,
            issued_by_id=u["leaderA"].id,
            org_id=c1.id,
            period_start=(now - timedelta(days=30)).date(),
            period_end=now.date(),
            minutes=180,
            events_count=1,
            events_detail=[{"title": done.title, "date": done.starts_at.date().isoformat(), "minutes": 180}],
        )
        item = ChecklistItem(org_id=d1.id, title=text("甲区环境整洁"), max_score=10)
        assessment = VenueAssessment(
            venue_id=venue.id,
            assessor_id=u["coordA"].id,
            stars=4,
            scores={},
            total=40,
            max_total=50,
            note=text("甲区评定意见"),
        )
        note = Notification(
            user_id=u["memberA"].id,
            kind="waitlist_promoted",
            params={"title": published.title, "when": "x"},
            link=f"/events/{published.id}",
        )
        db.session.add_all([correction, served, rating, certificate, item, assessment, note])
        db.session.flush()
        grant_a2 = db.session.query(CoordinatorGrant).filter_by(user_id=u["coordA2"].id).one()
        # --- district B: the actors' own objects ----------------------------------------------------
        venue_b = make_venue(org=c2, name="乙区青年之家", address="乙区路2号", managers=[u["manager"]])
        make_booking(venue_b, u["vol"], day=future_day(3), purpose="乙区会议")
        team_b = make_team(org=c2, name="乙区志愿服务队", leader=u["leader"], members=[u["vol"]])
        member_b_row = db.session.query(Membership).filter_by(team_id=team_b.id, user_id=u["vol"].id).one()
        event_b = make_event(team=team_b, title="乙区植树活动", capacity=10, starts_in=timedelta(days=6))
        done_b = make_event(team=team_b, title="乙区敬老活动", starts_in=timedelta(days=-4), state="completed")
        done_b.confirmed_count = 1
        done_b.hours_confirmed_at = done_b.ends_at
        reg_b = Registration(event_id=done_b.id, user_id=u["vol"].id, state="attended")
        db.session.add(reg_b)
        db.session.flush()
        record_b = ServiceRecord(
            volunteer_id=u["vol"].id,
            event_id=done_b.id,
            registration_id=reg_b.id,
            minutes=120,
            source="leader",
            recorded_by_id=u["leader"].id,
            served_at=done_b.starts_at,
            org_id=done_b.org_id,
        )
        db.session.add(record_b)
        db.session.flush()
        db.session.add_all(
            [
                CorrectionRequest(
                    volunteer_id=u["vol"].id,
                    event_id=done_b.id,
                    record_id=record_b.id,
                    requested_minutes=150,
                    message="乙区请更正",
                ),
                Feedback(event_id=done_b.id, user_id=u["vol"].id, rating=5, comment="乙区很满意"),
                BeneficiaryCount(event_id=done_b.id, category="elderly", count=7),
                Registration(event_id=event_b.id, user_id=u["vol"].id, state="confirmed"),
                ChecklistItem(org_id=d2.id, title="乙区设施完好", max_score=10),
            ]
        )
        event_b.confirmed_count = 1
        db.session.commit()
        people.clear()
        people.update(u)
        w.objects.update(
            venue=venue, team=team, published=published, draft=draft, running=running, done=done, record=record
        )
        w.ids.update(
            city=city_tree["city"].id,
            d1=d1.id,
            d2=d2.id,
            c1=c1.id,
            c2=c2.id,
            venue=venue.id,
            venue_b=venue_b.id,
            closure=closure.id,
            grant2=grant2.id,
            pending=pending.id,
            approved=approved.id,
            rejected=rejected.id,
            team=team.id,
            team_b=team_b.id,
            joining=joining.id,
            member_row=member_row.id,
            published=published.id,
            draft=draft.id,
            running=running.id,
            running_reg=running_reg.id,
            done=done.id,
            done_b=done_b.id,
            cancelled=cancelled.id,
            reg=reg.id,
            done_reg=done_reg.id,
            record=record.id,
            correction=correction.id,
            rating=rating.id,
            certificate=certificate.id,
            item=item.id,
            notification=note.id,
            grant_a2=grant_a2.id,
            category=first_category().id,
            member=u["memberA"].id,
            member_token=u["memberA"].feed_token,
            requester_token=u["requesterA"].feed_token,
            scan_token=scan_token(running.id, "in", utcnow()),
            public_token=public_token(done),
            certificate_token=certificate_token(certificate.id),
            event_b=event_b.id,
            member_b_row=member_b_row.id,
        )
        return w

    return _build


@pytest.fixture
def world(build_world) -> World:
    return build_world()


@pytest.fixture
def act(client, people):
    """act(actor, method, url, **kw): one request as `actor` (a key of World.users, or "anon"),
    signed in afresh each time (a logout or a role change by an earlier request does not carry over)."""

    def _act(actor: str, method: str, url: str, **kwargs):
        with client.session_transaction() as sess:
            sess.clear()
            if actor != "anon":
                sess["_user_id"] = str(people[actor].id)
                sess["_fresh"] = True
        return client.open(url, method=method, **kwargs)

    return _act
