"""htmx helpers: detect requests, render a page or just its fragment, out-of-band flashes."""

from __future__ import annotations

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    """True for an htmx request that expects a fragment (not a boosted navigation)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render_page(template: str, block: str | None = None, status: int = 200, **context) -> Response:
    """Render `template`; for a non-boosted htmx request only its `block`, plus the flash region OOB.

    Every response varies on HX-Request so caches never serve a fragment as a page.
    """
    if block and is_htmx():
        html = render_block(template, block, **context)
        html += render_template("_flash_oob.html")
    else:
        html = render_template(template, **context)
    response = make_response(html, status)
    response.vary.add("HX-Request")
    return response


def redirect_after_post(location: str) -> Response:
    """303 to `location` (for htmx requests core turns it into HX-Redirect: a whole-page load)."""
    response = make_response("", 303)
    response.headers["Location"] = location
    return response


def flash_only(status: int = 200) -> Response:
    """An htmx answer that swaps nothing but the flash region (out of band)."""
    response = make_response(render_template("_flash_oob.html"), status)
    response.headers["HX-Reswap"] = "none"
    response.vary.add("HX-Request")
    return response
