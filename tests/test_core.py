"""Shared plumbing: headers, CSRF, error pages in both languages, manifest, language switch, exports."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask

from blueprints.core.authz import safe_next
from blueprints.core.exports import csv_chunks, neutralise, write_xlsx
from tests.conftest import htmx


def test_security_headers(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_no_inline_script_in_pages(client):
    page = client.get("/account/register").get_data(as_text=True)
    assert "<script>" not in page and " onclick=" not in page and "style=" not in page


def test_csrf_missing_gives_clear_400(client, city_tree):
    response = client.post("/account/register", data={"name": "x"}, csrf=False)
    assert response.status_code == 400
    assert "Reload the page" in response.get_data(as_text=True)


def test_error_pages_in_both_languages(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)
    response = client.get("/no-such-page", headers={"Accept-Language": "en-US,en"})
    assert "Page not found" in response.get_data(as_text=True)


def test_htmx_error_is_flash_only(client):
    response = client.get("/no-such-page", headers=htmx())
    assert response.status_code == 404
    assert response.headers["HX-Reswap"] == "none"
    body = response.get_data(as_text=True)
    assert 'hx-swap-oob="true"' in body and "<html" not in body


def test_500_page_is_friendly(app, client):
    app.config["PROPAGATE_UNEXPECTED"] = False

    @app.get("/boom-test")
    def boom():
        raise RuntimeError("boom")

    response = client.get("/boom-test")
    assert response.status_code == 500
    assert "Nothing was changed" in response.get_data(as_text=True) or "未作任何更改" in response.get_data(as_text=True)


def test_language_switch(client):
    assert "登录" in client.get("/", headers={"Accept-Language": "zh-CN,zh"}).get_data(as_text=True)
    response = client.post("/language", data={"locale": "en", "next": "/account/login"})
    assert response.status_code == 303 and response.headers["Location"] == "/account/login"
    assert "Log in" in client.get("/").get_data(as_text=True)
    assert client.post("/language", data={"locale": "fr"}).status_code == 400
    evil = client.post("/language", data={"locale": "zh_CN", "next": "https://evil.example"})
    assert evil.headers["Location"] == "/"


def test_language_choice_saved_on_profile(client, login_as, make_user):
    user = login_as(make_user())
    client.post("/language", data={"locale": "en"})
    from blueprints.core.extensions import db

    db.session.refresh(user)
    assert user.locale == "en"
    assert "Log out" in client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)


def test_manifest(client):
    data = client.get("/manifest.webmanifest").get_json()
    assert data["display"] == "standalone" and data["icons"]


def test_htmx_default_is_pinned_cdn_with_integrity(client):
    page = client.get("/").get_data(as_text=True)
    assert "htmx.org@2.0.11/dist/htmx.min.js" in page and 'integrity="sha384-' in page


def test_fragment_vs_page(client):
    full = client.get("/account/login")
    assert "<html" in full.get_data(as_text=True)
    assert "HX-Request" in full.headers.get("Vary", "")


@pytest.mark.parametrize(
    "target,expected",
    [(None, "/"), ("", "/"), ("/ok", "/ok"), ("//evil", "/"), ("https://evil", "/"), ("/\\evil", "/"), ("ok", "/")],
)
def test_safe_next(target, expected):
    assert safe_next(target) == expected


def test_neutralise_formulas():
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("+86") == "'+86"
    assert neutralise("-5") == "'-5"
    assert neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("王小明") == "王小明"
    assert neutralise(-5) == -5


def test_csv_has_bom_and_is_formula_safe():
    text = "".join(csv_chunks(["姓名", "时长"], [['=HYPERLINK("x")', 3], ["李四", 1.5]]))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1][0].startswith("'=") and rows[2] == ["李四", "1.5"]


def test_xlsx_cells_are_text_not_formulas(tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "x.xlsx"
    write_xlsx(path, ["姓名", "时长"], [["=cmd|' /C calc'!A0", 2], ["王五", 3]])
    ws = load_workbook(path).active
    assert ws["A2"].value == "'=cmd|' /C calc'!A0" and ws["A2"].data_type == "s"
    assert ws["B3"].value == 3 and ws["A1"].value == "姓名"


def test_secret_key_generated_once(tmp_path, monkeypatch):
    from app import _secret_key

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    first = _secret_key(str(tmp_path))
    assert len(first) == 64 and first == _secret_key(str(tmp_path))
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_create_app_reads_database_url(monkeypatch, tmp_path):
    from app import create_app

    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:5432/x")
    monkeypatch.setenv("SECRET_KEY", "k")
    app = create_app()
    assert isinstance(app, Flask)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@127.0.0.1:5432/x"


def test_sqlite_connection_settings(app, backend):
    if backend != "sqlite":
        pytest.skip("SQLite only")
    from sqlalchemy import text

    from blueprints.core.extensions import db

    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_pages_and_static_are_gzipped_when_accepted(client):
    import gzip

    page = client.get("/account/register", headers={"Accept-Encoding": "gzip, br"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert "<html" in gzip.decompress(page.data).decode()
    plain = client.get("/account/register")
    assert "Content-Encoding" not in plain.headers and b"<html" in plain.data
    css = client.get("/static/css/app.css", headers={"Accept-Encoding": "gzip"})
    assert css.headers["Content-Encoding"] == "gzip"
    assert b":root" in gzip.decompress(css.data)
    assert "max-age=31536000" in css.headers["Cache-Control"]


def test_static_urls_are_versioned(client):
    page = client.get("/").get_data(as_text=True)
    assert "/static/css/app.css?v=" in page


def test_redirect_answering_htmx_becomes_hx_redirect(client, make_user):
    make_user(phone="13911117777")
    from tests.fixtures.core import PASSWORD

    response = client.post("/account/login", data={"phone": "13911117777", "password": PASSWORD}, headers=htmx())
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/" and "Location" not in response.headers
    plain = client.post("/account/logout")
    assert plain.status_code == 303


def test_fast_html_params_renders_what_wtforms_renders():
    """core.forms.html_params replaces WTForms' (5x faster): the same markup for any attributes."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from markupsafe import Markup

    from blueprints.core import forms

    keys = st.sampled_from(["class_", "id", "name", "value", "data_hx_get", "aria_describedby", "for_", "x<y", "a&b"])
    values = st.one_of(
        st.booleans(),
        st.integers(),
        st.none(),
        st.text(alphabet="ab<>&\"' 中", max_size=8),
        st.text(alphabet="ab<>&\"'", max_size=8).map(Markup),
    )

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(keys, values, max_size=5))
    def same(kwargs):
        ours, theirs = forms.html_params(**kwargs), forms._wtforms_html_params(**kwargs)
        assert ours == theirs and isinstance(ours, Markup)

    same()


_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""


def test_sqlite_writers_take_turns_through_the_writers_lock(app, backend, city_tree):
    """On SQLite a writing transaction holds "<file>-writers" (another process waiting on it wakes as soon
    as the transaction ends, instead of SQLite's sleeping retries); a read does not; the commit frees it."""
    import subprocess
    import sys

    import sqlalchemy as sa

    from blueprints.core.db import write_intent
    from blueprints.core.extensions import db
    from blueprints.orgs.models import Org

    if backend != "sqlite":
        pytest.skip("SQLite only")
    db.session.commit()
    path = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database + "-writers"

    def seen_from_another_process() -> str:
        run = subprocess.run([sys.executable, "-c", _TRY_LOCK, path], capture_output=True, text=True, timeout=30)
        return run.stdout.strip()

    db.session.scalar(sa.select(sa.func.count()).select_from(Org))  # a read transaction
    assert seen_from_another_process() == "free"
    db.session.rollback()
    with write_intent():
        db.session.get(Org, city_tree["city"].id).name = "宜宾"
        db.session.flush()
        assert seen_from_another_process() == "held"
        db.session.commit()
    assert seen_from_another_process() == "free"
    with write_intent():
        db.session.get(Org, city_tree["city"].id).name = "宜宾市"
        db.session.flush()
        db.session.rollback()
    assert seen_from_another_process() == "free"


def test_writers_queue_gives_up_after_the_busy_timeout(tmp_path):
    """A writer holding the queue for too long (or stopped) cannot hang every other writer: a waiter gives
    up after its timeout (then SQLite's own busy handling decides) and takes the turn once it is free."""
    import fcntl
    import os
    import time

    from blueprints.core.db import _WriterQueue

    path = str(tmp_path / "app.db-writers")
    other = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # another process's hold (its own open file)
    fcntl.flock(other, fcntl.LOCK_EX)
    queue = _WriterQueue(path)
    started = time.monotonic()
    assert queue.acquire(timeout=0.2) is False
    assert 0.2 <= time.monotonic() - started < 2
    assert queue.holders == 0
    fcntl.flock(other, fcntl.LOCK_UN)
    assert queue.acquire(timeout=0.2) is True
    queue.release()
    os.close(other)


def test_template_calls_pass_what_jinja_passes(app):
    """core.setup.QuickCallContext decides without Jinja's lookups; the outcome must be Jinja's own."""
    import jinja2
    from jinja2 import pass_context, pass_environment, pass_eval_context
    from markupsafe import Markup

    env = app.jinja_env
    plain = jinja2.Environment(autoescape=True)
    source = (
        "{% macro box(x) %}[{{ x }}{{ caller() if caller else '' }}]{% endmacro %}"
        "{{ plain(1, k=2) }} {{ ctx('v') }} {{ ectx() }} {{ envf() }} {{ box('<b>') }} "
        "{% call box(3) %}in{% endcall %} {% for i in [1, 2] %}{{ plain(i) }}{{ ctx('v') }}{{ ectx2(i, k='<k>') }}{% endfor %}"
        "{% set s %}{{ plain('set') }}{% endset %}{{ s }} {{ stop() is undefined }} {{ cls() }}"
    )

    class Callable:
        def __call__(self):
            return "obj"

    def stop():
        raise StopIteration

    helpers = {
        "plain": lambda a, k=0: f"p{a}{k}",
        "ctx": pass_context(lambda c, name: f"c{c.get(name)}"),
        "ectx": pass_eval_context(lambda e: f"e{e.autoescape}"),
        "ectx2": pass_eval_context(lambda e, a, k="": Markup(f"e{a}") + k),
        "envf": pass_environment(lambda e: f"n{isinstance(e, jinja2.Environment)}"),
        "stop": stop,
        "cls": Callable(),
        "v": "V",
    }
    ours = env.from_string(source).render(**helpers)
    theirs = plain.from_string(source).render(**helpers)
    assert type(env.from_string("").new_context()).__name__ == "QuickCallContext"
    assert (
        ours == theirs and "p12 cV eTrue nTrue [&lt;b&gt;] [3in] p10cVe1&lt;k&gt;p20cVe2&lt;k&gt;pset0 True obj" in ours
    )


def test_token_form_renders_what_an_empty_form_renders_and_its_token_is_accepted(app, client, make_user, login_as):
    """TokenForm (a template's button that POSTs) gives the same hidden field as EmptyForm, with the token
    CSRFProtect then accepts; with CSRF off it renders nothing, as EmptyForm's missing field does."""
    import re

    from blueprints.core.forms import EmptyForm, TokenForm

    with app.test_request_context("/"):
        assert str(TokenForm().csrf_token) == str(EmptyForm().csrf_token)
        assert 'name="csrf_token"' in str(TokenForm().csrf_token)
    app.config["WTF_CSRF_ENABLED"] = False
    with app.test_request_context("/"):
        assert str(TokenForm().csrf_token) == "" and not hasattr(EmptyForm(), "csrf_token")
    app.config["WTF_CSRF_ENABLED"] = True
    login_as(make_user())
    page = client.get("/notifications/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/notifications/read-all", data={"csrf_token": token}, csrf=False).status_code in (200, 303)
    assert client.post("/notifications/read-all", data={"csrf_token": "forged"}, csrf=False).status_code == 400


def test_session_cookie_is_set_again_only_when_it_changed(client, login_as, make_user, make_event):
    """An htmx answer that shows its message at once leaves the session as it came: no new cookie. A message
    left for the next page (a 303 without JavaScript) changes it: the cookie is set, and set again when that
    page has shown the message."""
    event = make_event(title="社区敬老探访", capacity=5)
    register_url, cancel_url, page_url = (
        f"/events/{event.id}/register",
        f"/events/{event.id}/registration/cancel",
        f"/events/{event.id}",
    )
    login_as(make_user())

    def sets_session(response) -> bool:
        return any(h.startswith("session=") for h in response.headers.getlist("Set-Cookie"))

    client.get(page_url)  # the session holds its CSRF token from here on
    answer = client.post(register_url, headers=htmx())
    assert answer.status_code == 200 and "You are registered" in answer.get_data(as_text=True)
    assert not sets_session(answer)
    assert not sets_session(client.get(page_url))
    left = client.post(cancel_url)  # without JavaScript: the message waits in the session for the next page
    assert left.status_code == 303 and sets_session(left)
    shown = client.get(page_url)
    assert "Your place is cancelled" in shown.get_data(as_text=True) and sets_session(shown)
    again = client.get(page_url)
    assert "Your place is cancelled" not in again.get_data(as_text=True) and not sets_session(again)
