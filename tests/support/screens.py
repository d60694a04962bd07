"""Screenshots of pages at phone (390 px) and desktop (1280 px) width, for a human to look at.

    .venv/bin/python -m tests.support.screens http://127.0.0.1:5000 PHONE PASSWORD /path1 /path2 ...

PHONE may be '-' for anonymous. Files go to screenshots/<name>-390.png and -1280.png.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.browser.conftest import CHROMIUM

OUT = Path(__file__).resolve().parents[2] / "screenshots"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-quic", "--no-first-run"]


def log_in(page, base: str, phone: str, password: str | None = None) -> None:  # noqa: ANN001
    """Sign in through the login form and wait until the answer's redirect has loaded ("networkidle" right
    after the click could be the login page's own, and a next goto then aborted the login's navigation)."""
    if password is None:
        from tests.fixtures.core import PASSWORD as password
    page.goto(base + "/account/login")
    page.fill("#phone", phone)
    page.fill("#password", password)
    page.click("form#login-form button")
    page.wait_for_url(lambda url: "/account/login" not in url)


def capture(base: str, phone: str, password: str, paths: list[str], prefix: str = "") -> list[Path]:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width, height in ((390, 844), (1280, 900)):
            context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
            page = context.new_page()
            if phone != "-":
                log_in(page, base, phone, password)
            for path in paths:
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                name = prefix + (re.sub(r"[^a-zA-Z0-9]+", "-", path).strip("-") or "home")
                target = OUT / f"{name}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
            context.close()
        browser.close()
    return written


if __name__ == "__main__":
    base_url, phone_arg, password_arg, *page_paths = sys.argv[1:]
    for shot_path in capture(base_url, phone_arg, password_arg, page_paths):
        print(shot_path)
