"""Home page, language switch, web app manifest, health check, self-hosted htmx."""

from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, jsonify, redirect, render_template, request, send_file, session, url_for
from flask_login import current_user
from sqlalchemy import text

from . import bp
from .authz import safe_next
from .extensions import db
from .setup import LOCALES
from .translate import gettext as _


@bp.get("/")
def index():
    """Signed-in: the user's panels (events, hours, approvals). Anonymous: what Qingyi is."""
    panels = []
    if current_user.is_authenticated:
        from .registry import get_registry

        for panel in get_registry(current_app).panels:
            context = panel.context(current_user)
            if context is not None:
                panels.append((panel.template, context))
    return render_template("core/index.html", panels=panels)


@bp.post("/language")
def set_language():
    """Remember the chosen language (session, and the profile when signed in)."""
    locale = request.form.get("locale", "")
    if locale not in LOCALES:
        abort(400)
    session["locale"] = locale
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("core.index")), 303)


@bp.get("/manifest.webmanifest")
def manifest():
    """Lets a phone add Qingyi to its home screen."""
    data = {
        "name": _("Qingyi volunteer service"),
        "short_name": _("Qingyi"),
        "start_url": url_for("core.index"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#b3261e",
        "lang": "zh-CN",
        "icons": [
            {"src": url_for("static", filename="img/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    response = jsonify(data)
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/healthz")
def healthz():
    """For load balancers: 200 when the database answers, else 503."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")


@bp.get("/htmx.min.js")
def htmx_file():
    """Serve a self-hosted htmx copy when HTMX_FILE is configured (intranets, offline tests)."""
    path = current_app.config.get("HTMX_FILE")
    if not path or not Path(path).is_file():
        abort(404)
    return send_file(path, mimetype="text/javascript", max_age=86400)


@bp.get("/bench/hello")
def bench_hello():
    """The stack's own limit for load benchmarks; exists only when BENCH_ROUTES is set."""
    if not current_app.config.get("BENCH_ROUTES"):
        abort(404)
    return "Hello, World!"
