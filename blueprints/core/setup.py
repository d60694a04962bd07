"""Wire the shared plumbing into the app: extensions, i18n, security headers, errors, templates."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from types import FunctionType
from urllib.parse import urlsplit

import jinja2.runtime
from flask import Flask, abort, g, request, session
from flask.globals import _cv_request
from flask_babel import format_date, format_datetime, format_time
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from . import db as _db_events  # noqa: F401  (registers connection settings)
from .db import set_write_intent
from .errors import register_error_handlers
from .extensions import babel, csrf, db, limiter, login_manager, migrate
from .registry import get_registry

LOCALES = ("zh_CN", "en")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: query arguments that number list pages; more than six digits is no page (and overflows OFFSET)
PAGE_ARGS = ("page", "tpage", "hpage")


_LOCALE_OBJECTS: dict[str, object] = {}


def select_locale():
    """The request's locale as a Babel Locale made once per process (Flask-Babel parses a string
    again on every request: ~0.2 ms, twice for a page)."""
    code = _select_locale_code()
    locale = _LOCALE_OBJECTS.get(code)
    if locale is None:
        from babel import Locale

        locale = _LOCALE_OBJECTS[code] = Locale.parse(code)
    return locale


def _select_locale_code() -> str:
    """The user's choice, else the session's, else the browser's, else zh_CN."""
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale in LOCALES:
        return current_user.locale
    chosen = session.get("locale")
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(["zh_CN", "zh", "en"]) if request else None
    if best == "en":
        return "en"
    return "zh_CN"


def select_timezone() -> str:
    from flask import current_app

    return current_app.config["TIMEZONE"]


def _csp(app: Flask) -> str:
    script_src = ["'self'"]
    htmx = app.config.get("HTMX_URL") or ""
    parts = urlsplit(htmx)
    if parts.scheme and parts.netloc:
        script_src.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {' '.join(script_src)}",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class IdConverter(IntegerConverter):
    """`<int:...>` in routes: at most a 64-bit integer, so /events/99999999999999999999 is a plain 404
    (the databases cannot compare a larger number with an id column)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def init_core(app: Flask) -> None:
    """Start extensions and shared hooks. Blueprints are registered by app.create_app."""
    root = Path(app.root_path)
    app.url_map.converters["int"] = IdConverter
    if app.config.get("PROXY_FIX"):
        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgres://")
    elif uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    db.init_app(app)
    migrate.init_app(app, db, directory=str(root / "migrations"))
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    if app.config.get("REDIS_URL"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    from .translate import install as install_gettext

    install_gettext(app.jinja_env)
    from .session import QuietSessionInterface

    app.session_interface = QuietSessionInterface()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    from .translate import lazy_gettext as _l

    login_manager.login_message = _l("Please log in to continue.")
    login_manager.login_message_category = "info"
    register_error_handlers(app)
    get_registry(app)

    @app.before_request
    def _refuse_unusable_input() -> None:
        # NUL fits in no PostgreSQL text column and nobody types one: a bad request, refused before any
        # query sees it (else a search box answers 500 on PostgreSQL and works on SQLite)
        sources = (request.args, request.form) if request.method not in SAFE_METHODS else (request.args,)
        for values in sources:
            if any("\x00" in k or "\x00" in v for k, v in values.items(multi=True)):
                abort(400)
        for name in PAGE_ARGS:
            digits = request.args.get(name, "").strip().lstrip("+-")
            if digits.isdigit() and len(digits) > 6:
                abort(404)

    @app.before_request
    def _mark_writes() -> None:
        view = app.view_functions.get(request.endpoint)
        set_write_intent(request.method not in SAFE_METHODS and not getattr(view, "qingyi_writes_late", False))
        g.htmx = request.headers.get("HX-Request") == "true"

    csp = _csp(app)

    @app.after_request
    def _htmx_redirects(response):
        # A redirect answering an htmx request would be followed by the browser's fetch and the next
        # page swapped into the form's target; tell htmx to load it as a whole page instead.
        if (
            response.status_code in (301, 302, 303, 307, 308)
            and request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-Boosted") != "true"
        ):
            location = response.headers.get("Location", "/")
            response.status_code = 204
            response.headers["HX-Redirect"] = location
            del response.headers["Location"]
            response.set_data(b"")
        return response

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.headers.get("HX-Request"):
            response.vary.add("HX-Request")
        if request.endpoint == "static":
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        elif "Cache-Control" not in headers and current_user and getattr(current_user, "is_authenticated", False):
            headers["Cache-Control"] = "private, no-store"
        return response

    @app.teardown_request
    def _clear_writes(exc=None) -> None:  # noqa: ANN001
        set_write_intent(False)

    _template_helpers(app)
    from .compress import init_compression

    init_compression(app)


def _request_root() -> str | None:
    """The script root URLs are built under (None outside a request: Flask builds external URLs)."""
    ctx = _cv_request.get(None)
    return ctx.request.script_root if ctx is not None else None


def _static_version(app: Flask):
    urls: dict[tuple[str | None, str], str] = {}

    def static_url(filename: str) -> str:
        """The file's URL with its version (mtime): cached for good, for each file (anew in debug)."""
        from flask import url_for

        key = (_request_root(), filename)
        url = urls.get(key)
        if url is None or app.debug:
            path = Path(app.static_folder) / filename
            version = str(int(path.stat().st_mtime)) if path.exists() else "0"
            url = urls[key] = url_for("static", filename=filename, v=version)
        return url

    return static_url


#: URLs kept per process by the templates' url_for, at most (then it starts over)
URL_MEMO_SIZE = 20_000
_URL_SCALARS = (int, str, bool, type(None), date)


def _memo_url_for(app: Flask):
    """Templates' url_for, remembering the URLs it built.

    A URL is a pure function of the endpoint, its values and the script root (the app has no
    url_defaults): werkzeug builds one in 4-9 µs, and a list page asks for three or four a row plus a
    dozen for the layout. Calls with values that are not plain scalars (lists, objects), with `_external`
    and friends, or blueprint-relative endpoints go to Flask every time.
    """
    from flask import url_for

    urls: dict[tuple, str] = {}

    def template_url_for(endpoint: str, **values) -> str:
        if endpoint[:1] == "." or any(k[:1] == "_" or type(v) not in _URL_SCALARS for k, v in values.items()):
            return url_for(endpoint, **values)
        key = (_request_root(), endpoint, *values.items())
        url = urls.get(key)
        if url is None:
            if len(urls) >= URL_MEMO_SIZE:
                urls.clear()
            url = urls[key] = url_for(endpoint, **values)
        return url

    return template_url_for


_EVAL_CONTEXT = jinja2.utils._PassArg.eval_context


class QuickCallContext(jinja2.runtime.Context):
    """Jinja's template context, with a faster `call` for the calls templates make most (helpers, macros).

    Every `{{ f(...) }}` in a template goes through Context.call, which asks the callable and its
    __call__ whether they want the context, eval context or environment passed (two failing attribute
    lookups) — about a quarter of the time a list page spends in calls. A plain function says so in its
    __dict__ (taking nothing, or the eval context, as `_()` does), a macro always wants the eval context:
    these are decided here without the lookups, with the same outcome; anything else goes to Jinja's own call.
    """

    def call(__self, __obj, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN204, N805 - Jinja's signature
        kind = type(__obj)
        if kind is FunctionType:
            attrs = __obj.__dict__
            if attrs and "jinja_pass_arg" in attrs:
                if attrs["jinja_pass_arg"] is not _EVAL_CONTEXT:  # `_()` is: ~50 calls a page
                    return jinja2.runtime.Context.call(__self, __obj, *args, **kwargs)
                args = (__self.eval_ctx, *args)
        elif kind is jinja2.runtime.Macro:
            args = (__self.eval_ctx, *args)
        else:
            return jinja2.runtime.Context.call(__self, __obj, *args, **kwargs)
        if kwargs:
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception"
            )


def _csrf_token_once() -> str:
    """Flask-WTF's generate_csrf, asked once a request (it keeps the token in g too, but reads its config
    and the session each time: ~10 µs, and a queue page asks for it twice a row)."""
    token = g.get("_qingyi_csrf_token")
    if token is None:
        token = g._qingyi_csrf_token = generate_csrf()
    return token


def _template_helpers(app: Flask) -> None:
    from .registry import get_registry

    app.jinja_env.context_class = QuickCallContext
    app.jinja_env.globals["csrf_token"] = _csrf_token_once
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.policies["ext.i18n.trimmed"] = True

    # Babel formats a date in ~70 µs; a list page shows the same few dates many times, so each
    # formatted value is kept per process (keyed by value, format, locale and time zone)
    formatted: dict[tuple, str] = {}
    from .translate import current_locale

    def _formatted(fn, value, fmt: str) -> str:  # noqa: ANN001
        # the time zone is the app's (select_timezone): no need to ask Flask-Babel for it each time
        key = (fn, value, fmt, current_locale(), app.config["TIMEZONE"])
        text = formatted.get(key)
        if text is None:
            if len(formatted) >= 20_000:
                formatted.clear()
            text = formatted[key] = fn(value, fmt)
        return text

    @app.template_filter("localdt")
    def localdt(value: datetime | None, fmt: str = "medium") -> str:
        return _formatted(format_datetime, value, fmt) if value else ""

    @app.template_filter("localdate")
    def localdate(value, fmt: str = "medium") -> str:
        return _formatted(format_date, value, fmt) if value else ""

    @app.template_filter("localtime")
    def localtime(value, fmt: str = "short") -> str:
        return _formatted(format_time, value, fmt) if value else ""

    @app.template_filter("badge")
    def badge(count: int | None) -> str:
        """A badge's number: 99 at most, then "99+" (counts stop at BADGE_COUNT_CAP)."""
        from .registry import BADGE_COUNT_CAP

        count = count or 0
        return str(count) if count < BADGE_COUNT_CAP else f"{BADGE_COUNT_CAP - 1}+"

    @app.template_filter("hours")
    def hours(minutes: int | None) -> str:
        """Integer minutes as hours with at most one decimal: 90 -> 1.5."""
        value = (minutes or 0) / 60
        return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else f"{int(value)}"

    static_url = _static_version(app)
    app.jinja_env.globals["url_for"] = _memo_url_for(app)

    def render_slot(name: str, **values):
        """Render every piece registered for slot `name` (see core.registry.Slot)."""
        from flask import render_template
        from markupsafe import Markup

        parts = []
        for entry in get_registry(app).slots.get(name, []):
            context = entry.context(**values)
            if context is not None:
                parts.append(render_template(entry.template, **values, **context))
        return Markup("".join(parts))  # noqa: S704 - autoescaped template output

    app.jinja_env.globals["slot"] = render_slot

    @app.context_processor
    def _globals() -> dict:
        registry = get_registry(app)
        # the user itself, not the proxy: every predicate below reads it several times
        user = current_user._get_current_object()
        return {
            # worked out only when the layout shows the nav (an htmx fragment does not: its predicates
            # may need the user's facts, a statement after a POST's commit)
            "nav_items": _Lazy(lambda: [item for item in registry.nav if _visible(item, user)]),
            "badge_count": lambda name: _badge(registry, name, user),
            "home_panels": registry.panels,
            "static_url": static_url,
            # over Flask-WTF's own context processor's generate_csrf (processors run in order)
            "csrf_token": _csrf_token_once,
            "current_locale": str(current_locale()),
            "htmx_url": app.config["HTMX_URL"],
            "htmx_integrity": app.config.get("HTMX_INTEGRITY"),
        }


class _Lazy:
    """A list computed on first iteration."""

    __slots__ = ("_make", "_items")

    def __init__(self, make) -> None:  # noqa: ANN001
        self._make, self._items = make, None

    def _list(self) -> list:
        if self._items is None:
            self._items = self._make()
        return self._items

    def __iter__(self):  # noqa: ANN204
        return iter(self._list())

    def __len__(self) -> int:
        return len(self._list())

    def __bool__(self) -> bool:
        return bool(self._list())


def _visible(item, user) -> bool:
    try:
        return bool(item.visible(user))
    except Exception:  # noqa: BLE001 - a broken nav predicate must not take the page down
        return False


def _badge(registry, name: str, user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    if name in registry.facts:
        from .registry import user_fact

        return user_fact(user, name)
    count = registry.badges.get(name)
    if count is None:
        return 0
    cache = g.setdefault("_badges", {})
    if name not in cache:
        cache[name] = count(user)
    return cache[name]
