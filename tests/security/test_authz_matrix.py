"""Authorization matrix: every route of the URL map x every actor, with the expected answer.

The objects belong to district A; the actors come from district B (a volunteer, the leader of
another team, the manager of another youth home, the coordinator of the sibling district), plus
anonymous visitors, an admin and, where it matters, A's own people (the legitimate owner). Each
case builds its URL with A's ids and asserts the status per actor:

    200/303/409/422...  exactly that status
    L                   sent to the login page (302/303 to /account/login)
    OK                  let through: 200, 204, 303 (not to login), 409 or 422 (a refusal in words
                        or a form error — the request was authorised)

`test_every_route_is_in_the_matrix` fails when a route (endpoint and method) of app.url_map has no
case, so a new route cannot escape. Refused actors run first (nothing of A's may change); owners
and the admin run last, since their POSTs do change things.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from .conftest import ACTORS, GENEROUS_LIMITS

L, OK = "login", "ok"
OUTSIDERS = ("anon", "vol", "leader", "manager", "coord")
OWNERS = ("coordA", "managerA", "leaderA", "memberA", "requesterA")


@dataclass
class Case:
    endpoint: str
    method: str
    url: str
    expect: dict[str, object]
    data: dict = field(default_factory=dict)


def everyone(code) -> dict:
    return dict.fromkeys(ACTORS, code)


def signed_in(code=200, **owners) -> dict:
    return {"anon": L, **dict.fromkeys(ACTORS[1:], code), **owners}


def scoped(admin=200, **owners) -> dict:
    """Only A's people and the admin: B's actors get 403, anonymous visitors the login page."""
    return {"anon": L, "vol": 403, "leader": 403, "manager": 403, "coord": 403, "admin": admin, **owners}


def coordinators(code=200, **owners) -> dict:
    """Pages of any coordinator (each sees their own scope)."""
    return {"anon": L, "vol": 403, "leader": 403, "manager": 403, "coord": code, "admin": code, **owners}


def cases(w) -> list[Case]:  # noqa: ANN001 - World
    def c(endpoint: str, url: str, expect: dict, method: str = "GET", data: dict | None = None) -> Case:
        return Case(endpoint, method, w.url(url), expect, data or {})

    def post(endpoint: str, url: str, expect: dict, data: dict | None = None) -> Case:
        return c(endpoint, url, expect, "POST", data)

    new_venue = {
        "name": "新青年之家",
        "capacity": "20",
        "min_duration_minutes": "30",
        "max_duration_minutes": "240",
        "max_days_ahead": "30",
        "org_id": str(w.ids["c1"]),
    }
    new_team = {"name": "新服务队", "join_policy": "open", "org_id": str(w.ids["c1"]), "leader_phones": "13900000012"}
    report = "?org={d1}"
    return [
        # --- core ----------------------------------------------------------------------------------
        c("core.index", "/", everyone(200)),
        c("core.healthz", "/healthz", everyone(200)),
        c("core.manifest", "/manifest.webmanifest", everyone(200)),
        c("core.htmx_file", "/htmx.min.js", everyone(404)),  # only with HTMX_FILE configured
        c("core.bench_hello", "/bench/hello", everyone(404)),  # only with BENCH_ROUTES
        c("static", "/static/css/app.css", everyone(200)),
        post("core.set_language", "/language", everyone(303), {"locale": "en"}),
        # --- auth ----------------------------------------------------------------------------------
        c("auth.login", "/account/login", {**everyone(302), "anon": 200}),
        post("auth.login", "/account/login", {**everyone(302), "anon": 422}, {"phone": "13900000099", "password": "x"}),
        c("auth.register", "/account/register", {**everyone(302), "anon": 200}),
        post("auth.register", "/account/register", {**everyone(302), "anon": 422}),
        c("auth.profile", "/account/profile", signed_in()),
        post("auth.profile", "/account/profile", signed_in(303, admin=422)),  # nothing sent: kept (admin: no home org)
        c("auth.password", "/account/password", signed_in()),
        post("auth.password", "/account/password", signed_in(422)),
        post("auth.logout", "/account/logout", everyone(303)),
        # --- orgs ----------------------------------------------------------------------------------
        c("orgs.index", "/orgs/", coordinators(coordA=200)),
        post("orgs.create_root", "/orgs/", {**scoped(422), "coordA": 403}),
        c("orgs.search", "/orgs/search?org_query=社区", everyone(200)),
        c("orgs.search", "/orgs/search?org_query=社区&scope=mine", signed_in(anon=403)),  # an htmx fragment
        c("orgs.show", "/orgs/{d1}", scoped(coordA=200)),
        c("orgs.audit", "/orgs/{d1}/audit", scoped(coordA=200)),
        post("orgs.add_child", "/orgs/{d1}/children", scoped(OK, coordA=OK)),
        post("orgs.grant", "/orgs/{d1}/coordinators", scoped(OK, coordA=OK)),
        c("orgs.edit", "/orgs/{c1}/edit", scoped(coordA=200)),
        c("orgs.edit", "/orgs/{d1}/edit", scoped(coordA=403)),  # a coordinator's own org: admins only
        post("orgs.edit", "/orgs/{c1}/edit", scoped(OK, coordA=OK)),
        c("orgs.move", "/orgs/{c1}/move", scoped(coordA=200)),
        post("orgs.move", "/orgs/{c1}/move", scoped(OK, coordA=OK)),
        c("orgs.settings", "/orgs/{d1}/settings", scoped(coordA=200)),
        post("orgs.settings", "/orgs/{d1}/settings", scoped(OK, coordA=OK)),
        post("orgs.revoke", "/orgs/{d1}/coordinators/{grant_a2}/revoke", scoped(OK)),
        # --- notifications -------------------------------------------------------------------------
        c("notifications.index", "/notifications/", signed_in()),
        post("notifications.open_one", "/notifications/{notification}/open", signed_in(404, memberA=303)),
        post("notifications.read_all", "/notifications/read-all", signed_in(303)),
        # --- venues --------------------------------------------------------------------------------
        c("venues.index", "/venues/", everyone(200)),
        c("venues.show", "/venues/{venue}", everyone(200)),
        c("venues.calendar", "/venues/{venue}/calendar", everyone(200)),
        c("venues.venue_feed", "/venues/{venue}/calendar.ics", everyone(200)),
        c("venues.user_feed", "/venues/feed/{requester_token}.ics", everyone(200)),  # the secret is the key
        c("venues.user_feed", "/venues/feed/not-a-token.ics", everyone(404)),
        c("venues.book", "/venues/{venue}/book", signed_in()),
        post("venues.book", "/venues/{venue}/book", signed_in(422)),
        c("venues.booking", "/venues/bookings/{pending}", scoped(requesterA=200, managerA=200, coordA=200)),
        c("venues.approvals", "/venues/approvals", {**coordinators(), "manager": 200, "managerA": 200}),
        c("venues.my_bookings", "/venues/bookings/mine", signed_in()),
        c("venues.manage_list", "/venues/manage", {**coordinators(), "manager": 200, "managerA": 200}),
        c("venues.create", "/venues/new", coordinators(coordA=200, managerA=403)),
        post("venues.create", "/venues/new", scoped(303, coordA=303, managerA=403), new_venue),
        c("venues.edit", "/venues/{venue}/edit", scoped(managerA=200, coordA=200)),
        post("venues.edit", "/venues/{venue}/edit", scoped(OK, managerA=OK)),
        c("venues.manage", "/venues/{venue}/manage", scoped(managerA=200, coordA=200)),
        post("venues.hours", "/venues/{venue}/hours", scoped(OK, managerA=OK), {"day0": "08:00-12:00"}),
        post("venues.add_closure_view", "/venues/{venue}/closures", scoped(OK, managerA=OK)),
        post("venues.remove_closure_view", "/venues/{venue}/closures/{closure}/delete", scoped(OK)),
        post("venues.grant", "/venues/{venue}/managers", scoped(OK, managerA=403, coordA=OK)),
        post("venues.revoke", "/venues/{venue}/managers/{grant2}/revoke", scoped(OK, managerA=403)),
        post("venues.approve", "/venues/bookings/{pending}/approve", scoped(OK, requesterA=403, managerA=OK)),
        post("venues.reject", "/venues/bookings/{pending}/reject", scoped(OK, requesterA=403)),
        post(
            "venues.cancel", "/venues/bookings/{approved}/cancel", {**scoped(403), "managerA": 403, "requesterA": 303}
        ),
        # --- teams ---------------------------------------------------------------------------------
        c("teams.index", "/teams/", everyone(200)),
        c("teams.show", "/teams/{team}", everyone(200)),
        c("teams.new", "/teams/new", coordinators(coordA=200, leaderA=403)),
        post("teams.new", "/teams/new", scoped(OK, coordA=303, leaderA=403), new_team),
        c("teams.edit", "/teams/{team}/edit", scoped(leaderA=200, coordA=200, memberA=403)),
        post("teams.edit", "/teams/{team}/edit", scoped(OK, leaderA=OK, memberA=403)),
        c("teams.members", "/teams/{team}/members", scoped(leaderA=200, memberA=200)),
        post("teams.join", "/teams/{team}/join", signed_in(303, memberA=409)),
        post("teams.leave", "/teams/{team}/leave", signed_in(303)),
        post("teams.add_leader", "/teams/{team}/leaders", scoped(OK, leaderA=OK, memberA=403)),
        post("teams.approve", "/teams/{team}/members/{joining}/approve", scoped(OK, memberA=403)),
        post("teams.decline", "/teams/{team}/members/{joining}/decline", scoped(OK)),
        post("teams.make_leader", "/teams/{team}/members/{member_row}/lead", scoped(OK, memberA=403)),
        post("teams.unmake_leader", "/teams/{team}/members/{member_row}/unlead", scoped(OK)),
        post("teams.remove", "/teams/{team}/members/{member_b_row}/remove", scoped(404)),  # not of this team
        post("teams.remove", "/teams/{team}/members/{member_row}/remove", scoped(OK)),
        # --- events --------------------------------------------------------------------------------
        c("events.week", "/events/?org={d1}", everyone(200)),
        c("events.week_print", "/events/print?org={d1}", everyone(200)),
        c("events.org_feed", "/events/org/{d1}/calendar.ics", everyone(200)),
        c("events.user_feed", "/events/feed/{member_token}.ics", everyone(200)),
        c("events.user_feed", "/events/feed/not-a-token.ics", everyone(404)),
        post("events.reset_feed", "/events/mine/feed", signed_in(303)),
        c("events.mine", "/events/mine", signed_in()),
        c("events.show", "/events/{published}", everyone(200)),
        c("events.show", "/events/{draft}", {**everyone(404), "admin": 200, "leaderA": 200, "coordA": 200}),
        post("events.register_view", "/events/{published}/register", signed_in(303, memberA=409)),
        post("events.register_view", "/events/{draft}/register", signed_in(404, admin=409)),
        post("events.cancel_mine", "/events/{published}/registration/cancel", signed_in(303)),
        post("events.cancel_registration_view", "/events/registrations/{reg}/cancel", scoped(OK, memberA=303)),
        c("events.roster_view", "/events/{published}/roster", scoped(leaderA=200, coordA=200, memberA=403)),
        c("events.roster_csv", "/events/{published}/roster.csv", scoped(leaderA=200, memberA=403)),
        post("events.capacity", "/events/{published}/capacity", scoped(OK, leaderA=OK)),
        c("events.new", "/events/new?team={team}", scoped(leaderA=200, coordA=200, memberA=403)),
        c("events.new", "/events/new", {"anon": L, "vol": 403, "leader": 302, "manager": 403, "coord": 302}),
        post("events.new", "/events/new?team={team}", scoped(OK, leaderA=OK)),
        c("events.edit", "/events/{published}/edit", scoped(leaderA=200)),
        post("events.edit", "/events/{published}/edit", scoped(OK, leaderA=OK)),
        post("events.publish", "/events/{draft}/publish", {**signed_in(404), "admin": OK, "leaderA": OK}),
        post("events.complete", "/events/{published}/complete", scoped(OK, leaderA=OK)),
        c("events.cancel", "/events/{published}/cancel", scoped(leaderA=200)),
        post("events.cancel", "/events/{published}/cancel", scoped(OK, leaderA=OK)),
        c("events.category_list", "/events/categories", scoped(coordA=403)),
        post("events.category_add", "/events/categories", scoped(OK, coordA=403)),
        c("events.category_edit", "/events/categories/{category}", scoped(coordA=403)),
        post("events.category_edit", "/events/categories/{category}", scoped(OK)),
        post("events.category_toggle", "/events/categories/{category}/toggle", scoped(OK, coordA=403)),
        # --- hours ---------------------------------------------------------------------------------
        c("hours.checkin_screen", "/hours/events/{running}/checkin", scoped(leaderA=200, memberA=403)),
        c("hours.scan", "/hours/scan/{scan_token}", signed_in()),
        post("hours.scan_post", "/hours/scan/{scan_token}", signed_in(409, memberA=303)),
        c("hours.attend", "/hours/events/{running}/attend", signed_in()),
        c("hours.attend", "/hours/events/{draft}/attend", signed_in(404, admin=200, leaderA=200)),  # drafts hidden
        post("hours.code_check_in", "/hours/events/{running}/check-in", signed_in(422)),
        post("hours.code_check_out", "/hours/events/{running}/check-out", signed_in(422)),
        c("hours.attendance", "/hours/events/{running}/attendance", scoped(leaderA=200, memberA=403)),
        post(
            "hours.mark",
            "/hours/events/{running}/attendance/{running_reg}/mark",
            scoped(OK, memberA=403),
            {"state": "attended"},
        ),
        c("hours.times", "/hours/events/{running}/attendance/{running_reg}/times", scoped(leaderA=200, memberA=403)),
        post("hours.times", "/hours/events/{running}/attendance/{running_reg}/times", scoped(OK)),
        post("hours.mark_all", "/hours/events/{running}/attendance/all", scoped(OK)),
        c("hours.event_hours", "/hours/events/{done}/hours", scoped(leaderA=200, coordA=200, memberA=403)),
        post("hours.confirm", "/hours/events/{done}/hours/confirm", scoped(OK)),
        post("hours.add", "/hours/events/{done}/hours/add", scoped(OK, leaderA=OK)),
        c("hours.correct", "/hours/records/{record}/correct", scoped(leaderA=200, memberA=403)),
        post("hours.correct", "/hours/records/{record}/correct", scoped(OK, leaderA=OK)),
        c("hours.request_new", "/hours/mine/request?event={done}&record={record}", scoped(403, memberA=200)),
        c("hours.request_new", "/hours/mine/request?event={done}", signed_in()),
        c("hours.request_new", "/hours/mine/request?event={draft}", signed_in(404, admin=200, leaderA=200)),
        post("hours.request_new", "/hours/mine/request?event={done}", signed_in(422)),
        c("hours.requests", "/hours/requests", {**coordinators(), "leader": 200, "leaderA": 200, "memberA": 403}),
        post("hours.approve", "/hours/requests/{correction}/approve", scoped(OK, memberA=403)),
        post("hours.reject", "/hours/requests/{correction}/reject", scoped(OK)),
        c("hours.beneficiaries", "/hours/events/{done}/beneficiaries", scoped(leaderA=200)),
        post("hours.beneficiaries", "/hours/events/{done}/beneficiaries", scoped(OK, leaderA=OK)),
        c("hours.mine", "/hours/mine", signed_in()),
        c("hours.mine_csv", "/hours/mine.csv", signed_in()),
        c(
            "hours.certificate_new", "/hours/certificates/new", signed_in(admin=403)
        ),  # self-service; admin has no home org
        post("hours.certificate_new", "/hours/certificates/new", signed_in(422, admin=403)),
        c(
            "hours.certificate_for",
            "/hours/events/{done}/volunteers/{member}/certificate",
            scoped(leaderA=200, memberA=403),
        ),
        post("hours.certificate_for", "/hours/events/{done}/volunteers/{member}/certificate", scoped(OK)),
        c("hours.certificate", "/hours/certificates/{certificate}", scoped(memberA=200, coordA=200)),
        c("hours.verify", "/hours/verify/{certificate_token}", everyone(200)),
        c("hours.verify", "/hours/verify/forged", everyone(404)),
        # --- feedback ------------------------------------------------------------------------------
        c("feedback.rate", "/feedback/events/{done}/rate", signed_in()),
        c(  # nobody rates a draft, nobody outside sees its title (A's owners publish it later in the run)
            "feedback.rate",
            "/feedback/events/{draft}/rate",
            {"anon": L, "vol": 404, "leader": 404, "manager": 404, "coord": 404},
        ),
        post("feedback.rate", "/feedback/events/{done}/rate", signed_in(409, memberA=409)),
        c("feedback.public", "/feedback/p/{public_token}", everyone(200)),
        c("feedback.public", "/feedback/p/forged", everyone(404)),
        post("feedback.public", "/feedback/p/{public_token}", everyone(422)),
        c("feedback.event_feedback", "/feedback/events/{done}", scoped(leaderA=200, coordA=200, memberA=403)),
        c("feedback.event_qr", "/feedback/events/{done}/qr", scoped(leaderA=200)),
        post("feedback.hide", "/feedback/comments/{rating}/hide", scoped(OK, leaderA=403, coordA=OK)),
        post("feedback.restore", "/feedback/comments/{rating}/restore", scoped(OK, leaderA=403)),
        c("feedback.venues", "/feedback/venues", coordinators(coordA=200)),
        c("feedback.checklist", "/feedback/orgs/{d1}/checklist", scoped(coordA=200, managerA=403)),
        post("feedback.add_checklist_item", "/feedback/orgs/{d1}/checklist/items", scoped(OK, coordA=OK)),
        c("feedback.edit_item", "/feedback/checklist/{item}/edit", scoped(coordA=200)),
        post("feedback.edit_item", "/feedback/checklist/{item}/edit", scoped(OK)),
        post("feedback.remove_checklist_item", "/feedback/checklist/{item}/remove", scoped(OK)),
        post("feedback.customise", "/feedback/orgs/{d1}/checklist/customise", scoped(OK)),
        post("feedback.revert", "/feedback/orgs/{d1}/checklist/revert", scoped(OK)),
        c("feedback.assess", "/feedback/venues/{venue}/assess", scoped(coordA=200, managerA=403)),
        post("feedback.assess", "/feedback/venues/{venue}/assess", scoped(OK, managerA=403)),
        c("feedback.history", "/feedback/venues/{venue}/assessments", scoped(managerA=200, coordA=200)),
        c("feedback.satisfaction", "/feedback/satisfaction" + report, scoped(coordA=200)),
        c("feedback.satisfaction_csv", "/feedback/satisfaction.csv" + report, scoped(coordA=200)),
        # --- reports -------------------------------------------------------------------------------
        c("reports.dashboard", "/reports/" + report, scoped(coordA=200, leaderA=403)),
        c("reports.hours", "/reports/hours" + report, scoped(coordA=200)),
        c("reports.hours", "/reports/hours?org={d1}&team={team_b}", scoped(coordA=403)),  # a team of B
        c("reports.hours_export", "/reports/hours/export?org={d1}&format=csv", scoped(coordA=200)),
        c("reports.hours_export", "/reports/hours/export?org={d1}&format=xlsx", scoped(coordA=200)),
        c("reports.targets", "/reports/targets" + report, scoped(coordA=200)),
        c("reports.targets_export", "/reports/targets/export?org={d1}&format=csv", scoped(coordA=200)),
        c("reports.events", "/reports/events" + report, scoped(coordA=200)),
        c("reports.events_export", "/reports/events/export?org={d1}&format=xlsx", scoped(coordA=200)),
        c("reports.venues", "/reports/venues" + report, scoped(coordA=200)),
        c("reports.teams", "/reports/teams" + report, scoped(coordA=200)),
        c("reports.new_volunteers", "/reports/volunteers/new" + report, scoped(coordA=200)),
    ]


@pytest.fixture
def app_config() -> dict:
    return GENEROUS_LIMITS  # the login limits have their own tests; here every actor posts


def _matches(response, expected) -> bool:
    status, location = response.status_code, response.headers.get("Location", "")
    if expected == L:
        return status in (302, 303) and "/account/login" in location
    if expected == OK:
        return status in (200, 204, 303, 409, 422) and "/account/login" not in location
    if expected in (302, 303):
        return status == expected and "/account/login" not in location
    return status == expected


def test_every_route_is_in_the_matrix(app, world):
    """A new route (or a new method on one) must get a case here before the suite passes."""
    covered = {(case.endpoint, case.method) for case in cases(world)}
    missing = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in covered:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "routes without an authorization case:\n" + "\n".join(missing)


def test_cases_point_at_their_endpoint(app, world):
    adapter = app.url_map.bind("localhost")
    wrong = []
    for case in cases(world):
        endpoint, _args = adapter.match(case.url.split("?")[0], method=case.method)
        if endpoint != case.endpoint:
            wrong.append(f"{case.method} {case.url}: {endpoint}, not {case.endpoint}")
    assert not wrong, wrong


def test_authorization_matrix(app, world, act):
    """Every case, every actor: refused actors first, then A's owners, then the admin."""
    matrix = cases(world)
    failures = []
    requests = 0
    for actor in (*OUTSIDERS, *OWNERS, "admin"):
        for case in matrix:
            if actor not in case.expect:
                continue
            response = act(actor, case.method, case.url, data=case.data)
            requests += 1
            expected = case.expect[actor]
            if response.status_code >= 500 or not _matches(response, expected):
                failures.append(
                    f"{actor:10s} {case.method} {case.url} -> {response.status_code}"
                    f" {response.headers.get('Location', '')}, expected {expected}"
                )
    print(f"\nauthorization matrix: {len(matrix)} cases, {requests} requests, {len(failures)} failures")
    assert not failures, f"{len(failures)} of {requests} answers were not as expected:\n" + "\n".join(failures)


@pytest.mark.parametrize("actor", ["coordA", "coord", "manager", "leader", "vol"])
def test_nothing_of_another_scope_is_listed(app, world, act, actor):
    """Lists, exports (CSV/XLSX), feeds and searches of one district never name the other's objects."""
    import io

    from openpyxl import load_workbook

    own = "{d1}" if actor == "coordA" else "{d2}"
    other = "乙区" if actor == "coordA" else "甲区"
    pages = [
        "/",
        "/notifications/",
        "/events/mine",
        "/hours/mine",
        "/hours/mine.csv",
        "/venues/bookings/mine",
        f"/events/org/{own}/calendar.ics",
        f"/events/?org={own}",
        f"/teams/?org={own}",
        f"/venues/?org={own}",
        "/orgs/search?org_query=区&scope=mine",
    ]
    if actor in ("coordA", "coord"):
        pages += [
            "/orgs/",
            f"/orgs/{own}/audit",
            "/venues/approvals",
            "/venues/manage",
            "/hours/requests",
            "/feedback/venues?show=all",
            f"/feedback/satisfaction?org={own}",
            f"/feedback/satisfaction.csv?org={own}",
            f"/reports/?org={own}",
            f"/reports/hours?org={own}",
            f"/reports/targets?org={own}",
            f"/reports/events?org={own}",
            f"/reports/venues?org={own}",
            f"/reports/teams?org={own}",
            f"/reports/volunteers/new?org={own}",
            f"/reports/hours/export?org={own}&format=csv",
            f"/reports/hours/export?org={own}&format=xlsx",
            f"/reports/targets/export?org={own}&format=xlsx",
            f"/reports/events/export?org={own}&format=csv",
            f"/reports/events/export?org={own}&format=xlsx",
        ]
    if actor == "manager":
        pages += ["/venues/approvals", "/venues/manage"]
    if actor == "leader":
        pages += ["/hours/requests"]
    leaks, shown = [], 0
    for pattern in pages:
        url = world.url(pattern)
        response = act(actor, "GET", url)
        assert response.status_code == 200, (url, response.status_code)
        if "spreadsheetml" in response.content_type:
            book = load_workbook(io.BytesIO(response.data), read_only=True)
            body = " ".join(str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row)
        else:
            body = response.get_data(as_text=True)
        if other in body:
            at = body.index(other)
            leaks.append(f"{url}: …{body[max(0, at - 60) : at + 40]}…")
        shown += body.count("甲区" if other == "乙区" else "乙区")
    assert not leaks, "\n".join(leaks)
    assert shown > 0, "the pages show nothing of the actor's own scope: the check would prove nothing"
