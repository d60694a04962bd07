"""Playwright driving Debian's Chromium at phone size; skipped with a reason when it is absent."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.live import HTMX_FILE

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "screenshots"
#: ms a page load, a wait or an expect() may take: generous, since the suite's other worker keeps both
#: cores busy (Playwright's defaults, 30 s and 5 s, timed out on a loaded machine); a passing test waits
#: only as long as its condition takes
TIMEOUT_MS = 90_000


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return "Chromium is not installed (apt-get install -y chromium); CI installs it"
    if not HTMX_FILE.exists():
        return "the pinned htmx copy is missing (npm ci installs node_modules/htmx.org)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e .[test])"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-quic",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield _GenerousBrowser(b)
        b.close()


class _GenerousBrowser:
    """The browser, whose new contexts wait TIMEOUT_MS for pages and conditions."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        return context

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


@pytest.fixture
def phone_page(browser):
    """A page in a 390x844 phone-sized window."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shot(request):
    """Save a screenshot under screenshots/ (git-ignored) for a human to look at.

    Taken in the SQLite run of a test only: its PostgreSQL run shows the same pages and would write the
    same files again (a full-page shot at twice the pixels costs a tenth of a second or more)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("db_url") == "postgresql":
        return lambda page, name: None

    def _shot(page, name: str) -> Path:
        SHOTS.mkdir(exist_ok=True)
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot
