"""Accounts: register, log in, log out, profile, password, rate limit, safe redirects."""

from __future__ import annotations

import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.extensions import db
from blueprints.core.models import AuditLog
from tests.conftest import htmx
from tests.fixtures.core import PASSWORD


def _register(client, org, **overrides):
    data = {
        "name": "王小明",
        "phone": "13912345678",
        "password": "long-enough-1",
        "confirm": "long-enough-1",
        "home_org": str(org.id),
    }
    data.update(overrides)
    return client.post("/account/register", data=data)


def _users() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


def test_register_creates_account_and_signs_in(client, city_tree):
    response = _register(client, city_tree["c1"], phone="139 1234 5678")
    assert response.status_code == 303
    user = db.session.scalar(sa.select(User).where(User.phone == "13912345678"))
    assert user is not None and user.home_org_id == city_tree["c1"].id
    assert user.password_hash.startswith("pbkdf2:") and "long-enough-1" not in user.password_hash
    home = client.get("/")
    assert "王小明" in home.get_data(as_text=True)
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.register")) is not None


def test_register_rejects_bad_input_with_messages_and_writes_nothing(client, city_tree, make_user):
    make_user(phone="13900000001")
    before = _users()
    cases = [
        ({"phone": "13900000001"}, "already registered"),
        ({"phone": "12345"}, "11-digit"),
        ({"password": "short", "confirm": "short"}, "8 to 128"),
        ({"confirm": "something-else"}, "not the same"),
        ({"home_org": ""}, "Choose the organisation"),
        ({"home_org": "999999"}, "Choose an organisation from the search results"),
        ({"name": "   "}, "Enter your name"),
    ]
    for overrides, message in cases:
        response = _register(client, city_tree["c1"], **overrides)
        assert response.status_code == 422, overrides
        assert message in response.get_data(as_text=True), overrides
    assert _users() == before


def test_register_org_search_without_javascript_shows_choices(client, city_tree):
    response = client.post(
        "/account/register", data={"action": "search_org", "org_query": "向阳", "name": "", "phone": ""}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "向阳社区" in page and f'value="{city_tree["c1"].id}"' in page
    assert "Enter your name" not in page  # no errors while still searching


def test_org_search_fragment(client, city_tree):
    response = client.get("/orgs/search?org_query=幸福&field=home_org", headers=htmx())
    body = response.get_data(as_text=True)
    assert "幸福社区" in body and "<html" not in body
    assert "宜宾市 › 叙州区 › 南岸街道 › 幸福社区" in body


def test_login_logout(client, city_tree, make_user):
    user = make_user(phone="13911112222", org=city_tree["c1"])
    response = client.post("/account/login", data={"phone": "13911112222", "password": PASSWORD})
    assert response.status_code == 303
    assert user.name in client.get("/").get_data(as_text=True)
    assert db.session.get(User, user.id).last_login_at is not None
    response = client.post("/account/logout")
    assert response.status_code == 303
    assert user.name not in client.get("/").get_data(as_text=True)


def test_login_wrong_password_is_422_with_message(client, make_user):
    make_user(phone="13911112223")
    response = client.post("/account/login", data={"phone": "13911112223", "password": "wrong-password"})
    assert response.status_code == 422
    assert "do not match an account" in response.get_data(as_text=True)
    fragment = client.post(
        "/account/login", data={"phone": "13911112223", "password": "wrong"}, headers=htmx()
    ).get_data(as_text=True)
    assert "<html" not in fragment and "do not match" in fragment


def test_logout_needs_post_with_csrf(client, login_as, make_user):
    user = login_as(make_user())
    assert client.get("/account/logout").status_code == 405
    response = client.post("/account/logout", csrf=False)
    assert response.status_code == 400
    assert user.name in client.get("/").get_data(as_text=True)


def test_login_rate_limited_per_phone(client, make_user):
    make_user(phone="13911113333")
    for _ in range(5):
        assert client.post("/account/login", data={"phone": "13911113333", "password": "nope-nope"}).status_code == 422
    response = client.post("/account/login", data={"phone": "13911113333", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.get_data(as_text=True)


def test_login_rate_limit_counts_failures_only(client, make_user):
    make_user(phone="13911114444")
    for _ in range(6):
        assert client.post("/account/login", data={"phone": "13911114444", "password": PASSWORD}).status_code == 303
        client.post("/account/logout")


def test_login_rate_limited_per_ip(app, client):
    app.config["RATELIMIT_LOGIN_PER_IP"] = "3 per minute"
    for i in range(3):
        client.post("/account/login", data={"phone": f"1391111000{i}", "password": "x-x-x-x-x"})
    assert client.post("/account/login", data={"phone": "13911110009", "password": "x"}).status_code == 429


def test_safe_next_redirects(client, make_user):
    make_user(phone="13911115555")
    for target, expected in [
        ("https://elsewhere.example/steal", "/"),
        ("//elsewhere.example", "/"),
        ("/\\elsewhere.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/account/profile", "/account/profile"),
    ]:
        client.post("/account/logout")
        response = client.post("/account/login", data={"phone": "13911115555", "password": PASSWORD, "next": target})
        assert response.status_code == 303
        assert response.headers["Location"] == expected, target


def test_profile_and_password(client, login_as, make_user, city_tree):
    user = login_as(make_user(org=city_tree["c1"]))
    response = client.post(
        "/account/profile", data={"name": "新名字", "email": "a@example.com", "home_org": str(city_tree["c2"].id)}
    )
    assert response.status_code == 303
    db.session.refresh(user)
    assert (user.name, user.email, user.home_org_id) == ("新名字", "a@example.com", city_tree["c2"].id)
    bad = client.post("/account/profile", data={"name": "x", "email": "not-an-email", "home_org": "1"})
    assert bad.status_code == 422
    wrong = client.post(
        "/account/password", data={"current": "nope", "password": "new-pass-123", "confirm": "new-pass-123"}
    )
    assert wrong.status_code == 422 and "not your current password" in wrong.get_data(as_text=True)
    ok = client.post(
        "/account/password", data={"current": PASSWORD, "password": "new-pass-123", "confirm": "new-pass-123"}
    )
    assert ok.status_code == 303
    db.session.refresh(user)
    assert user.check_password("new-pass-123")


def test_pages_need_login(client):
    response = client.get("/account/profile")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_session_cookie_flags(client, make_user):
    make_user(phone="13911116666")
    response = client.post("/account/login", data={"phone": "13911116666", "password": PASSWORD, "remember": "y"})
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert any(c.startswith("remember_token=") and "HttpOnly" in c for c in cookies)


def test_phone_masked_except_for_self_and_admin(make_user):
    a = make_user(phone="13812345678")
    b = make_user(phone="13812345679")
    admin = make_user(phone="13812345670", is_admin=True)
    assert a.phone_for(b) == "138****5678"
    assert a.phone_for(a) == "13812345678"
    assert a.phone_for(admin) == "13812345678"


def test_create_admin_cli(runner):
    result = runner.invoke(
        args=["users", "create-admin", "--phone", "13800009999", "--name", "管理员", "--password", "admin-pass-1"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.phone == "13800009999"))
    assert user.is_admin and user.check_password("admin-pass-1")
    bad = runner.invoke(args=["users", "create-admin", "--phone", "123", "--name", "x", "--password", "admin-pass-1"])
    assert bad.exit_code == 2 and "11-digit" in bad.output
