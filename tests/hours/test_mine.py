"""My hours, the home panel, the CSV download, beneficiaries and the event summary slot."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from blueprints.core.timeutil import utcnow
from blueprints.hours.models import BeneficiaryCount
from blueprints.hours.services import event_summary
from blueprints.hours.slots import summary_slot


def test_my_hours_page(client, login_as, h_world, h_make_event, h_make_record):
    world = h_world
    world.tree["c1"].annual_target_hours = 10
    world.tree["c1"].star_thresholds = "3,5,10,20,40"
    db.session.commit()
    h_make_record(world.event, world.volunteer, minutes=150)
    last_year = h_make_event(world.team, starts_at=utcnow() - timedelta(days=400), title="去年的活动")
    h_make_record(last_year, world.volunteer, minutes=240)
    login_as(world.volunteer)
    html = client.get("/hours/mine").get_data(as_text=True)
    assert "2.5 of 10 hours" in html
    assert '<progress id="year-progress" value="150" max="600">' in html
    assert "style=" not in html
    assert "6.5" in html  # lifetime
    assert "★★☆☆☆" in html and "Next star at 10 hours" in html
    assert "社区助老服务" in html and "去年的活动" in html
    assert 'href="/hours/mine.csv"' in html


def test_my_hours_counts_only_effective_records(client, login_as, h_world, h_make_record):
    world = h_world
    old = h_make_record(world.event, world.volunteer, minutes=60)
    h_make_record(world.event, world.volunteer, minutes=180, source="correction", reason="补正", supersedes_id=old.id)
    login_as(world.volunteer)
    html = client.get("/hours/mine").get_data(as_text=True)
    assert "3 of 20 hours" in html


def test_totals_read_with_each_page_equal_volunteer_totals(app, h_world, h_make_event, h_make_record, make_user):
    """my_records' totals (window sums in the page's statement) are volunteer_totals, on every page: records
    of this year and others, a superseded record, someone else's; an empty page past the end has none."""
    from blueprints.hours.services import my_records, volunteer_totals

    world = h_world
    old = h_make_record(world.event, world.volunteer, minutes=60)
    h_make_record(world.event, world.volunteer, minutes=180, source="correction", reason="补正", supersedes_id=old.id)
    for days in (400, 800):
        past = h_make_event(world.team, starts_at=utcnow() - timedelta(days=days), title=f"{days} 天前")
        h_make_record(past, world.volunteer, minutes=days // 4)
    h_make_record(world.event, make_user(name="别人"), minutes=600)
    expected = volunteer_totals(world.volunteer)
    assert expected == {"year": 180, "lifetime": 480, "records": 3}
    pages = [my_records(world.volunteer, limit=2, offset=offset) for offset in (0, 2)]
    assert [len(rows) for rows, _totals in pages] == [2, 1]
    assert all(totals == expected for _rows, totals in pages)
    assert my_records(world.volunteer, limit=2, offset=4) == ([], None)
    newcomer = make_user(name="新人")
    assert my_records(newcomer, limit=2) == ([], {"year": 0, "lifetime": 0, "records": 0})
    assert volunteer_totals(newcomer) == {"year": 0, "lifetime": 0, "records": 0}


def test_csv_has_only_my_records(client, login_as, h_world, h_make_record, make_user):
    world = h_world
    h_make_record(world.event, world.volunteer, minutes=90)
    h_make_record(world.event, make_user(name="别人"), minutes=600)
    login_as(world.volunteer)
    response = client.get("/hours/mine.csv", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["Date", "Event", "Organisation", "Hours"]
    assert [r[1:4] for r in rows[1:]] == [["社区助老服务", "向阳社区", "1.5"]]


def test_pages_need_login(client):
    for url in ("/hours/mine", "/hours/mine.csv", "/hours/requests", "/hours/certificates/new"):
        response = client.get(url)
        assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_home_panel_and_nav(client, login_as, h_world, h_make_record):
    h_make_record(h_world.event, h_world.volunteer, minutes=300)
    login_as(h_world.volunteer)
    html = client.get("/").get_data(as_text=True)
    assert "My hours this year" in html and "5 of 20 hours" in html
    assert 'href="/hours/mine"' in html
    login_as(h_world.leader)
    html = client.get("/").get_data(as_text=True)
    assert "confirm their hours" not in html  # the event is not over yet
    h_world.event.starts_at -= timedelta(hours=3)
    h_world.event.ends_at -= timedelta(hours=3)
    db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "confirm their hours" in html and "社区助老服务" in html


def test_beneficiaries(client, login_as, h_world):
    login_as(h_world.leader)
    url = f"/hours/events/{h_world.event.id}/beneficiaries"
    assert client.get(url).status_code == 200
    bad = client.post(url, data={"count_children": "-3"})
    assert bad.status_code == 422 and "from 0 to 1000000" in bad.get_data(as_text=True)
    ok = client.post(url, data={"count_children": "12", "note_children": "留守儿童", "count_elderly": "30"})
    assert ok.status_code == 303
    rows = {r.category: (r.count, r.note) for r in db.session.scalars(sa.select(BeneficiaryCount))}
    assert rows == {"children": (12, "留守儿童"), "elderly": (30, None)}
    client.post(url, data={"count_children": "15", "count_elderly": ""})
    db.session.expire_all()
    rows = {r.category: r.count for r in db.session.scalars(sa.select(BeneficiaryCount))}
    assert rows == {"children": 15}
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditLog.action == "beneficiaries.update")) == 2
    login_as(h_world.volunteer)
    assert client.post(url, data={"count_children": "99"}).status_code == 403
    login_as(h_world.other_leader)
    assert client.get(url).status_code == 403


def test_event_summary(app, h_world, h_make_record, make_user, h_make_registration):
    world = h_world
    h_make_record(world.event, world.volunteer, minutes=120)
    h_make_record(world.event, make_user(name="第二位"), minutes=90)
    db.session.add(BeneficiaryCount(event_id=world.event.id, category="elderly", count=40))
    db.session.commit()
    summary = event_summary(world.event)
    assert summary == {
        "volunteers": 2,
        "participations": 2,
        "minutes": 210,
        "beneficiaries": {"elderly": 40},
        "beneficiaries_total": 40,
    }
    with app.test_request_context(headers={"Accept-Language": "en"}):
        from flask import render_template

        context = summary_slot(world.event)
        html = render_template("hours/_slot_summary.html", event=world.event, **context)
    assert "3.5" in html and "40" in html and "Elderly people" in html
