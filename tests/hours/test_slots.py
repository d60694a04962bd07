"""What hours adds to the events pages: the code form for volunteers, links for leaders, hours on
rows of "my events" (rendered through the registry, as the events pages do)."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template_string
from flask_login import login_user

from blueprints.core.extensions import db
from blueprints.core.timeutil import utcnow


def _render(app, user, template: str, **values) -> str:
    with app.test_request_context(headers={"Accept-Language": "en"}):
        login_user(user)
        return render_template_string(template, **values)


def test_volunteer_gets_the_code_form_while_check_in_is_open(app, h_world, make_user):
    html = _render(
        app,
        h_world.volunteer,
        '{{ slot("event.volunteer", event=e, registration=r) }}',
        e=h_world.event,
        r=h_world.registration,
    )
    assert f'action="/hours/events/{h_world.event.id}/check-in"' in html and 'name="code"' in html
    h_world.registration.checked_in_at = utcnow()
    db.session.commit()
    html = _render(
        app,
        h_world.volunteer,
        '{{ slot("event.volunteer", event=e, registration=r) }}',
        e=h_world.event,
        r=h_world.registration,
    )
    assert f'action="/hours/events/{h_world.event.id}/check-out"' in html
    # not registered and no walk-ins: nothing to show; a future event: nothing yet
    stranger = make_user(name="路人")
    assert (
        _render(app, stranger, '{{ slot("event.volunteer", event=e, registration=None) }}', e=h_world.event).strip()
        == ""
    )
    h_world.event.starts_at += timedelta(days=3)
    h_world.event.ends_at += timedelta(days=3)
    db.session.commit()
    html = _render(app, h_world.volunteer, '{{ slot("event.volunteer", event=e, registration=None) }}', e=h_world.event)
    assert "check-in" not in html


def test_leader_links_only_for_managers(app, h_world):
    template = '{{ slot("event.leader", event=e) }}'
    html = _render(app, h_world.leader, template, e=h_world.event)
    assert f"/hours/events/{h_world.event.id}/checkin" in html and "Confirm hours" in html
    assert _render(app, h_world.other_leader, template, e=h_world.event).strip() == ""
    assert _render(app, h_world.volunteer, template, e=h_world.event).strip() == ""


def test_past_rows_show_hours_or_offer_a_request(app, h_world, h_make_event, h_make_registration, h_make_record):
    other = h_make_event(h_world.team, starts_at=utcnow() - timedelta(days=3), title="上周的活动")
    other_reg = h_make_registration(other, h_world.volunteer, state="attended")
    h_make_record(h_world.event, h_world.volunteer, minutes=150)
    template = '{{ slot("my_events.past_row", event=e, registration=r) }}|{{ slot("my_events.past_row", event=o, registration=q) }}'
    html = _render(app, h_world.volunteer, template, e=h_world.event, r=h_world.registration, o=other, q=other_reg)
    with_record, without = html.split("|")
    assert "2.5 h" in with_record
    assert f"/hours/mine/request?event={other.id}" in without
