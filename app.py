"""Qingyi application factory: config, extensions, blueprints, CLI. Nothing else."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

DEFAULT_HTMX_URL = "https://cdn.jsdelivr.net/npm/htmx.org@2.0.11/dist/htmx.min.js"
DEFAULT_HTMX_INTEGRITY = "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg"

BLUEPRINTS = (
    "core",
    "auth",
    "orgs",
    "notifications",
    "venues",
    "teams",
    "events",
    "hours",
    "reports",
    "feedback",
    "demo",
)


def _secret_key(instance_path: str) -> str:
    """SECRET_KEY from the environment, else generated once into instance/ and reused."""
    key = os.environ.get("SECRET_KEY") or os.environ.get("FLASK_SECRET_KEY")
    if key:
        return key
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Qingyi Flask app."""
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI="sqlite:///" + str(Path(app.instance_path) / "qingyi.db"),
        SQLALCHEMY_ENGINE_OPTIONS={},
        TIMEZONE="Asia/Shanghai",
        HTMX_URL=DEFAULT_HTMX_URL,
        HTMX_INTEGRITY=DEFAULT_HTMX_INTEGRITY,
        HTMX_FILE=None,
        REDIS_URL=None,
        RATELIMIT_LOGIN_PER_IP="20 per minute",
        RATELIMIT_LOGIN_PER_PHONE="5 per 5 minutes",
        MAIL_SERVER=None,
        MAIL_PORT=25,
        MAIL_USERNAME=None,
        MAIL_PASSWORD=None,
        MAIL_USE_TLS=False,
        MAIL_SENDER="qingyi@localhost",
        PASSWORD_HASH_METHOD="scrypt",  # noqa: S106 - a hashing method name, not a password
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PREFERRED_URL_SCHEME="http",
        PROXY_FIX=0,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(app.root_path) / "translations"),
    )
    if test_config is None:
        app.config.from_prefixed_env()
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
        for name in ("REDIS_URL", "TIMEZONE", "HTMX_URL", "HTMX_INTEGRITY", "HTMX_FILE", "MAIL_SERVER"):
            if os.environ.get(name):
                app.config[name] = os.environ[name]
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)
    if app.config["HTMX_URL"] != DEFAULT_HTMX_URL and app.config["HTMX_INTEGRITY"] == DEFAULT_HTMX_INTEGRITY:
        # A self-hosted copy may be another build: only the pinned CDN file has a known hash.
        app.config["HTMX_INTEGRITY"] = None
    if app.config["PREFERRED_URL_SCHEME"] == "https":
        app.config.setdefault("SESSION_COOKIE_SECURE", True)
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True

    from blueprints.core.setup import init_core

    init_core(app)

    import importlib

    for name in BLUEPRINTS:
        module = importlib.import_module(f"blueprints.{name}")
        module.init_app(app)
    return app
