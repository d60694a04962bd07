"""Fixtures in flaskr's shape: app, client, runner, login_as — on SQLite, and on PostgreSQL too
when TEST_DATABASE_URL is set (every test that uses `app` runs once per backend).

Isolation: SQLite tests get a fresh copy of a template database file; PostgreSQL tests share one
database created for this run (per xdist worker) and emptied before each test, ids restarting at 1.
"""

from __future__ import annotations

import contextvars
import os
import shutil
import uuid
from pathlib import Path

import jinja2
import jinja2.bccache
import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from app import create_app
from blueprints.core.extensions import db
from blueprints.core.i18n import catalogs_stale, compile_catalogs

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
SECRET = "test-secret-key-not-for-production"

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in (ROOT / "tests" / "fixtures").glob("*.py") if not p.stem.startswith("_")
)


def pytest_configure(config):
    if catalogs_stale():
        compile_catalogs()
    _share_url_builders()


#: tests (node id prefixes) that take tens of seconds, longest first: started before the rest, so that the
#: two xdist workers finish together (an ordering hint only: a test missing here is merely started later)
LONG_TESTS = (
    "tests/security/test_fuzz_forms.py::test_one_hostile_value_at_a_time",
    "tests/security/test_fuzz_forms.py::test_every_form_survives_hypothesis",
    "tests/security/test_authz_matrix.py::test_authorization_matrix",
    "tests/hours/test_ledger.py::test_every_route_leaves_existing_records_unchanged",
    "tests/security/test_hardening.py",
    "tests/reports/test_cli.py::test_export_memory_stays_flat_as_rows_grow",
    "tests/perf/test_page_weight.py::test_pages_are_light_and_gzipped",
    "tests/test_migrations.py",
    "tests/test_backup.py",
    "tests/perf/test_query_budget.py",
    "tests/security/test_fuzz_forms.py",
)


@pytest.hookimpl(tryfirst=True)  # before xdist's worker names the groups
def pytest_collection_modifyitems(config, items):
    """Groups and order for `make test` (pytest -n 2 --dist loadgroup).

    Tests that start servers and processes (marked `concurrency`: gunicorn clusters and client processes;
    `browser`: a gunicorn and Chromium) run one after another on one worker, so two of them never compete
    for the two cores (a race scenario's figures and time bounds are its own, a browser's page loads are
    not starved by a race next door) and one Chromium serves them all. The rest go to whichever worker is
    free, the longest first.
    """
    for item in items:
        if item.get_closest_marker("concurrency") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("servers"))

    def rank(item) -> tuple[int, int]:
        if item.get_closest_marker("xdist_group"):
            return 0, 0
        long = [i for i, prefix in enumerate(LONG_TESTS) if item.nodeid.startswith(prefix)]
        if long:
            return 1, long[0]
        return (1, len(LONG_TESTS)) if item.get_closest_marker("slow") else (2, 0)

    items.sort(key=rank)  # stable: within a rank, the collection's order


def _share_url_builders() -> None:
    """Every test makes its own app; most of create_app's time (about 30 of 37 ms) is werkzeug compiling
    the same URL builder functions again for each rule, from generated Python source. A builder depends
    only on the rule and its defaults (the rule object is an argument), so each is compiled once per
    test process and shared by the apps of later tests (37 -> 6 ms an app). Only the test processes are
    patched: gunicorn servers started by tests run werkzeug as it is."""
    from werkzeug.routing.rules import Rule

    compile_builder = getattr(Rule, "_compile_builder", None)
    if compile_builder is None or getattr(compile_builder, "shared", False):
        return  # another werkzeug: leave it alone
    builders: dict = {}

    def shared_builder(self, append_unknown: bool = True):
        key = (
            self.rule,
            self.subdomain,
            self.host,
            tuple(self._trace),
            tuple(sorted((k, repr(v)) for k, v in (self.defaults or {}).items())),
            append_unknown,
        )
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = compile_builder(self, append_unknown)
        return builder

    shared_builder.shared = True
    Rule._compile_builder = shared_builder


def test_config(uri: str, **overrides) -> dict:
    """The config every test app gets; tests may override single keys."""
    config = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": uri,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "RATELIMIT_STORAGE_URI": "memory://",
        # Flask-Limiter keeps `enabled` on its one shared object: set it for every app explicitly
        "RATELIMIT_ENABLED": True,
        "PROPAGATE_UNEXPECTED": True,
        "SERVER_NAME": None,
        "MAIL_SERVER": None,
    }
    config.update(overrides)
    return config


def _pg_admin_url() -> str:
    return sa.engine.make_url(_psycopg(PG_URL)).render_as_string(hide_password=False)


def _psycopg(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    app = create_app(test_config(f"sqlite:///{path}"))
    with app.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database():
    """A database of its own for this test run (parallel runs on one server do not collide)."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"qingyi_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        # a throw-away database: a commit need not wait for its WAL to reach the disk (what every other
        # session sees, and when, is unchanged; only a crash of the server could lose the last commits)
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = sa.engine.make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    app = create_app(test_config(url))
    with app.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    cleaner = _PgCleaner(url)
    yield url, cleaner
    cleaner.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class _PgCleaner:
    """Empties this run's PostgreSQL database before a test, as TRUNCATE ... RESTART IDENTITY would.

    TRUNCATE of every table costs 0.2-0.6 s a test (new files for each table and index, with fsync),
    most of a small test's time; a DELETE of the few tables a test filled costs milliseconds. Tables
    whose rows refuse a DELETE (the append-only ledger's trigger) are truncated, with what refers to
    them. Then every used sequence starts again at 1, so ids are as in a fresh database.
    """

    def __init__(self, url: str) -> None:
        # pre-ping: a test may terminate this database's connections (the outage test)
        self.engine = sa.create_engine(url, pool_size=1, pool_pre_ping=True)
        self.tables = [t.name for t in reversed(db.metadata.sorted_tables)]  # referring tables first
        with self.engine.connect() as conn:
            self.undeletable = set(
                conn.scalars(
                    sa.text(
                        "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                        " WHERE NOT t.tgisinternal AND t.tgtype & 8 = 8"  # TRIGGER_TYPE_DELETE
                    )
                )
            )
        self.has_rows = sa.text("SELECT " + ", ".join(f'EXISTS (SELECT FROM "{t}")' for t in self.tables))
        self.restart = sa.text(
            "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false)"
            " FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
        )

    def clean(self) -> None:
        with self.engine.begin() as conn:
            filled = [t for t, has in zip(self.tables, conn.execute(self.has_rows).one(), strict=True) if has]
            truncate = [t for t in filled if t in self.undeletable]
            if truncate:
                conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in truncate) + " CASCADE"))
            for table in filled:
                if table not in truncate:
                    conn.execute(sa.text(f'DELETE FROM "{table}"'))
            conn.execute(self.restart)

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A clean database for this test, on the backend of this parametrisation."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url, cleaner = request.getfixturevalue("pg_database")
    cleaner.clean()
    return url


class CSRFClient(FlaskClient):
    """A test client like a real browser against a real server.

    - every request runs in a fresh context (its own app context, `g` and database session), as it
      would in a server process, even though the test itself holds an app context open;
    - the test's own session is committed before and after, so the test reads what the request did;
    - a valid CSRF token goes with every POST unless told `csrf=False`.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            db.session.commit()  # the request sees the test's data; no stale snapshot stays open
        # buffered: a streamed body (CSV exports) is read while the request's context is still there
        kwargs.setdefault("buffered", True)
        response = contextvars.Context().run(self._open, *args, **kwargs)
        if has_app_context():
            db.session.commit()  # ends the test's transaction and expires what it loaded
        return response

    def session_transaction(self, *args, **kwargs):
        return _FreshContextManager(super().session_transaction(*args, **kwargs))

    def _open(self, *args, **kwargs):
        send_token = kwargs.pop("csrf", True)
        method = kwargs.get("method", "GET").upper()
        if send_token and method in ("POST", "PUT", "PATCH", "DELETE"):
            with self.session_transaction() as sess:
                raw = sess.setdefault("csrf_token", uuid.uuid4().hex)
            token = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token").dumps(raw)
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", token)
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


class _FreshContextManager:
    """Run a context manager's enter and exit in one fresh contextvars context."""

    def __init__(self, manager):
        self.manager = manager
        self.context = contextvars.Context()

    def __enter__(self):
        return self.context.run(self.manager.__enter__)

    def __exit__(self, *exc):
        return self.context.run(self.manager.__exit__, *exc)


@pytest.fixture
def app_config() -> dict:
    """Override in a test module to change config keys for its apps."""
    return {}


class _SharedTemplateCode(jinja2.BytecodeCache):
    """Compiled templates kept in memory for the apps of later tests (a template whose source changed is
    compiled again: Jinja checks the source's checksum)."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CODE: dict[tuple, _SharedTemplateCode] = {}


def _share_template_code(env: jinja2.Environment) -> None:
    """Every test makes its own app, whose Jinja environment compiled every template it rendered again
    (about a quarter of the in-process tests' time). Apps whose environments compile alike share the
    compiled code: keyed on what shapes it (extensions, the i18n policy, syntax and whitespace options)."""
    shape = (
        tuple(sorted(env.extensions)),
        env.policies.get("ext.i18n.trimmed"),
        env.block_start_string,
        env.variable_start_string,
        env.comment_start_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.optimized,
        env.finalize is not None,
        env.is_async,
    )
    env.bytecode_cache = _TEMPLATE_CODE.setdefault(shape, _SharedTemplateCode())


@pytest.fixture
def app(db_url, app_config):
    app = create_app(test_config(db_url, **app_config))
    app.test_client_class = CSRFClient
    _share_template_code(app.jinja_env)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def backend(db_url) -> str:
    return "postgresql" if db_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def client(app) -> CSRFClient:
    """A browser that prefers English (tests assert English text; pass Accept-Language to test Chinese)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def login_as(client):
    """Sign `user` in on `client` (as Flask-Login would after a password check)."""

    def _login(user, on=None):
        target = on or client
        with target.session_transaction() as sess:
            sess["_user_id"] = str(user.id)
            sess["_fresh"] = True
        return user

    return _login


def htmx(**extra) -> dict:
    """Headers of a (non-boosted) htmx request."""
    return {"HX-Request": "true", **extra}
