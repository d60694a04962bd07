"""A new user on a phone: register, log in, switch language, log out — in Chromium, htmx on."""

from __future__ import annotations

import pytest

from blueprints.core.extensions import db

pytestmark = pytest.mark.browser


def test_register_login_language_logout(app, city_tree, live_server, phone_page, shot):
    db.session.commit()
    server = live_server(workers=2)
    page = phone_page
    page.goto(server.url + "/account/register")
    assert page.evaluate("typeof htmx") == "object", "htmx did not load"
    page.fill("#name", "浏览器用户")
    page.fill("#phone", "139 8888 7777")
    page.fill("#password", "browser-pass-1")
    page.fill("#confirm", "browser-pass-1")
    page.fill("#org_query", "向阳")  # htmx search as you type
    page.wait_for_selector("text=向阳社区")
    page.check(f"input[name=home_org][value='{city_tree['c1'].id}']")
    shot(page, "register-phone")
    page.click("button[value=register]")
    page.wait_for_selector("text=欢迎来到青益")
    assert "浏览器用户" in page.content()

    page.click("text=退出")
    page.wait_for_selector("text=您已退出登录")
    page.goto(server.url + "/account/login")
    page.fill("#phone", "13988887777")
    page.fill("#password", "wrong-password")
    page.click("form#login-form button")
    page.wait_for_selector("text=手机号码或密码不正确")  # the form swapped in place (422)
    assert page.url.endswith("/account/login")
    page.fill("#password", "browser-pass-1")
    page.click("form#login-form button")
    page.wait_for_selector("text=您好，浏览器用户")

    page.click("button[value=en]")
    page.wait_for_selector("text=Hello, 浏览器用户")
    assert page.get_attribute("html", "lang") == "en"
    shot(page, "home-en-phone")
    page.click("text=Log out")
    page.wait_for_selector("text=You are signed out.")
    # the page is as wide as the phone: nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
