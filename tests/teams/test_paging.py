"""The team roster and its join requests come a page at a time, each list with its own pager.

Page sizes are made small here. Page 2 shows the rest; a page number that is not a whole number
from 1, or past the last page, is a 404. The rows' buttons share one form with the CSRF token.
"""

from __future__ import annotations

import re

import pytest

from blueprints.core.extensions import db
from blueprints.teams import routes
from blueprints.teams.models import Membership
from tests.conftest import htmx

BAD_PAGES = ("0", "-1", "abc", "1234567", "２")


def _names(html: str, names) -> list[str]:
    """Which of `names` the page (or fragment) lists, leaving out its flash messages."""
    html = html.split("<main", 1)[1] if "<main" in html else html.split('id="flash"', 1)[0]
    return [n for n in names if re.search(rf"{n}\b", html)]


@pytest.fixture
def crowded_team(login_as, make_team, make_user, monkeypatch):
    monkeypatch.setattr(routes, "ROSTER_PAGE", 2)
    monkeypatch.setattr(routes, "REQUESTS_PAGE", 2)
    leader = make_user(name="队长甲")
    members = [make_user(name=f"队员{i}") for i in range(3)]
    team = make_team(leader=leader, members=members, join_policy="approval")
    askers = [make_user(name=f"申请人{i}") for i in range(3)]
    for user in askers:
        db.session.add(Membership(team_id=team.id, user_id=user.id, role="member", state="pending"))
    db.session.commit()
    login_as(leader)
    return team, ["队长甲"] + [m.name for m in members], [a.name for a in askers]


def test_members_and_requests_page_separately(client, crowded_team):
    team, members, askers = crowded_team
    url = f"/teams/{team.id}/members"
    first = client.get(url).get_data(as_text=True)
    assert _names(first, members) == members[:2] and _names(first, askers) == askers[:2]
    assert f'href="{url}?page=2"' in first and f'href="{url}?rpage=2"' in first
    second = client.get(url + "?page=2").get_data(as_text=True)
    assert _names(second, members) == members[2:] and _names(second, askers) == askers[:2]
    assert f'href="{url}?page=2&amp;rpage=2"' in second  # the other list keeps its page
    asked = client.get(url + "?rpage=2").get_data(as_text=True)
    assert _names(asked, askers) == askers[2:] and _names(asked, members) == members[:2]
    assert client.get(url + "?page=3").status_code == 404
    assert client.get(url + "?rpage=3").status_code == 404
    for bad in BAD_PAGES:
        assert client.get(f"{url}?page={bad}").status_code == 404, bad
        assert client.get(f"{url}?rpage={bad}").status_code == 404, bad


def test_each_pager_swaps_its_own_list(client, crowded_team):
    team, members, askers = crowded_team
    url = f"/teams/{team.id}/members"
    roster = client.get(url + "?page=2", headers=htmx(**{"HX-Target": "roster"})).get_data(as_text=True)
    assert "<html" not in roster and 'id="roster"' in roster and 'id="requests"' not in roster
    assert _names(roster, members) == members[2:]
    requests = client.get(url + "?rpage=2", headers=htmx(**{"HX-Target": "requests"})).get_data(as_text=True)
    assert "<html" not in requests and 'id="requests"' in requests and 'id="roster"' not in requests
    assert _names(requests, askers) == askers[2:]


def test_row_buttons_share_the_page_form(client, crowded_team):
    team, _members, _askers = crowded_team
    html = client.get(f"/teams/{team.id}/members").get_data(as_text=True)
    shared = re.search(r'<form id="team-actions"[^>]*>(.*?)</form>', html)
    assert shared and 'name="csrf_token"' in shared.group(1)
    main = html.split("<main", 1)[1]
    assert main.count('name="csrf_token"') == 1  # the shared form's, not one per row and button
    pending = db.session.query(Membership).filter_by(team_id=team.id, state="pending").first()
    approve = f"/teams/{team.id}/members/{pending.id}/approve"
    assert f'form="team-actions" formaction="{approve}" hx-post="{approve}"' in html
    assert 'hx-target="closest li"' in html and "hx-confirm=" in html
    # a button posts the shared form: without JavaScript back to the roster, with htmx its row
    assert client.post(approve).status_code == 303
    decline = f"/teams/{team.id}/members/{pending.id + 1}/decline"
    row = client.post(decline, headers=htmx()).get_data(as_text=True)
    assert row.lstrip().startswith("<li") and "Declined" in row
