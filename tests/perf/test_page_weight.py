"""Page weight: every main page's HTML ≤ 30 KB uncompressed (lists paginated, also with 10× the rows),
CSS ≤ 15 KB per page (app.css plus the page's own), images as SVG, gzip when the client accepts it,
static files with versioned URLs and far-future cache headers.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.extensions import db
from tests.perf.amplify import amplify
from tests.perf.pages import ids, pages

ROOT = Path(__file__).resolve().parents[2]
HTML_LIMIT = 30 * 1024
CSS_LIMIT = 15 * 1024
STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)"')


@pytest.fixture
def demo(app):
    from blueprints.demo.cli import run_seed

    run_seed("small", quiet=True)
    db.session.commit()
    return ids()


def _walk(client, login_as, urls: dict):
    """(label, response without gzip, response with gzip) of every page."""
    for phone, paths in urls.items():
        if phone is None:
            client.post("/account/logout")
        else:
            login_as(db.session.scalar(sa.select(User).where(User.phone == phone)))
        for url in paths:
            plain = client.get(url)
            zipped = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
            yield f"{phone or 'anonymous'} {url}", plain, zipped


def _css_weight(client, html: str) -> tuple[int, str]:
    """Bytes of app.css plus the heaviest other stylesheet the page links."""
    sizes = {}
    for href in STYLESHEET.findall(html):
        response = client.get(href.replace("&amp;", "&"))
        assert response.status_code == 200, href
        sizes[Path(href.split("?")[0]).stem] = len(response.data)
    own = max((n for n in sizes if n != "app"), key=lambda n: sizes[n], default=None)
    return sizes.get("app", 0) + (sizes[own] if own else 0), own or ""


@pytest.mark.slow
def test_pages_are_light_and_gzipped(client, login_as, demo):
    urls = pages(demo)
    failures, weights = [], []
    for scale in ("1x", "10x"):
        if scale == "10x":
            amplify()
        for label, plain, zipped in _walk(client, login_as, urls):
            assert plain.status_code == 200, label
            size = len(plain.data)
            weights.append((size, f"{scale} {label}"))
            if size > HTML_LIMIT:
                failures.append(f"{scale} {label}: {size} bytes of HTML")
            assert "Content-Encoding" not in plain.headers, f"{label}: compressed without Accept-Encoding"
            assert "Accept-Encoding" in plain.headers.get("Vary", ""), label
            if size >= 1024:
                assert zipped.headers.get("Content-Encoding") == "gzip", label
                body = gzip.decompress(zipped.data)  # the same page (its CSRF token may differ)
                assert body.startswith(b"<!doctype") and abs(len(body) - size) < 200, label
                assert len(zipped.data) < size / 2, label
            html = plain.get_data(as_text=True)
            links = STYLESHEET.findall(html)
            if len(links) != len(set(links)):
                failures.append(f"{scale} {label}: a stylesheet linked more than once: {links}")
            if scale == "1x":
                css, names = _css_weight(client, html)
                if css > CSS_LIMIT:
                    failures.append(f"{label}: {css} bytes of CSS ({names})")
    print("\n".join(f"{n:>7} {label}" for n, label in sorted(weights, reverse=True)[:10]))
    assert not failures, "\n".join(failures)


def test_static_files_are_versioned_cached_and_compressed(client):
    page = client.get("/account/login").get_data(as_text=True)
    hrefs = STYLESHEET.findall(page)
    assert hrefs, "the layout links app.css"
    for href in hrefs:
        url = href.replace("&amp;", "&")
        assert re.search(r"[?&]v=\d+", url), f"{url}: no version in the URL"
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        cache = response.headers.get("Cache-Control", "")
        max_age = int(re.search(r"max-age=(\d+)", cache).group(1))
        assert max_age >= 365 * 24 * 3600 and "public" in cache, cache
        assert response.headers.get("Content-Encoding") == "gzip"
        plain = client.get(url)
        assert gzip.decompress(response.data) == plain.data
        assert "Content-Encoding" not in plain.headers


def test_images_are_svg_and_stylesheets_small():
    images = [p for p in (ROOT / "static").rglob("*") if p.is_file() and p.suffix.lower() not in (".css", ".js")]
    assert images, "the icon at least"
    assert all(p.suffix.lower() == ".svg" for p in images), [p.name for p in images]
    app_css = (ROOT / "static/css/app.css").stat().st_size
    for css in (ROOT / "static/css").glob("*.css"):
        if css.name == "app.css":
            continue
        assert app_css + css.stat().st_size <= CSS_LIMIT, f"app.css + {css.name}: {app_css + css.stat().st_size} bytes"
