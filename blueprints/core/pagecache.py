"""Rendered public pages kept per process for visitors who are not signed in.

Public pages (the weekly activity list, an event, a youth home's week) are read far more often than
their data changes, and by people who are not signed in: the same HTML for everyone but the CSRF
token. `anonymous_page_cache(stamp)` keeps a view's HTML per URL, locale and htmx kind, and serves it
again while

- `stamp(**view_args)` (one cheap statement) returns the same value: the data the page shows has
  not changed (seat counts, states, bookings), and
- it is younger than PAGE_CACHE_SECONDS (default 60; 0 turns the cache off; off under TESTING
  unless set): names and settings the stamp does not cover are at most that old.

The stamp itself is read at most every PAGE_CACHE_RECHECK_SECONDS per page (default 1; 0 under
TESTING unless set): a busy public page then costs no database round trip at all, and a change
shows to visitors who are not signed in within that second.

The visitor's own CSRF token is put into the stored HTML on the way out (it is stored with a
placeholder), so forms and htmx requests work as on a freshly rendered page. Signed-in users, a
session with flashed messages, and anything but a plain 200 HTML answer bypass the cache. Each
process keeps its own (bounded) cache; nothing is shared but the database.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from flask import current_app, request, session
from flask_login import current_user

PLACEHOLDER = "\x00csrf-token\x00"
MAX_ENTRIES = 512
_lock = threading.Lock()


def _max_age() -> float:
    app = current_app
    if "PAGE_CACHE_SECONDS" in app.config:
        return float(app.config["PAGE_CACHE_SECONDS"] or 0)
    return 0.0 if app.testing else 60.0


def _recheck_after() -> float:
    app = current_app
    if "PAGE_CACHE_RECHECK_SECONDS" in app.config:
        return float(app.config["PAGE_CACHE_RECHECK_SECONDS"] or 0)
    return 0.0 if app.testing else 1.0


def _cache() -> OrderedDict:
    return current_app.extensions.setdefault("qingyi_page_cache", OrderedDict())


def anonymous_page_cache(stamp: Callable[..., object] | None = None):
    """Decorate a GET view whose page is the same for every visitor who is not signed in."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(**view_args):
            max_age = _max_age()
            if (
                not max_age
                or request.method != "GET"
                or getattr(current_user, "is_authenticated", False)
                or "_flashes" in session
            ):
                return view(**view_args)
            from flask_babel import get_locale
            from flask_wtf.csrf import generate_csrf

            key = (
                request.endpoint,
                request.full_path,
                request.host,
                str(get_locale()),
                request.headers.get("HX-Request"),
                request.headers.get("HX-Boosted"),
                request.headers.get("HX-History-Restore-Request"),
            )
            token = generate_csrf()
            now = time.monotonic()
            cache = _cache()
            with _lock:
                entry = cache.get(key)
            # entry: [stamp, rendered at, html, vary, stamp checked at]
            if entry is not None and now - entry[1] < max_age:
                if now - entry[4] >= _recheck_after():
                    version = stamp(**view_args) if stamp is not None else None
                    if version == entry[0]:
                        entry[4] = now
                    else:
                        entry = None
                if entry is not None:
                    response = current_app.response_class(entry[2].replace(PLACEHOLDER, token), mimetype="text/html")
                    response.vary.update(entry[3])
                    return response
            version = stamp(**view_args) if stamp is not None else None
            response = current_app.make_response(view(**view_args))
            if response.status_code == 200 and response.mimetype == "text/html" and not response.is_streamed:
                html = response.get_data(as_text=True)
                if PLACEHOLDER not in html:
                    with _lock:
                        cache[key] = [version, now, html.replace(token, PLACEHOLDER), set(response.vary), now]
                        cache.move_to_end(key)
                        while len(cache) > MAX_ENTRIES:
                            cache.popitem(last=False)
            return response

        return wrapper

    return decorate
