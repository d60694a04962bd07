"""Service certificates: who may issue, the printable page, the public verification."""

from __future__ import annotations

import re

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import local_today
from blueprints.hours.models import Certificate
from blueprints.hours.tokens import certificate_token


def _issue(client, url="/hours/certificates/new", start=None, end=None):
    today = local_today()
    return client.post(
        url,
        data={
            "period_start": (start or today.replace(month=1, day=1)).isoformat(),
            "period_end": (end or today).isoformat(),
        },
    )


def test_volunteer_prints_own_certificate_and_it_verifies(client, login_as, h_world, h_make_record):
    world = h_world
    world.volunteer.phone = "13912345678"
    db.session.commit()
    h_make_record(world.event, world.volunteer, minutes=150)
    login_as(world.volunteer)
    response = _issue(client)
    assert response.status_code == 303
    cert = db.session.scalar(sa.select(Certificate))
    assert cert.minutes == 150 and cert.events_count == 1 and cert.org_id == world.tree["c1"].id
    assert re.fullmatch(r"QY-\d{4}-\d{6}", cert.number)
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "certificate.issue")).object_id == cert.id
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert cert.number in html and "李小青" in html and "139****5678" in html and "13912345678" not in html
    assert "2.5" in html and "社区助老服务" in html and "向阳社区" in html and "<svg" in html
    assert "style=" not in html
    verify_url = re.search(r'href="(http://localhost/hours/verify/[^"]+)"', html).group(1)
    client.get("/")  # a stranger's browser: log out first
    with client.session_transaction() as sess:
        sess.clear()
    page = client.get(verify_url.removeprefix("http://localhost"))
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "genuine" in text
    assert "李*青" in text and "李小青" not in text and "向阳社区" in text and "2.5" in text
    assert "5678" not in text and cert.number not in text and "社区助老服务" not in text


def test_chinese_certificate(client, login_as, h_world, h_make_record):
    h_make_record(h_world.event, h_world.volunteer, minutes=60)
    login_as(h_world.volunteer)
    location = _issue(client).headers["Location"]
    html = client.get(location, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "志愿服务证明" in html and 'lang="zh-CN"' in html


def test_tampered_verification_is_not_valid(client, h_world, h_make_record, login_as):
    h_make_record(h_world.event, h_world.volunteer, minutes=60)
    login_as(h_world.volunteer)
    _issue(client)
    cert = db.session.scalar(sa.select(Certificate))
    token = certificate_token(cert.id)
    payload, signature = token.split(".")
    for bad in (f"{payload}.{signature[:-2]}xx", "MQ.abcdef", "garbage", certificate_token(cert.id + 100)):
        response = client.get(f"/hours/verify/{bad}")
        assert response.status_code == 404
        assert "Not a valid certificate" in response.get_data(as_text=True)
    assert client.get(f"/hours/verify/{token}").status_code == 200


def test_self_service_off_means_403(client, login_as, h_world, h_make_record):
    h_world.tree["city"].certificate_issuer = "leader"
    db.session.commit()
    h_make_record(h_world.event, h_world.volunteer, minutes=60)
    login_as(h_world.volunteer)
    assert "issued by team leaders or coordinators" in client.get("/hours/mine").get_data(as_text=True)
    assert client.get("/hours/certificates/new").status_code == 403
    assert _issue(client).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 0


def test_leader_issues_when_the_org_says_leaders(client, login_as, h_world, h_make_record, make_coordinator):
    world = h_world
    world.tree["city"].certificate_issuer = "leader"
    db.session.commit()
    h_make_record(world.event, world.volunteer, minutes=60)
    url = f"/hours/events/{world.event.id}/volunteers/{world.volunteer.id}/certificate"
    login_as(world.other_leader)
    assert _issue(client, url).status_code == 403
    login_as(world.leader)
    response = _issue(client, url)
    assert response.status_code == 303
    cert = db.session.scalar(sa.select(Certificate))
    assert cert.issued_by_id == world.leader.id and cert.volunteer_id == world.volunteer.id
    # only coordinators now: the leader is refused, a coordinator of the district may
    world.tree["city"].certificate_issuer = "coordinator"
    db.session.commit()
    assert _issue(client, url).status_code == 403
    login_as(make_coordinator(world.tree["d1"]))
    assert _issue(client, url).status_code == 303
    login_as(world.volunteer)  # the volunteer can open certificates issued to them
    assert client.get(f"/hours/certificates/{cert.id}").status_code == 200
    login_as(world.other_leader)
    assert client.get(f"/hours/certificates/{cert.id}").status_code == 403


def test_bad_periods(client, login_as, h_world, h_make_record):
    h_make_record(h_world.event, h_world.volunteer, minutes=60)
    login_as(h_world.volunteer)
    today = local_today()
    bad = _issue(client, start=today, end=today.replace(year=today.year - 1))
    assert bad.status_code == 422 and "cannot be before the start" in bad.get_data(as_text=True)
    future = _issue(client, end=today.replace(year=today.year + 1))
    assert future.status_code == 422 and "cannot end in the future" in future.get_data(as_text=True)
    empty = _issue(
        client, start=today.replace(year=2000, month=1, day=1), end=today.replace(year=2000, month=12, day=31)
    )
    assert empty.status_code == 422 and "nothing to certify" in empty.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 0
