"""The attendance roster and the hour requests come a page at a time, with light rows.

Page sizes are made small here. Page 2 shows the rest; a page number that is not a whole number
from 1, or past the last page, is a 404. A row's "Fix times" form comes when it is opened (htmx)
or on the roster page with that row's form open (without JavaScript). A request's one decision
form approves or rejects (its note is the reason then).
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from blueprints.core.extensions import db
from blueprints.hours import routes
from blueprints.hours.models import CorrectionRequest
from tests.conftest import htmx

BAD_PAGES = ("0", "-1", "abc", "1234567", "２")


def _names(html: str, names) -> list[str]:
    """Which of `names` the page (or fragment) lists, leaving out its flash messages."""
    html = html.split("<main", 1)[1] if "<main" in html else html.split('id="flash"', 1)[0]
    return [n for n in names if re.search(rf"{n}(?!\d)", html)]


# --- attendance ----------------------------------------------------------------------------------


@pytest.fixture
def roster_world(h_world, make_user, h_make_registration, login_as, monkeypatch):
    monkeypatch.setattr(routes, "PAGE", 2)
    people = [h_make_registration(h_world.event, make_user(name=f"队员{i}")) for i in range(3)]
    login_as(h_world.leader)
    names = ["李小青"] + [r.user.name for r in people]
    return h_world, names, people


def test_attendance_pages(client, roster_world):
    world, names, _people = roster_world
    url = f"/hours/events/{world.event.id}/attendance"
    assert _names(client.get(url).get_data(as_text=True), names) == names[:2]
    second = client.get(url + "?page=2").get_data(as_text=True)
    assert _names(second, names) == names[2:]
    fragment = client.get(url + "?page=2", headers=htmx(**{"HX-Target": "roster"})).get_data(as_text=True)
    assert "<html" not in fragment and _names(fragment, names) == names[2:] and 'hx-target="#roster"' in fragment
    assert client.get(url + "?page=3").status_code == 404
    for bad in BAD_PAGES:
        assert client.get(f"{url}?page={bad}").status_code == 404, bad


def test_attendance_rows_are_light(client, roster_world):
    world, _names_, people = roster_world
    html = client.get(f"/hours/events/{world.event.id}/attendance").get_data(as_text=True)
    roster = html.split('id="roster"', 1)[1]
    # the marks share one form (CSRF once), and no row carries its times form until it is opened
    assert roster.count('name="csrf_token"') == 2  # "mark everyone" and the shared form
    assert 'type="datetime-local"' not in roster
    mark = f"/hours/events/{world.event.id}/attendance/{world.registration.id}/mark"
    assert f'form="marks" formaction="{mark}" hx-post="{mark}"' in roster
    times = f"/hours/events/{world.event.id}/attendance/{world.registration.id}/times"
    assert f'hx-get="{times}" hx-trigger="toggle once" hx-target="#times-{world.registration.id}"' in roster
    assert f'<a href="{times}">' in roster


def test_times_form_opens_in_the_row_or_on_the_roster(client, roster_world):
    world, names, people = roster_world
    reg = people[1]  # on page 2
    url = f"/hours/events/{world.event.id}/attendance/{reg.id}/times"
    form = client.get(url + "?page=2", headers=htmx(**{"HX-Target": f"times-{reg.id}"})).get_data(as_text=True)
    assert form.lstrip().startswith("<form") and f'name="r{reg.id}-checked_in_at"' in form
    assert f'action="{url}?page=2"' in form and 'name="csrf_token"' in form
    page = client.get(url + "?page=2").get_data(as_text=True)
    assert "<html" in page and _names(page, names) == names[2:]
    assert page.count('type="datetime-local"') == 2 and "<details open>" in page
    # a link from elsewhere (another page number): the roster shows that one row with its form
    alone = client.get(url).get_data(as_text=True)
    assert _names(alone, names) == [reg.user.name] and "<details open>" in alone
    # someone else's registration, or a stranger
    assert client.get(f"/hours/events/{world.event.id}/attendance/999999/times").status_code == 404


def test_times_form_with_errors_stays_open(client, roster_world):
    world, _names_, people = roster_world
    url = f"/hours/events/{world.event.id}/attendance/{people[0].id}/times"
    row = client.post(url, data={f"r{people[0].id}-checked_in_at": ""}, headers=htmx())
    body = row.get_data(as_text=True)
    assert row.status_code == 422 and body.lstrip().startswith("<tr") and "<details open>" in body
    assert "Enter the check-in time" in body and 'aria-invalid="true"' in body
    page = client.post(url + "?page=2", data={f"r{people[0].id}-checked_in_at": ""})
    assert page.status_code == 422 and "<details open>" in page.get_data(as_text=True)


# --- hour requests -------------------------------------------------------------------------------


@pytest.fixture
def requests_world(h_world, make_user, h_make_registration, h_make_event, login_as, monkeypatch):
    monkeypatch.setattr(routes, "REQUESTS_PAGE", 2)
    people = [make_user(name=f"申请人{i}") for i in range(3)]
    for i, user in enumerate(people):
        h_make_registration(h_world.event, user)
        db.session.add(
            CorrectionRequest(
                volunteer_id=user.id, event_id=h_world.event.id, requested_minutes=60 + i, message=f"留言{i}"
            )
        )
    db.session.commit()
    login_as(h_world.leader)
    return [u.name for u in people]


def test_requests_pages(client, requests_world):
    names = requests_world
    first = client.get("/hours/requests").get_data(as_text=True)
    assert _names(first, names) == names[:2] and 'href="/hours/requests?page=2"' in first
    second = client.get("/hours/requests?page=2").get_data(as_text=True)
    assert _names(second, names) == names[2:]
    fragment = client.get("/hours/requests?page=2", headers=htmx(**{"HX-Target": "request-list"}))
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and 'id="request-list"' in body and _names(body, names) == names[2:]
    assert client.get("/hours/requests?page=3").status_code == 404
    for bad in BAD_PAGES:
        assert client.get(f"/hours/requests?page={bad}").status_code == 404, bad


def test_one_decision_form_a_request(client, requests_world):
    first = client.get("/hours/requests").get_data(as_text=True)
    rows = db.session.scalars(sa.select(CorrectionRequest).order_by(CorrectionRequest.id)).all()
    main = first.split("<main", 1)[1]
    assert main.count("<form") == 2 and main.count('name="csrf_token"') == 2  # one a row
    assert f'formaction="/hours/requests/{rows[0].id}/reject"' in main
    assert main.count('id="hours-hint"') == 1 and main.count('aria-describedby="hours-hint"') == 2
    # rejecting needs the note: the row comes back with the error by the note, the hours as typed
    prefix = f"a{rows[0].id}-"
    refused = client.post(
        f"/hours/requests/{rows[0].id}/reject", data={prefix + "hours": "1.5", prefix + "note": ""}, headers=htmx()
    )
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "why the request is rejected" in body and 'value="1.5"' in body
    assert f'aria-describedby="{prefix}note-error"' in body
    rejected = client.post(f"/hours/requests/{rows[0].id}/reject", data={prefix + "note": "当天没有签到记录"})
    assert rejected.status_code == 303
    db.session.expire_all()
    assert db.session.get(CorrectionRequest, rows[0].id).decision_note == "当天没有签到记录"
    prefix = f"a{rows[1].id}-"
    approved = client.post(f"/hours/requests/{rows[1].id}/approve", data={prefix + "hours": "2", prefix + "note": "好"})
    assert approved.status_code == 303
    db.session.expire_all()
    assert db.session.get(CorrectionRequest, rows[1].id).state == "approved"
