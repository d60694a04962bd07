"""Connection settings every request relies on.

SQLite: WAL, foreign keys, a busy timeout, and `BEGIN IMMEDIATE` for requests that write, so two
writers queue on the lock instead of failing when the second tries to upgrade a read snapshot.

Reads of a request that writes nothing (GET, HEAD, and what a POST reads after its commit) run without
a transaction of their own on both databases, each statement in its own snapshot — what PostgreSQL's
default READ COMMITTED gives a transaction anyway. It saves the BEGIN and ROLLBACK a page would
otherwise pay for (on PostgreSQL two round trips of the five to eight a page needs). Commands and
tests outside a request keep their transactions. On PostgreSQL a read that streams its result from a
server-side cursor, or opens a savepoint, gets a transaction from that statement on (both need one).

PostgreSQL connections that sat idle in the pool for IDLE_PING_SECONDS are checked (one round trip)
before use, so a database restart overnight costs nobody an error; a connection in steady use is not
(a failure then invalidates the pool and the request gets the 503 page; the next one reconnects).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar

from flask import has_request_context
from sqlalchemy import event, exc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import types as sa_types
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

SQLITE_BUSY_TIMEOUT_MS = 15000
IDLE_PING_SECONDS = 10.0

_write_intent: ContextVar[bool] = ContextVar("qingyi_write_intent", default=False)


class _WriterQueue:
    """Writers to one SQLite file take turns through an exclusive flock on "<file>-writers" before BEGIN
    IMMEDIATE, held until the connection goes back to the pool after its commit or rollback.

    Without it a second writer finds the database locked and SQLite's busy handler polls it, sleeping
    1, 2, 5, 10, 15… ms between tries: under a stream of registrations most of a worker's time went to
    sleeping past the moment the lock was free. A waiter on the queue tries every millisecond at most
    and gives up after SQLite's busy timeout (then SQLite's busy handling decides, as without the
    queue: a writer stuck for that long cannot hang every other writer). SQLite's own lock stays the
    rule; this only orders the writers. Within one process
    the flock is counted (two threads, or a second connection of the same request, do not wait for
    each other: SQLite's busy handling decides between them, as without the queue).
    """

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.pid = os.getpid()  # a forked child opens its own (a shared open file shares the lock)
        self.holders = 0
        self.mutex = threading.Lock()

    def acquire(self, timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> bool:
        """Wait for the writers' turn, at most `timeout` seconds (SQLite's busy timeout). False when
        it did not come (a writer holding it for that long, or stopped): the caller goes on without the
        queue, and SQLite's own busy timeout decides, as it would without the queue."""
        with self.mutex:
            self.holders += 1
            if self.holders > 1:
                return True
        deadline = time.monotonic() + timeout
        pause = 0.0005
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    with self.mutex:
                        self.holders -= 1
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.001)  # a freed turn is taken within a millisecond

    def release(self) -> None:
        with self.mutex:
            self.holders -= 1
            if self.holders == 0:
                fcntl.flock(self.fd, fcntl.LOCK_UN)


_WRITER_QUEUES: dict[str, _WriterQueue] = {}
_WRITER_QUEUES_LOCK = threading.Lock()


def _writer_queue(dbapi_connection: sqlite3.Connection) -> _WriterQueue | None:
    """The queue of the connection's database file (None for a database in memory)."""
    path = next((row[2] for row in dbapi_connection.execute("PRAGMA database_list") if row[1] == "main"), "")
    if not path:
        return None
    with _WRITER_QUEUES_LOCK:
        queue = _WRITER_QUEUES.get(path)
        if queue is None or queue.pid != os.getpid():
            queue = _WRITER_QUEUES[path] = _WriterQueue(path + "-writers")
    return queue


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
        connection_record.info["qingyi_writers"] = _writer_queue(dbapi_connection)


def _begin_immediate(conn) -> None:  # noqa: ANN001
    """SQLite: the writers' turn (once per pooled connection until it is returned), then BEGIN IMMEDIATE."""
    info = conn.connection.info  # the pooled connection's record
    queue = info.get("qingyi_writers")
    if queue is not None and not info.get("qingyi_writing") and queue.acquire():
        info["qingyi_writing"] = True
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@event.listens_for(Engine, "begin")
def _on_begin(conn) -> None:  # noqa: ANN001
    writing = _write_intent.get()
    reading_in_request = not writing and has_request_context()
    if conn.dialect.name == "sqlite":
        if writing:
            _begin_immediate(conn)
        elif not reading_in_request:
            conn.exec_driver_sql("BEGIN")
    elif reading_in_request and conn.dialect.name == "postgresql":
        dbapi_connection = conn.connection.dbapi_connection
        if not dbapi_connection.autocommit and dbapi_connection.info.transaction_status == 0:  # IDLE
            dbapi_connection.autocommit = True
            conn.connection.info["qingyi_autocommit"] = True


def _transaction_from_here(conn) -> None:  # noqa: ANN001
    """A PostgreSQL connection reading without a transaction (see _on_begin) starts one with its next statement."""
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection.autocommit and dbapi_connection.info.transaction_status == 0:  # IDLE
        dbapi_connection.autocommit = False


@event.listens_for(Engine, "before_execute")
def _streams_need_a_transaction(conn, clauseelement, multiparams, params, execution_options) -> None:  # noqa: ANN001
    """A result streamed from the server (yield_per, stream_results: a PostgreSQL cursor) needs a transaction."""
    if conn.connection.info.get("qingyi_autocommit") and (
        execution_options.get("yield_per") or execution_options.get("stream_results")
    ):
        _transaction_from_here(conn)


@event.listens_for(Engine, "savepoint")
def _savepoints_need_a_transaction(conn, name) -> None:  # noqa: ANN001
    """A savepoint (begin_nested: a read page that creates missing defaults) needs a transaction too."""
    if conn.connection.info.get("qingyi_autocommit"):
        _transaction_from_here(conn)


def _leave_writer_queue(connection_record) -> None:  # noqa: ANN001
    if connection_record.info.pop("qingyi_writing", False):
        connection_record.info["qingyi_writers"].release()


@event.listens_for(Pool, "reset")
def _reset(dbapi_connection, connection_record, reset_state) -> None:  # noqa: ANN001
    _leave_writer_queue(connection_record)  # the transaction is over (committed, or rolled back by the reset)


@event.listens_for(Pool, "invalidate")
def _invalidated(dbapi_connection, connection_record, exception) -> None:  # noqa: ANN001
    _leave_writer_queue(connection_record)


@event.listens_for(Pool, "checkin")
def _end_autocommit(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    _leave_writer_queue(connection_record)
    if connection_record.info.pop("qingyi_autocommit", False) and dbapi_connection is not None:
        with contextlib.suppress(Exception):  # a broken connection is discarded by the pool anyway
            dbapi_connection.autocommit = False
    connection_record.info["qingyi_checked_in"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, connection_record, connection_proxy) -> None:  # noqa: ANN001
    if isinstance(dbapi_connection, sqlite3.Connection):
        return
    idle_since = connection_record.info.get("qingyi_checked_in")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return
    try:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute(";")
        dbapi_connection.autocommit = autocommit
    except Exception as error:  # noqa: BLE001 - any failure: let the pool connect anew
        raise exc.DisconnectionError() from error


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


def stop_writing() -> None:
    """Roll back, and read from here on: for a writes_late view refusing the change, whose answer is
    only rendered (on SQLite its next statements must not take the writers' turn again and keep it
    while the page renders)."""
    from .extensions import db

    db.session.rollback()
    if has_request_context():
        _write_intent.set(False)


def writes_late(view):  # noqa: ANN001, ANN201
    """Mark a view whose request reads first and starts writing only when its service says so
    (begin_writing): its reads before that run as a GET's do, and on SQLite the other writers are kept
    waiting only from that moment to the commit, not for the whole request (the user's row, the form,
    the checks). The view's service must call begin_writing() before it reads what it writes from."""
    view.qingyi_writes_late = True
    return view


def begin_writing() -> None:
    """From here on the request writes: its transaction starts now if it has none yet (SQLite: the writers'
    turn and BEGIN IMMEDIATE; PostgreSQL: a transaction from the next statement). No-op when the
    transaction already writes, and outside a request (commands and tests keep their transactions)."""
    from .extensions import db

    if not has_request_context():
        return
    _write_intent.set(True)
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        dbapi_connection = conn.connection.dbapi_connection
        if not dbapi_connection.in_transaction:
            _begin_immediate(conn)
    elif conn.connection.info.get("qingyi_autocommit"):
        _transaction_from_here(conn)


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


_RECORD_CLASSES: dict[tuple[str, ...], type] = {}


def records(result) -> list:  # noqa: ANN001 - a SQLAlchemy Result
    """The result's rows as named tuples.

    A template reads each field of a list row several times; a field of SQLAlchemy's Row costs ~0.7 µs
    (its __getattr__ looks the key up), a named tuple's 0.09 µs.
    """
    return list(map(_record_class(tuple(result.keys()))._make, result.all()))


def _record_class(keys: tuple[str, ...]) -> type:
    cls = _RECORD_CLASSES.get(keys)
    if cls is None:
        cls = _RECORD_CLASSES[keys] = collections.namedtuple("Record", keys, rename=True)
    return cls


class _Plan:
    """A SELECT compiled once for a dialect, run on the DBAPI cursor directly (see fetch).

    What SQLAlchemy's Connection.execute does for each call of a cached statement — the cache key walk,
    an execution context, the expansion of IN lists, bind and result processing — costs ~100 µs on
    SQLite and more on PostgreSQL, for a statement the database answers in 20-80 µs. Here the SQL text of
    each shape (the lengths of the IN lists) is kept with a recipe for the driver's parameters (SQLAlchemy's
    own bind processors, in its own order), and the columns' own result processors are applied to the rows.
    Statement listeners (before/after_cursor_execute: the query-budget tests count with them) still fire.
    """

    __slots__ = ("compiled", "usable", "expanding", "binds", "shapes", "types", "row", "procs")

    def __init__(self, statement, dialect) -> None:  # noqa: ANN001
        c = self.compiled = statement.compile(dialect=dialect)
        dml = c.isinsert or c.isupdate or c.isdelete
        self.usable = bool(
            c._result_columns
            and (c._ordered_columns or dml)
            and not c._textual_ordered_columns
            and not c._ad_hoc_textual
            and not c.literal_execute_params
            and not c.schema_translate_map
            # an INSERT, UPDATE or DELETE … RETURNING whose every value is in the statement: one that leaves a
            # value to Python (a column's default or onupdate, computed at execution: "prefetch"), or an
            # INSERT whose columns come from the parameters' keys, is compiled per execution by SQLAlchemy
            and not (dml and c.for_executemany)
            and not (c.isinsert and not statement._values)
            and not c.insert_prefetch
            and not c.update_prefetch
            and not any(isinstance(b.type, sa_types.TupleType) for b in c.post_compile_params)
        )
        self.expanding = tuple(sorted(c.bind_names[b] for b in c.post_compile_params))
        # DML: a parameter named after a column but bound to nothing would be a value SQLAlchemy adds to the
        # statement (SET col = …); such a call goes through SQLAlchemy
        self.binds = frozenset(c.bind_names.values()) if dml else None
        self.shapes: dict[tuple, tuple] = {}
        self.types = [rc.type for rc in c._result_columns]
        self.row = _record_class(tuple(rc.keyname for rc in c._result_columns))
        self.procs = None  # [(index, processor)], from the first result's description

    def _shape(self, values: dict, key: tuple) -> tuple:
        """The SQL text and the driver parameters' recipe for one shape of the parameters."""
        c = self.compiled
        if self.expanding:
            expanded = c._process_parameters_for_postcompile(dict(values))
            sql, positions, names = expanded.statement, expanded.positiontup, list(expanded.parameters)
            processors = {**c._bind_processors, **expanded.processors}
            source = {n: (orig, i) for orig, ns in expanded.parameter_expansion.items() for i, n in enumerate(ns)}
        else:
            sql, positions, names = c.string, c.positiontup, list(values)
            processors, source = c._bind_processors, {}
        escaped = c.escaped_bind_names or {}
        recipe = tuple(
            (escaped.get(n, n), *source.get(n, (n, None)), processors.get(n))
            for n in (positions if c.positional else names)
        )
        shape = self.shapes[key] = (sql, recipe)
        return shape

    def run(self, conn, params: dict, with_begin: bool = False):  # noqa: ANN001, ANN201 - the session's Connection
        """The rows; None when the parameters cannot be prepared here (the caller then goes through
        SQLAlchemy, which raises what it raises for them: a missing value, a naive datetime…).
        with_begin: a psycopg connection about to start its transaction sends BEGIN and the statement in one
        round trip (pipeline mode) instead of one each."""
        c = self.compiled
        if self.binds is not None and not self.binds.issuperset(params):
            return None
        try:
            values = c.construct_params(params, escape_names=False, _no_postcompile=True)
            for name in self.expanding:
                if not isinstance(values[name], list):
                    values[name] = list(values[name])
            key = tuple(len(values[n]) for n in self.expanding)
            sql, recipe = self.shapes.get(key) or self._shape(values, key)
            args = [
                (
                    proc(values[src] if i is None else values[src][i])
                    if proc
                    else (values[src] if i is None else values[src][i])
                )
                for _out, src, i, proc in recipe
            ]
        except Exception:  # noqa: BLE001 - SQLAlchemy's own path reports it
            return None
        if not c.positional:
            args = {out: value for (out, *_rest), value in zip(recipe, args, strict=True)}
        elif conn.dialect.execute_sequence_format is tuple:
            args = tuple(args)
        dispatch = conn.dispatch
        cursor = None
        try:
            dbapi_connection = conn.connection.dbapi_connection
            cursor = dbapi_connection.cursor()
            if dispatch.before_cursor_execute:
                dispatch.before_cursor_execute(conn, cursor, sql, args, None, False)
            if with_begin:
                # our own BEGIN, queued with the statement: the pipeline's one Sync at the end of the block
                # brings both results (the statement's rows are kept by its cursor). In autocommit psycopg sends
                # no BEGIN of its own (it would await it before the statement), and it ends the transaction
                # the server reports open at commit() and rollback() as at any other time.
                dbapi_connection.autocommit = True
                with dbapi_connection.pipeline():
                    cursor.execute("BEGIN")
                    cursor.execute(sql, args)
            else:
                cursor.execute(sql, args)
            rows = cursor.fetchall()
            # psycopg builds the description's column objects at each access: read it for the first result only
            description = cursor.description if self.procs is None else None
            if dispatch.after_cursor_execute:
                dispatch.after_cursor_execute(conn, cursor, sql, args, None, False)
        except conn.dialect.loaded_dbapi.Error as error:
            # wrapped as SQLAlchemy wraps it, and a lost connection invalidated; anything else (a value
            # the driver refuses, such as an integer past 64 bits: OverflowError) goes up unchanged, as
            # from SQLAlchemy's own execution
            conn._handle_dbapi_exception(error, sql, args, cursor, None)
            raise  # not reached: the call above raises
        finally:
            if cursor is not None:
                cursor.close()
        procs = self.procs
        if procs is None:
            if len(description) != len(self.types):
                raise RuntimeError("result columns differ from the compiled statement's")
            procs = self.procs = [
                (i, p)
                for i, (t, d) in enumerate(zip(self.types, description, strict=True))
                if (p := t._cached_result_processor(conn.dialect, d[1])) is not None
            ]
        make = self.row._make
        if not procs:
            return list(map(make, rows))
        out = []
        for row in rows:
            row = list(row)
            for i, p in procs:
                row[i] = p(row[i])
            out.append(make(row))
        return out


_PLANS: dict[tuple[int, str], tuple[object, _Plan | None]] = {}
_SEEN_ONCE: dict[int, object] = {}


def _plan(statement, dialect) -> _Plan | None:  # noqa: ANN001
    """The statement's plan, from its second use on (the project's fetch statements are built once per
    process; one built anew for each call never gets one). Statements are held, so their ids stay theirs."""
    key = (id(statement), dialect.name)
    entry = _PLANS.get(key)
    if entry is not None and entry[0] is statement:
        return entry[1]
    if _SEEN_ONCE.get(id(statement)) is not statement:
        if len(_SEEN_ONCE) >= 512:
            _SEEN_ONCE.clear()
        _SEEN_ONCE[id(statement)] = statement
        return None
    plan = _Plan(statement, dialect)
    _PLANS[key] = (statement, plan if plan.usable else None)
    return plan if plan.usable else None


def fetch(statement, params: dict | None = None) -> list:  # noqa: ANN001 - a SELECT, or DML … RETURNING
    """Run a SELECT of columns on the request's connection and return its rows as named tuples.

    The same for an INSERT, UPDATE or DELETE … RETURNING (the rows it returns) whose values are all in the
    statement (no column default or onupdate left to Python: set them from a parameter).

    session.execute() sends a SELECT of ORM columns through the ORM's execution path (its compile state,
    result setup, identity bookkeeping): ~70 µs more a statement than the same SELECT on the session's
    connection, for rows that hold no entities anyway. Same transaction, same connection. A statement
    used again (the prebuilt ones) runs through its _Plan, on the connection's DBAPI cursor.
    """
    from .extensions import db

    conn = db.session.connection()
    plan = _plan(statement, conn.dialect)
    rows = None if plan is None else plan.run(conn, params or {})
    if rows is None:
        return records(conn.execute(statement, params or {}))
    return rows


def fetch_beginning(statement, params: dict | None = None) -> list:  # noqa: ANN001
    """fetch() for the statement that starts a writing transaction (begin_writing() called before it): on
    PostgreSQL its BEGIN travels with it, one round trip instead of two (the lock taken by a register or a
    cancel: every such request pays it, inside no lock yet but on the way to one)."""
    from .extensions import db

    conn = db.session.connection()
    dbapi_connection = conn.connection.dbapi_connection
    begins = (
        conn.dialect.name == "postgresql"
        # a request that read in autocommit, whose begin_writing() just asked for a transaction (and the
        # pool's check-in puts autocommit back, see _end_autocommit)
        and conn.connection.info.get("qingyi_autocommit")
        and not dbapi_connection.autocommit
        and dbapi_connection.info.transaction_status == 0  # IDLE: the next statement would send BEGIN first
        and dbapi_connection.info.pipeline_status == 0
        and dbapi_connection.isolation_level is None  # a plain BEGIN is the one psycopg would send
        and dbapi_connection.read_only is None
        and dbapi_connection.deferrable is None
    )
    plan = _plan(statement, conn.dialect) if begins else None
    rows = None if plan is None else plan.run(conn, params or {}, with_begin=True)
    return fetch(statement, params) if rows is None else rows


def adopt(model, row, *, refresh: bool = False):  # noqa: ANN001, ANN201 - a mapped class, a row of all its columns
    """The session's object for `row` (all of `model`'s table columns, as a SELECT or an INSERT … RETURNING
    gives them), as a query would give it, without the ORM's loading path: the object the session already
    holds for that key, else a new one made persistent with the row's values as its loaded state (no
    history: nothing to write back; no SQL). refresh: the row is the truth (just written by an INSERT …
    RETURNING, or read under a lock), so an object the session holds for its key takes the row's values, as
    a query with populate_existing would give them."""
    from sqlalchemy.orm import make_transient_to_detached
    from sqlalchemy.orm.attributes import set_committed_value

    from .extensions import db

    session = db.session()
    mapper = model.__mapper__
    columns = _column_attributes(model)
    held = session.identity_map.get(
        mapper.identity_key_from_primary_key(tuple(getattr(row, c.key) for c in mapper.primary_key))
    )
    if held is None:
        obj = mapper.class_manager.new_instance()
        obj.__dict__.update((attribute, getattr(row, column)) for column, attribute in columns)
        make_transient_to_detached(obj)
        session.add(obj)
        return obj
    # as a query: the row fills what the held object has not loaded (expired after a commit, say);
    # with refresh, everything
    unloaded = None if refresh else sa_inspect(held).unloaded
    for column, attribute in columns:
        if unloaded is None or attribute in unloaded:
            set_committed_value(held, attribute, getattr(row, column))
    return held


@functools.cache
def _column_attributes(model) -> tuple[tuple[str, str], ...]:  # noqa: ANN001
    """(column key, mapped attribute) of each of the model's table columns."""
    mapper = model.__mapper__
    return tuple((c.key, mapper.get_property_by_column(c).key) for c in model.__table__.columns)


def commit_keeping_state() -> None:
    """Commit the request's transaction without expiring what the session loaded.

    After a plain commit every loaded object reloads on its next use: the user, the event, each of its
    relationships — a statement apiece while the answer renders. For views whose services expire what
    their SQL UPDATEs changed behind the ORM (the events' seat counters), the rest is as they left it.
    """
    from .extensions import db

    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True
