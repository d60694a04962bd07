"""Connection settings every request relies on.

SQLite: WAL, foreign keys, a busy timeout, and `BEGIN IMMEDIATE` for requests that write, so two
writers queue on the lock instead of failing when the second tries to upgrade a read snapshot.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextvars import ContextVar

from flask import has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 15000

_write_intent: ContextVar[bool] = ContextVar("qingyi_write_intent", default=False)


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()


@event.listens_for(Engine, "begin")
def _on_begin(conn) -> None:  # noqa: ANN001
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


@event.listens_for(Session, "after_commit")
def _after_request_commit(session) -> None:  # noqa: ANN001
    # After the view's single commit, the rest of the request only reads (rendering, email): its
    # next SQLite transaction must not take the write lock and hold it until teardown.
    if has_request_context():
        _write_intent.set(False)
        from .registry import forget_user_facts

        forget_user_facts()


def set_write_intent(value: bool) -> None:
    """Mark the current context (a request, a CLI command) as one that will write."""
    _write_intent.set(value)


@contextlib.contextmanager
def write_intent() -> Iterator[None]:
    """Within this block, new SQLite transactions take the write lock at BEGIN."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


@event.listens_for(Engine, "connect")
def _sqlite_like(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    # Org paths are digits and slashes only; a case-sensitive LIKE lets SQLite use the path index
    # for subtree queries (`path LIKE '/1/5/%'`).
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA case_sensitive_like = ON")
