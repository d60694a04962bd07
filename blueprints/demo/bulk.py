"""Bulk-insert helpers for demo data (city scale means hundreds of thousands of rows)."""

from __future__ import annotations

from collections.abc import Iterable

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
    """INSERT rows in batches (executemany / insertmanyvalues), bypassing the ORM unit of work."""
    table = model.__table__
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
