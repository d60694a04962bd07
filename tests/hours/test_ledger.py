"""The append-only ledger: corrections supersede, requests (补录申请) are approved or rejected, and no
code path updates or deletes a service record."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.hours.models import CorrectionRequest, ServiceRecord, effective_records
from blueprints.notifications.models import Notification
from tests.conftest import htmx


def _effective(volunteer) -> list[ServiceRecord]:
    db.session.expire_all()
    return list(db.session.scalars(effective_records().where(ServiceRecord.volunteer_id == volunteer.id)))


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def h_confirmed(h_world, h_make_record):
    """h_world with the hours confirmed: the volunteer has a 2-hour record recorded by the leader."""
    from blueprints.core.timeutil import utcnow

    h_world.event.hours_confirmed_at = utcnow()
    h_world.registration.state = "attended"
    db.session.commit()
    record = h_make_record(
        h_world.event,
        h_world.volunteer,
        minutes=120,
        registration_id=h_world.registration.id,
        recorded_by_id=h_world.leader.id,
    )
    h_world.record = record
    return h_world


# --- corrections --------------------------------------------------------------------------------


def test_correction_supersedes_with_reason(client, login_as, h_confirmed):
    world = h_confirmed
    login_as(world.leader)
    form = client.get(f"/hours/records/{world.record.id}/correct").get_data(as_text=True)
    assert 'value="2' in form  # prefilled with the recorded hours
    response = client.post(
        f"/hours/records/{world.record.id}/correct", data={"hours": "2.5", "reason": "实际服务到 11:30"}
    )
    assert response.status_code == 303
    effective = _effective(world.volunteer)
    assert [(r.minutes, r.source, r.supersedes_id, r.reason) for r in effective] == [
        (150, "correction", world.record.id, "实际服务到 11:30")
    ]
    original = db.session.get(ServiceRecord, world.record.id)
    assert original.minutes == 120 and original.source == "leader"  # untouched
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "hours.correct"))
    assert audit.detail["old_minutes"] == 120 and audit.detail["new_minutes"] == 150
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "hours_corrected"))
    assert note.user_id == world.volunteer.id
    # the superseded record cannot be corrected a second time
    again = client.post(f"/hours/records/{world.record.id}/correct", data={"hours": "3", "reason": "再改"})
    assert again.status_code == 422 and "already corrected" in again.get_data(as_text=True)
    assert _count(ServiceRecord) == 2


@pytest.mark.parametrize(
    "data, message",
    [
        ({"hours": "2", "reason": ""}, "Say why the hours change"),
        ({"hours": "2", "reason": "   "}, "Say why the hours change"),
        ({"hours": "-1", "reason": "负数"}, "between 0 and 24 hours"),
        ({"hours": "24.5", "reason": "太多"}, "between 0 and 24 hours"),
        ({"hours": "1000", "reason": "太多"}, "between 0 and 24 hours"),
        ({"hours": "NaN", "reason": "不是数"}, "between 0 and 24 hours"),
        ({"hours": "abc", "reason": "不是数"}, "Not a valid decimal"),
        ({"hours": "", "reason": "空"}, "Enter the hours"),
    ],
)
def test_bad_corrections_are_422(client, login_as, h_confirmed, data, message):
    login_as(h_confirmed.leader)
    for headers in ({}, htmx()):
        response = client.post(f"/hours/records/{h_confirmed.record.id}/correct", data=data, headers=headers)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert _count(ServiceRecord) == 1


def test_only_managers_write_records(client, login_as, h_confirmed, make_coordinator):
    world = h_confirmed
    for user in (world.volunteer, world.other_leader, make_coordinator(world.tree["d2"])):
        login_as(user)
        assert client.get(f"/hours/records/{world.record.id}/correct").status_code == 403
        assert (
            client.post(f"/hours/records/{world.record.id}/correct", data={"hours": "9", "reason": "x"}).status_code
            == 403
        )
        assert (
            client.post(
                f"/hours/events/{world.event.id}/hours/add",
                data={"add-volunteer": str(user.id), "add-hours": "3", "add-reason": "x"},
            ).status_code
            == 403
        )
    assert _count(ServiceRecord) == 1
    login_as(make_coordinator(world.tree["d1"]))
    response = client.post(f"/hours/records/{world.record.id}/correct", data={"hours": "1", "reason": "区级核对"})
    assert response.status_code == 303 and _count(ServiceRecord) == 2


def test_leader_adds_a_missing_record(client, login_as, h_confirmed, make_user, h_make_registration):
    world = h_confirmed
    late = make_user(name="补录者")
    h_make_registration(world.event, late, state="attended")
    login_as(world.leader)
    page = client.get(f"/hours/events/{world.event.id}/hours").get_data(as_text=True)
    assert "补录者" in page
    bad = client.post(
        f"/hours/events/{world.event.id}/hours/add",
        data={"add-volunteer": str(late.id), "add-hours": "2", "add-reason": ""},
    )
    assert bad.status_code == 422
    ok = client.post(
        f"/hours/events/{world.event.id}/hours/add",
        data={"add-volunteer": str(late.id), "add-hours": "2", "add-reason": "签到机故障"},
    )
    assert ok.status_code == 303
    assert [(r.minutes, r.source) for r in _effective(late)] == [(120, "backfill")]
    dup = client.post(
        f"/hours/events/{world.event.id}/hours/add",
        data={"add-volunteer": str(world.volunteer.id), "add-hours": "2", "add-reason": "重复"},
    )
    assert dup.status_code == 422 and _count(ServiceRecord) == 2


# --- requests (补录申请) -------------------------------------------------------------------------


def test_request_correction_and_approval(client, login_as, h_confirmed):
    world = h_confirmed
    login_as(world.volunteer)
    url = f"/hours/mine/request?event={world.event.id}&record={world.record.id}"
    assert client.post(url, data={"hours": "3", "message": ""}).status_code == 422
    assert client.post(url, data={"hours": "30", "message": "多了"}).status_code == 422
    assert client.post(url, data={"hours": "3", "message": "我 9 点就到了"}).status_code == 303
    dup = client.post(url, data={"hours": "3", "message": "再提一次"})
    assert dup.status_code == 422 and "already have a pending request" in dup.get_data(as_text=True)
    request_row = db.session.scalar(sa.select(CorrectionRequest))
    assert request_row.state == "pending" and request_row.requested_minutes == 180
    leader_note = db.session.scalar(sa.select(Notification).where(Notification.kind == "hours_request_new"))
    assert leader_note.user_id == world.leader.id
    mine = client.get("/hours/mine").get_data(as_text=True)
    assert "Pending" in mine
    # the volunteer cannot approve their own request
    assert client.post(f"/hours/requests/{request_row.id}/approve", data={}).status_code == 403
    assert client.get("/hours/requests").status_code == 403

    login_as(world.leader)
    listing = client.get("/hours/requests").get_data(as_text=True)
    assert "我 9 点就到了" in listing
    response = client.post(
        f"/hours/requests/{request_row.id}/approve", data={f"a{request_row.id}-hours": "3"}, headers=htmx()
    )
    assert response.status_code == 200 and "<li" in response.get_data(as_text=True)
    db.session.expire_all()
    request_row = db.session.get(CorrectionRequest, request_row.id)
    assert request_row.state == "approved" and request_row.decided_by_id == world.leader.id
    [effective] = _effective(world.volunteer)
    assert effective.id == request_row.result_record_id
    assert (effective.minutes, effective.source, effective.supersedes_id) == (180, "correction", world.record.id)
    assert db.session.scalar(sa.select(Notification).where(Notification.kind == "hours_request_approved"))
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "hours.request_approve"))
    twice = client.post(f"/hours/requests/{request_row.id}/approve", data={})
    assert twice.status_code == 303 and _count(ServiceRecord) == 2


def test_missing_record_request_and_rejection(client, login_as, h_world):
    world = h_world
    login_as(world.volunteer)
    url = f"/hours/mine/request?event={world.event.id}"
    mine = client.get("/hours/mine").get_data(as_text=True)
    assert "Ask for the record" in mine  # the past event without a record is offered
    assert client.post(url, data={"hours": "2", "message": "忘记签到了"}).status_code == 303
    request_row = db.session.scalar(sa.select(CorrectionRequest))
    assert request_row.record_id is None
    login_as(world.leader)
    prefix = f"a{request_row.id}-"  # the decision form's note
    empty = client.post(f"/hours/requests/{request_row.id}/reject", data={prefix + "note": ""})
    assert empty.status_code == 422 and "why the request is rejected" in empty.get_data(as_text=True)
    assert db.session.get(CorrectionRequest, request_row.id).state == "pending"
    response = client.post(f"/hours/requests/{request_row.id}/reject", data={prefix + "note": "签到表上没有你"})
    assert response.status_code == 303
    db.session.expire_all()
    request_row = db.session.get(CorrectionRequest, request_row.id)
    assert request_row.state == "rejected" and request_row.decision_note == "签到表上没有你"
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "hours_request_rejected"))
    assert note.user_id == world.volunteer.id and "签到表上没有你" in note.params["reason"]
    assert _count(ServiceRecord) == 0


def test_other_leader_cannot_decide_and_strangers_cannot_request(client, login_as, h_world, make_user):
    world = h_world
    login_as(make_user(name="局外人"))
    response = client.post(f"/hours/mine/request?event={world.event.id}", data={"hours": "2", "message": "我也去了"})
    assert response.status_code == 422 and "not registered" in response.get_data(as_text=True)
    login_as(world.volunteer)
    client.post(f"/hours/mine/request?event={world.event.id}", data={"hours": "2", "message": "忘记签到"})
    request_row = db.session.scalar(sa.select(CorrectionRequest))
    login_as(world.other_leader)
    assert client.post(f"/hours/requests/{request_row.id}/approve", data={}).status_code == 403
    assert client.post(f"/hours/requests/{request_row.id}/reject", data={}).status_code == 403
    assert "忘记签到" not in client.get("/hours/requests").get_data(as_text=True)
    assert _count(ServiceRecord) == 0


def test_someone_elses_record_cannot_be_requested(client, login_as, h_confirmed, make_user):
    login_as(make_user(name="别人"))
    url = f"/hours/mine/request?event={h_confirmed.event.id}&record={h_confirmed.record.id}"
    assert client.get(url).status_code == 403
    assert client.post(url, data={"hours": "9", "message": "x"}).status_code == 403


# --- append-only, proved three ways ------------------------------------------------------------


def test_database_refuses_update_and_delete(app, h_confirmed, backend):
    record_id = h_confirmed.record.id
    for statement in (
        "UPDATE service_records SET minutes = 1 WHERE id = :id",
        "DELETE FROM service_records WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="service_records_append_only"):
            db.session.execute(sa.text(statement), {"id": record_id})
        db.session.rollback()
    record = db.session.get(ServiceRecord, record_id)
    record.minutes = 5
    with pytest.raises(DBAPIError, match="service_records_append_only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(ServiceRecord, record_id))
    with pytest.raises(DBAPIError, match="service_records_append_only"):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(ServiceRecord, record_id).minutes == 120


WRITES_TO_RECORDS = [
    re.compile(r"\b(update|delete)\(\s*ServiceRecord\b"),
    re.compile(r"ServiceRecord\.__table__\.(update|delete)\b"),
    re.compile(r"\b(UPDATE|DELETE\s+FROM)\s+service_records\b", re.IGNORECASE),
    re.compile(r"session\.delete\(\s*(record|new|old|row)\b"),
]


def test_no_code_updates_or_deletes_records():
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in sorted((root / "blueprints").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for pattern in WRITES_TO_RECORDS:
            for match in pattern.finditer(text):
                offenders.append(f"{path.relative_to(root)}: {match.group(0)}")
    assert not offenders, offenders
    assert WRITES_TO_RECORDS[2].search("DELETE FROM service_records WHERE 1")  # the scan can fail


def test_every_route_leaves_existing_records_unchanged(app, client, login_as, h_confirmed, make_coordinator, make_user):
    """Drive every hours route as every kind of user; old rows stay byte-for-byte the same and no
    UPDATE or DELETE statement reaches service_records."""
    from blueprints.core.timeutil import utcnow
    from blueprints.hours.tokens import attendance_code, certificate_token, scan_token

    world = h_confirmed
    login_as(world.volunteer)
    client.post(
        f"/hours/mine/request?event={world.event.id}&record={world.record.id}", data={"hours": "3", "message": "x"}
    )
    login_as(world.leader)
    client.post(f"/hours/records/{world.record.id}/correct", data={"hours": "2.5", "reason": "核对"})
    request_row = db.session.scalar(sa.select(CorrectionRequest))
    login_as(world.volunteer)
    client.post("/hours/certificates/new", data={"period_start": "2000-01-01", "period_end": "2000-01-02"})
    columns = [c.name for c in ServiceRecord.__table__.columns]

    def snapshot():
        db.session.expire_all()
        return {row.id: tuple(row) for row in db.session.execute(sa.select(*ServiceRecord.__table__.columns))}

    before = snapshot()
    assert len(before) == 2
    statements: list[str] = []

    def log(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", log)
    now = utcnow()
    values = {
        "event_id": world.event.id,
        "registration_id": world.registration.id,
        "record_id": _effective(world.volunteer)[0].id,  # the correction made above
        "request_id": request_row.id,
        "certificate_id": 1,
        "user_id": world.volunteer.id,
    }
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("hours.")]
    assert len(rules) >= 20
    payloads = [
        {},
        {
            "state": "attended",
            "hours": "4",
            "reason": "全部重算",
            "message": "再查一下",
            "note": "不同意",
            "code": attendance_code(world.event.id, "in", now),
            "period_start": "2020-01-01",
            "period_end": now.date().isoformat(),
            "count_children": "12",
            f"a{request_row.id}-hours": "5",
            f"a{request_row.id}-note": "驳回",
            "add-volunteer": str(world.volunteer.id),
            "add-hours": "6",
            "add-reason": "再补",
            f"r{world.registration.id}-checked_in_at": "2020-01-01T09:00",
        },
    ]
    users = [
        world.volunteer,
        world.leader,
        world.other_leader,
        make_coordinator(world.tree["city"]),
        make_user(name="管理员", is_admin=True),
    ]
    try:
        for user in users:
            login_as(user)
            for rule in rules:
                url = rule.rule
                for name in rule.arguments:
                    if name == "token":
                        value = scan_token(world.event.id, "in", now) if "scan" in url else certificate_token(1)
                    else:
                        value = values[name]
                    url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), url)
                if "/mine/request" in url:
                    url += f"?event={world.event.id}&record={world.record.id}"
                if "GET" in rule.methods:
                    # buffered: a streamed download is read inside the request's own context
                    assert client.get(url, buffered=True).status_code < 500, url
                if "POST" in rule.methods:
                    for data in payloads:
                        for headers in ({}, htmx()):
                            assert client.post(url, data=data, headers=headers).status_code < 500, url
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", log)
    after = snapshot()
    for record_id, row in before.items():
        assert after[record_id] == row, dict(zip(columns, row, strict=True))
    touching = [s for s in statements if re.match(r"\s*(UPDATE|DELETE)\s+(FROM\s+)?service_records\b", s, re.I)]
    assert not touching, touching
    assert len(after) > len(before)  # the routes did write: new records only
