"""Bulk-insert helpers for demo data (city scale means hundreds of thousands of rows)."""

from __future__ import annotations

import contextlib
import itertools
import operator
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from blueprints.core.extensions import db

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉玲丹宇浩凯健俊帆欣怡梓涵子轩雨萱佳琪思远晨曦嘉豪一诺若汐语桐昊然宇航婧琪紫萱博文天佑雅静子墨欣然浩宇诗涵"


def chinese_name(rng) -> str:  # noqa: ANN001
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def volunteer_phone(i: int) -> str:
    """A unique 11-digit number for volunteer i (139xxxxxxxx); role accounts use 138000000xx."""
    return f"139{(i * 7919 + 1234567) % 10**8:08d}"


def insert_rows(model, rows: Iterable[dict], batch: int = 5000) -> int:
    """INSERT rows in bulk, bypassing the ORM unit of work and SQLAlchemy's per-row parameter handling.

    The values are converted once per column with the column type's own bind processing (UTC
    timestamps, booleans, JSON), then handed to the driver in chunks: sqlite3's executemany,
    psycopg's COPY on PostgreSQL. Rows are dicts with the same keys; a column left out that has a
    Python-side default goes through SQLAlchemy's executemany instead (it fills the default).
    """
    table = model.__table__
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    columns = list(first)
    missing_defaults = [c for c in table.c if c.name not in first and c.default is not None and not c.primary_key]
    dialect = db.session.get_bind().dialect
    if missing_defaults or dialect.name not in ("sqlite", "postgresql"):
        return _insert_rows_sqlalchemy(table, itertools.chain([first], rows), batch)
    convert = [_converter(table.c[name], dialect) for name in columns]
    getter = operator.itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    count = 0

    def values():
        nonlocal count
        for row in itertools.chain([first], rows):
            count += 1
            yield tuple(v if f is None or v is None else f(v) for f, v in zip(convert, getter(row), strict=True))

    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    raw = db.session.connection().connection.driver_connection
    # in chunks: a row generator may itself read from the database between two chunks (never while
    # the driver is in the middle of a COPY)
    chunk_size = max(batch, 50_000)
    values_iter = values()
    while chunk := list(itertools.islice(values_iter, chunk_size)):
        cursor = raw.cursor()
        try:
            if dialect.name == "sqlite":
                # a page cache that holds the indexes being filled (the default 2 MB makes random inserts miss)
                cursor.execute("PRAGMA cache_size = -262144")
                placeholders = ", ".join("?" for _ in columns)
                cursor.executemany(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({placeholders})", chunk)  # noqa: S608
            else:
                with cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy:
                    for value in chunk:
                        copy.write_row(value)
        finally:
            cursor.close()
    return count


def _converter(column: sa.Column, dialect):  # noqa: ANN001, ANN202
    """A function turning a Python value into what the driver takes for this column (None: as it is)."""
    from blueprints.core.models import UTCDateTime

    if isinstance(column.type, UTCDateTime):

        def utc(value: datetime):  # noqa: ANN202
            if value.tzinfo is None:
                raise ValueError(f"naive datetime given to the UTC column {column.name}")
            value = value.astimezone(UTC)
            # SQLite stores naive UTC text, in SQLAlchemy's format (the same as isoformat with microseconds)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else value

        sqlite = dialect.name == "sqlite"
        return utc
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _insert_rows_sqlalchemy(table: sa.Table, rows: Iterable[dict], batch: int) -> int:
    n = 0
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            db.session.execute(sa.insert(table), chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        db.session.execute(sa.insert(table), chunk)
        n += len(chunk)
    return n


@contextlib.contextmanager
def indexes_built_after(model, bulk: bool = True):  # noqa: ANN001
    """For a bulk load, drop the table's non-unique secondary indexes and build them once afterwards
    (a sort instead of a million random B-tree inserts). The same definitions, from the model."""
    indexes = [index for index in model.__table__.indexes if not index.unique] if bulk else []
    connection = db.session.connection()
    for index in indexes:
        index.drop(bind=connection)
    yield
    for index in indexes:
        index.create(bind=connection)


def reset_sequence(model) -> None:
    """After inserting explicit ids on PostgreSQL, move the id sequence past them."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    table = model.__table__.name
    db.session.execute(
        sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 1)) FROM {table}")  # noqa: S608
    )


def next_id(model) -> int:
    return (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1
