"""Web hardening: escaped payloads everywhere, security headers on every kind of answer, no inline
script or style, Secure cookies over HTTPS (also behind a proxy), scrypt password hashes."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from markupsafe import escape

from app import create_app
from blueprints.auth.models import User
from blueprints.core.extensions import db
from tests.conftest import htmx
from tests.conftest import test_config as config_for
from tests.fixtures.core import PASSWORD

from .conftest import GENEROUS_LIMITS
from .test_authz_matrix import cases

PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
RAW = re.compile(r"<script>alert\(1\)</script>|<img src=x onerror=alert\(1\)>")


@pytest.fixture
def app_config() -> dict:
    return GENEROUS_LIMITS


def _viewer(case) -> str | None:  # noqa: ANN001
    """Someone allowed to see the page: A's owner first, else the admin, else anyone."""
    for actor, expected in case.expect.items():
        if actor not in ("anon", "vol", "leader", "manager", "coord", "admin") and expected == 200:
            return actor
    for actor in ("admin", "coord", "vol", "anon"):
        if case.expect.get(actor) == 200:
            return actor
    return None


#: pages of one person (the matrix looks at them as someone else) and objects it does not open
OWN_PAGES = (
    ("requesterA", "/venues/bookings/mine"),
    ("requesterA", "/venues/bookings/{approved}"),
    ("requesterA", "/venues/bookings/{rejected}"),
    ("memberA", "/events/mine"),
    ("memberA", "/hours/mine"),
    ("memberA", "/notifications/"),
    ("memberA", "/"),
    ("leaderA", "/"),
    ("managerA", "/"),
    ("coordA", "/"),
    ("anon", "/events/{cancelled}"),
    ("leaderA", "/events/{done}"),
    ("leaderA", "/feedback/events/{done}/rate"),
    ("memberA", "/hours/events/{running}/attend"),
    ("admin", "/orgs/"),
    ("coordA", "/venues/{venue}/manage"),
)


def _pages(w):  # noqa: ANN001
    """Every GET case of the matrix that someone may see, with that someone, and OWN_PAGES."""
    for case in cases(w):
        if case.method == "GET" and (viewer := _viewer(case)) is not None:
            yield viewer, case.url
    for viewer, pattern in OWN_PAGES:
        yield viewer, w.url(pattern)


def test_payloads_in_every_text_are_shown_escaped(app, build_world, act):
    """Every free text of A's objects (names, titles, descriptions, addresses, purposes, reasons, notes,
    comments, messages) carries a script payload. No page, fragment or flash shows one raw, and each
    labelled text is shown (escaped) somewhere, so the check reaches it."""
    turn = itertools.count()
    labels: dict[str, str] = {}

    def text(label: str) -> str:
        value = label[:2] + PAYLOADS[next(turn) % 2] + label[2:6]
        labels[label] = value
        return value

    w = build_world(text)
    raw, seen, pages = [], set(), 0
    for viewer, url in _pages(w):
        for headers in ({}, htmx()):
            response = act(viewer, "GET", url, headers=headers)
            if not response.content_type.startswith("text/html"):
                continue
            pages += 1
            body = response.get_data(as_text=True)
            if RAW.search(body):
                at = RAW.search(body).start()
                raw.append(f"{viewer} {url}: …{body[max(0, at - 80) : at + 60]}…")
            seen.update(label for label, value in labels.items() if str(escape(value)) in body)
    assert not raw, "unescaped payloads:\n" + "\n".join(raw)
    assert pages > 100
    unseen = sorted(set(labels) - seen)
    assert not unseen, f"texts not shown on any page (add a page to check): {unseen}"


def test_payloads_sent_through_forms_come_back_escaped(app, world, act):
    """Names typed into forms are echoed in flashes and on the next page: escaped, never raw."""
    w = world
    d1, c1 = w.ids["d1"], w.ids["c1"]
    sends = [
        ("coordA", f"/orgs/{d1}/children", {"child-name": "新社区" + PAYLOADS[0], "child-kind": "community"}),
        (
            "coordA",
            "/venues/new",
            {
                "name": "青年之家" + PAYLOADS[1],
                "capacity": "20",
                "min_duration_minutes": "30",
                "max_duration_minutes": "240",
                "max_days_ahead": "30",
                "org_id": str(c1),
            },
        ),
        (
            "coordA",
            "/teams/new",
            {"name": "服务队" + PAYLOADS[0], "join_policy": "open", "org_id": str(c1), "leader_phones": "13900000005"},
        ),
        ("coordA", f"/feedback/orgs/{d1}/checklist/items", {"title": "检查项" + PAYLOADS[1], "max_score": "10"}),
        ("leaderA", f"/events/{w.ids['published']}/cancel", {"reason": "下雨" + PAYLOADS[0]}),
        ("managerA", f"/venues/bookings/{w.ids['pending']}/reject", {"reason": "不合适" + PAYLOADS[1]}),
        ("memberA", "/account/profile", {"name": "志愿者" + PAYLOADS[0], "home_org": str(c1)}),
    ]
    for actor, url, data in sends:
        for headers in ({}, htmx()):
            response = act(actor, "POST", url, data=data, headers=headers, follow_redirects=not headers)
            body = response.get_data(as_text=True)
            assert response.status_code < 500
            assert not RAW.search(body), (url, body[:2000])
    # where they are shown afterwards: escaped
    for actor, url in [
        ("coordA", f"/orgs/{d1}"),
        ("coordA", "/venues/manage"),
        ("coordA", f"/teams/?org={d1}"),
        ("coordA", f"/feedback/orgs/{d1}/checklist"),
        ("leaderA", f"/events/{w.ids['published']}"),
        ("requesterA", "/venues/bookings/mine"),
        ("memberA", "/account/profile"),
    ]:
        body = act(actor, "GET", url).get_data(as_text=True)
        assert not RAW.search(body), (url, RAW.search(body))
        assert "&lt;script&gt;" in body or "&lt;img" in body, f"{url} does not show the payload at all"
    for actor, url in [
        ("coordA", f"/orgs/{d1}/audit"),
        ("memberA", "/notifications/"),
        ("requesterA", "/notifications/"),
    ]:
        assert not RAW.search(act(actor, "GET", url).get_data(as_text=True)), url


def _assert_headers(response, what: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert csp, f"{what}: no CSP"
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, f"{what}: {csp}"
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if " " in part.strip())
    assert directives.get("frame-ancestors") == "'none'", f"{what}: {csp}"
    assert directives.get("object-src") == "'none'", f"{what}: {csp}"
    assert "*" not in directives.get("script-src", "*") and "data:" not in directives["script-src"], csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff", what
    assert response.headers.get("Referrer-Policy") in ("same-origin", "strict-origin-when-cross-origin", "no-referrer")
    assert response.headers.get("X-Frame-Options") == "DENY", what


def test_security_headers_on_every_kind_of_answer(app, world, act, client):
    w = world
    answers = {
        "page": act("anon", "GET", "/"),
        "signed-in page": act("coordA", "GET", f"/reports/?org={w.ids['d1']}"),
        "htmx fragment": act("anon", "GET", "/venues/?q=x", headers=htmx()),
        "htmx redirect": act("vol", "POST", f"/teams/{w.ids['team']}/join", headers=htmx()),
        "redirect to login": act("anon", "GET", "/events/mine"),
        "303 after a POST": act("vol", "POST", "/language", data={"locale": "en"}),
        "400 (no CSRF token)": client.post("/language", data={"locale": "en"}, csrf=False),
        "403": act("vol", "GET", f"/orgs/{w.ids['d1']}"),
        "404": act("anon", "GET", "/no-such-page"),
        "404 htmx": act("anon", "GET", "/no-such-page", headers=htmx()),
        "405": act("anon", "DELETE", "/"),
        "422 form": act("vol", "POST", "/account/password", data={}),
        "csv export": act("coordA", "GET", f"/reports/hours/export?org={w.ids['d1']}&format=csv"),
        "xlsx export": act("coordA", "GET", f"/reports/events/export?org={w.ids['d1']}&format=xlsx"),
        "ical feed": act("anon", "GET", f"/events/org/{w.ids['d1']}/calendar.ics"),
        "json manifest": act("anon", "GET", "/manifest.webmanifest"),
        "health check": act("anon", "GET", "/healthz"),
        "static file": act("anon", "GET", "/static/css/app.css"),
        "printable certificate": act("memberA", "GET", f"/hours/certificates/{w.ids['certificate']}"),
    }
    for what, response in answers.items():
        assert response.status_code < 500, what
        _assert_headers(response, what)
    assert answers["400 (no CSRF token)"].status_code == 400
    assert answers["405"].status_code == 405
    # htmx itself evaluates no script: no eval, no <script> in swapped content, only our own origin
    page = answers["page"].get_data(as_text=True)
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert config, "no htmx-config meta"
    settings = json.loads(config.group(1))
    assert settings["allowEval"] is False and settings["allowScriptTags"] is False
    assert settings["selfRequestsOnly"] is True


def test_no_inline_script_style_or_handlers_in_any_page(app, world, act):
    """The CSP would block them; a page relying on one would be broken, so none may exist."""
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
    handler = re.compile(r"\son[a-z]+\s*=|\shx-on[:-]|\sstyle\s*=|javascript:", re.I)
    bad = []
    for viewer, url in _pages(world):
        response = act(viewer, "GET", url)
        if not response.content_type.startswith("text/html"):
            continue
        body = response.get_data(as_text=True)
        for pattern in (inline_script, handler):
            if m := pattern.search(body):
                bad.append(f"{url}: …{body[max(0, m.start() - 60) : m.end() + 40]}…")
    assert not bad, "\n".join(bad)


def _cookies(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


@pytest.mark.parametrize("via", ["config", "environment"])
def test_cookies_are_secure_over_https(db_url, tmp_path, monkeypatch, via):
    if via == "config":
        https_app = create_app(config_for(db_url, PREFERRED_URL_SCHEME="https"))
    else:
        monkeypatch.setenv("DATABASE_URL", db_url)
        monkeypatch.setenv("SECRET_KEY", "x" * 32)
        monkeypatch.setenv("FLASK_PREFERRED_URL_SCHEME", "https")
        monkeypatch.setenv("FLASK_RATELIMIT_STORAGE_URI", "memory://")
        https_app = create_app()
    assert https_app.config["SESSION_COOKIE_SECURE"] and https_app.config["REMEMBER_COOKIE_SECURE"]
    with https_app.app_context():
        user = User(name="安全测试", phone="13955550001")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        client = https_app.test_client()
        page = client.get("/account/login", base_url="https://localhost")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
        response = client.post(
            "/account/login",
            data={"phone": "13955550001", "password": PASSWORD, "remember": "y", "csrf_token": token},
            base_url="https://localhost",
            headers={"Referer": "https://localhost/account/login"},  # CSRF checks the referrer over HTTPS
        )
        assert response.status_code == 303
        cookies = _cookies(response)
        names = {c.split("=", 1)[0] for c in cookies}
        assert {"session", "remember_token"} <= names, cookies
        for cookie in cookies:
            flags = {f.strip().lower() for f in cookie.split(";")[1:]}
            assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags, cookie
        db.session.remove()
        db.engine.dispose()


def test_cookies_over_plain_http_stay_usable(client, make_user):
    """Without HTTPS configured the cookie is not marked Secure (a browser would drop it on http)."""
    make_user(phone="13955550002")
    page = client.get("/account/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post(
        "/account/login", data={"phone": "13955550002", "password": PASSWORD, "csrf_token": token}, csrf=False
    )
    assert response.status_code == 303
    session_cookie = next(c for c in _cookies(response) if c.startswith("session="))
    assert "secure" not in session_cookie.lower() and "httponly" in session_cookie.lower()


def test_behind_a_proxy_links_use_the_forwarded_scheme(db_url):
    """PROXY_FIX=1 (one proxy in front): X-Forwarded-Proto https makes external links https."""
    from blueprints.orgs.models import Org

    proxied = create_app(config_for(db_url, PROXY_FIX=1))
    with proxied.app_context():
        org = Org(name="测试市", kind="city", path="", depth=0)
        db.session.add(org)
        db.session.flush()
        org.path = f"/{org.id}/"
        db.session.commit()
        client = proxied.test_client()
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "qingyi.example.cn"}
        response = client.get(f"/events/?org={org.id}", headers=forwarded)
        assert response.status_code == 200
        assert f"https://qingyi.example.cn/events/org/{org.id}/calendar.ics" in response.get_data(as_text=True)
        plain = client.get(f"/events/?org={org.id}").get_data(as_text=True)
        assert "https://qingyi.example.cn" not in plain
        db.session.remove()
        db.engine.dispose()


def test_passwords_are_hashed_with_scrypt_by_default(db_url):
    config = config_for(db_url)
    del config["PASSWORD_HASH_METHOD"]  # the tests' fast hash; production keeps the default
    default_app = create_app(config)
    assert default_app.config["PASSWORD_HASH_METHOD"] == "scrypt"
    with default_app.app_context():
        client = default_app.test_client()
        page = client.get("/account/register")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
        from blueprints.orgs.models import Org

        org = Org(name="测试社区", kind="community", path="", depth=0)
        db.session.add(org)
        db.session.flush()
        org.path = f"/{org.id}/"
        db.session.commit()
        response = client.post(
            "/account/register",
            data={
                "name": "新志愿者",
                "phone": "13955550003",
                "password": PASSWORD,
                "password2": PASSWORD,
                "confirm": PASSWORD,
                "home_org": str(org.id),
                "csrf_token": token,
            },
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:3000]
        stored = db.session.scalar(db.select(User.password_hash).where(User.phone == "13955550003"))
        assert stored.startswith("scrypt:"), stored[:20]
        assert PASSWORD not in stored
        db.session.remove()
        db.engine.dispose()


def test_backup_keeps_the_database_password_off_the_command_line(monkeypatch, tmp_path):
    """`flask db backup` on PostgreSQL: the password reaches pg_dump in PGPASSWORD, never in argv
    (which every local user can read with ps)."""
    import shutil
    import subprocess

    seen = {}

    def fake_run(argv, **kwargs):
        seen["argv"], seen["env"] = argv, kwargs.get("env") or {}
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    pg_app = create_app(config_for("postgresql+psycopg://qingyi:s3cret-pw@127.0.0.1:5432/qingyi"))
    result = pg_app.test_cli_runner().invoke(args=["db", "backup", str(tmp_path / "x.dump")])
    assert result.exit_code == 0, result.output
    assert not any("s3cret-pw" in arg for arg in seen["argv"]), seen["argv"]
    assert seen["env"].get("PGPASSWORD") == "s3cret-pw"
    assert any("qingyi@127.0.0.1:5432/qingyi" in arg for arg in seen["argv"])
