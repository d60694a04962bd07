"""core.db.fetch: a prebuilt SELECT used again runs on the DBAPI cursor (its _Plan) and must give what
SQLAlchemy's own execution gives — values, types, IN lists of any length — while statement listeners
still see it; the user loader builds the signed-in User from such a row without the ORM's loading path."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.db import _plan, fetch
from blueprints.core.extensions import db
from tests.support.queries import count_statements


def _statement():
    return (
        sa.select(User.id, User.name, User.created_at, User.is_admin, User.last_login_at)
        .where(
            User.id.in_(sa.bindparam("ids", expanding=True)),
            User.name.in_(["甲", "乙", "丙"]),
            User.created_at >= sa.bindparam("since", type_=User.created_at.type),
        )
        .order_by(User.id)
        .limit(sa.bindparam("limit"))
    )


def test_planned_fetch_gives_what_sqlalchemy_gives(app, make_user):
    with app.app_context():
        users = [make_user(name=n) for n in ("甲", "乙", "丁")]
        users[0].last_login_at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
        users[1].is_admin = True
        db.session.commit()
        ids = [u.id for u in users]
        statement = _statement()
        since = datetime.now(UTC) - timedelta(days=1)
        with app.test_request_context("/"):
            conn = db.session.connection()
            assert _plan(statement, conn.dialect) is None  # first use: SQLAlchemy's path
            assert _plan(statement, conn.dialect) is not None  # from the second on: the plan
            for chosen, limit in ((ids, 10), (ids[:1], 10), (ids[::-1] + [999], 1), ([], 5)):
                params = {"ids": chosen, "since": since, "limit": limit}
                expected = [tuple(r) for r in conn.execute(statement, params)]
                got = fetch(statement, params)
                assert [tuple(r) for r in got] == expected
                assert all(type(a) is type(b) for r, e in zip(got, expected) for a, b in zip(r, e))
            row = fetch(statement, {"ids": ids, "since": since, "limit": 10})[0]
            assert row.name == "甲" and row.last_login_at == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
            assert row.last_login_at.tzinfo is not None and row.is_admin is False
            assert len(fetch(statement, {"ids": ids, "since": since + timedelta(days=2), "limit": 10})) == 0


def test_planned_fetch_is_seen_by_statement_listeners_and_errors_are_sqlalchemys(app, make_user):
    with app.app_context():
        make_user(name="甲")
        statement = _statement()
        params = {"ids": [1], "since": datetime(2000, 1, 1, tzinfo=UTC), "limit": 3}
        with app.test_request_context("/"):
            fetch(statement, params)
            with count_statements(db.engine) as log:
                fetch(statement, params)
                fetch(statement, params)
            assert len(log) == 2 and all("FROM users" in s for s in log.statements)
            broken = sa.select(sa.literal_column("no_such_column")).select_from(User.__table__)
            fetch_twice = [lambda: fetch(broken), lambda: fetch(broken)]
            for attempt in fetch_twice:  # the first through SQLAlchemy, the second through the plan
                with pytest.raises(sa.exc.DBAPIError):
                    attempt()
                db.session.rollback()


def test_signed_in_user_is_loaded_clean(app, client, make_user, login_as):
    with app.app_context():
        user = make_user(name="志愿者")
        user_id = user.id
    login_as(user)
    page = client.get("/account/profile")
    assert page.status_code == 200 and "志愿者" in page.get_data(as_text=True)
    with app.test_request_context("/"):
        from flask_login import login_user

        from blueprints.auth.__init__ import _user_with_facts
        from blueprints.core.db import adopt

        statement = _user_with_facts(app)
        if statement is None:
            pytest.skip("no layout facts registered: the loader uses session.get")
        row = fetch(statement, {"facts_user_id": user_id})[0]
        loaded = adopt(User, row)
        assert loaded is adopt(User, row)  # the session's own object, once
        assert loaded.name == "志愿者" and loaded.home_org_id == row.home_org_id
        assert not db.session.dirty and loaded in db.session
        login_user(loaded)
        with count_statements(db.engine) as log:
            db.session.commit()  # nothing loaded counts as changed: no UPDATE
        assert not [s for s in log.statements if s.lstrip().upper().startswith("UPDATE")]
        loaded.name = "改名"
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(User, user_id).name == "改名"


def test_planned_fetch_fails_as_sqlalchemy_fails_and_takes_any_iterable(app, make_user):
    with app.app_context():
        user = make_user(name="甲")
        statement = sa.select(User.id).where(User.id == sa.bindparam("uid"))
        listed = sa.select(User.id).where(User.id.in_(sa.bindparam("ids", expanding=True)))
        with app.test_request_context("/"):
            raised = []
            for _ in range(2):  # SQLAlchemy's path, then the plan's
                with pytest.raises(Exception) as info:
                    fetch(statement, {"uid": 2**70})  # past 64 bits: OverflowError on SQLite
                raised.append(type(info.value))
                db.session.rollback()
            assert raised[0] is raised[1]
            for _ in range(2):
                with pytest.raises(sa.exc.StatementError):  # a parameter missing
                    fetch(statement, {})
                db.session.rollback()
            for ids in ([user.id], {user.id, 999}, (user.id,), range(user.id, user.id + 1)):
                assert [r.id for r in fetch(listed, {"ids": ids})] == [user.id]


def test_adopt_fills_what_a_held_object_has_not_loaded(app, make_user):
    from blueprints.core.db import adopt

    with app.app_context():
        user = make_user(name="旧名")
        uid = user.id
        statement = sa.select(*User.__table__.columns).where(User.id == uid)
        db.session.commit()  # expires the held object
        db.session.connection().execute(sa.update(User).where(User.id == uid).values(name="新名"))
        row = db.session.connection().execute(statement).one()
        with count_statements(db.engine) as log:
            held = adopt(User, row)
            assert held is user and held.name == "新名"  # from the row, no statement
        assert len(log) == 0
        user.name = "本地"  # a loaded value stays as the session has it, unless refresh
        assert adopt(User, row).name == "本地" and adopt(User, row, refresh=True).name == "新名"
        db.session.rollback()


def test_planned_writes_return_what_sqlalchemy_returns_and_leave_python_defaults_to_it(app, make_user):
    """INSERT / UPDATE … RETURNING through fetch: planned when every value is in the statement; a statement
    that leaves a column's Python default or onupdate to execution, or a call with a parameter named after a
    column the statement does not bind (SQLAlchemy would SET it), goes through SQLAlchemy, with its result."""
    with app.app_context():
        user = make_user(name="甲")
        uid = user.id
        when = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
        explicit = (
            sa.update(User)
            .where(User.id == sa.bindparam("uid"))
            .values(name=sa.bindparam("new_name"), last_login_at=sa.bindparam("when", type_=User.last_login_at.type))
            .returning(User.id, User.name, User.last_login_at)
        )
        # created_at, feed_token, is_admin, active: Python defaults, computed by SQLAlchemy at execution
        defaulted = (
            sa.insert(User)
            .values(name=sa.bindparam("name"), phone=sa.bindparam("phone"), password_hash="x")
            .returning(User.name, User.feed_token, User.created_at)
        )
        with app.test_request_context("/"):
            conn = db.session.connection()
            assert _plan(explicit, conn.dialect) is None and _plan(explicit, conn.dialect) is not None
            with count_statements(db.engine) as log:
                rows = [fetch(explicit, {"uid": uid, "new_name": f"丙{i}", "when": when}) for i in range(3)]
            assert len(log) == 3 and all(s.lstrip().upper().startswith("UPDATE") for s in log.statements)
            assert [tuple(r[0]) for r in rows] == [(uid, f"丙{i}", when) for i in range(3)]
            assert rows[-1][0].last_login_at.tzinfo is not None
            assert fetch(explicit, {"uid": uid + 999, "new_name": "x", "when": when}) == []
            # a parameter named after a column the statement does not bind: SQLAlchemy adds it to the SET clause
            renamed = fetch(explicit, {"uid": uid, "new_name": "丁", "when": when, "is_admin": True})
            assert renamed[0].name == "丁"
            assert conn.execute(sa.select(User.is_admin).where(User.id == uid)).scalar_one() is True
            assert _plan(defaulted, conn.dialect) is None and _plan(defaulted, conn.dialect) is None
            added = [fetch(defaulted, {"name": "乙", "phone": f"1390000000{i}"})[0] for i in range(2)]
            assert [a.name for a in added] == ["乙", "乙"] and added[0].feed_token != added[1].feed_token
            assert all(a.created_at.tzinfo is not None for a in added)
            db.session.rollback()


def test_the_statement_beginning_a_transaction_brings_its_begin_along(app, backend, make_user):
    """fetch_beginning (the event's lock of a register or a cancel): on PostgreSQL our BEGIN goes in one pipeline
    with the statement — one round trip — and the transaction is real: its row lock holds against another
    connection until the commit; a failing statement leaves nothing behind, and the connection then works."""
    from blueprints.core.db import begin_writing, fetch_beginning

    with app.app_context():
        uid = make_user(name="甲").id
        db.session.commit()
        lock = sa.select(User.id, User.name).where(User.id == sa.bindparam("uid")).with_for_update()
        other = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        for attempt in range(3):  # SQLAlchemy's path first, then the plan's
            with app.test_request_context("/", method="POST"):
                db.session.connection()  # the request reads first (autocommit on PostgreSQL)
                fetch(sa.select(User.id).where(User.id == sa.bindparam("uid")), {"uid": uid})
                begin_writing()
                dbapi = db.session.connection().connection.dbapi_connection
                if backend == "postgresql" and attempt:
                    assert dbapi.pgconn.transaction_status == 0  # IDLE: no transaction on the server yet
                    with tempfile.TemporaryFile("w+") as trace:
                        dbapi.pgconn.trace(trace.fileno())
                        rows = fetch_beginning(lock, {"uid": uid})
                        dbapi.pgconn.untrace()
                        trace.seek(0)
                        sent = [line.split("\t")[3].strip() for line in trace if line.split("\t")[1:2] == ["F"]]
                    assert sent.count("Sync") == 1 and sent.count("Execute") == 2  # BEGIN and the SELECT, one trip
                    assert dbapi.pgconn.transaction_status == 2  # INTRANS
                else:
                    rows = fetch_beginning(lock, {"uid": uid})
                assert [r.name for r in rows] == ["甲" if attempt == 0 else f"乙{attempt - 1}"]
                fetch(sa.update(User).where(User.id == uid).values(name=f"乙{attempt}").returning(User.id), {})
                if backend == "postgresql":
                    with other.connect() as conn2:  # the row stays locked until the commit
                        conn2.exec_driver_sql("SET lock_timeout = '100ms'")
                        with pytest.raises(sa.exc.OperationalError):
                            conn2.execute(sa.select(User.id).where(User.id == uid).with_for_update())
                db.session.commit()
            with other.connect() as conn2:
                assert conn2.execute(sa.select(User.name).where(User.id == uid)).scalar_one() == f"乙{attempt}"
        broken = sa.select(User.id, sa.literal_column("no_such_column")).where(User.id == sa.bindparam("uid"))
        for _ in range(2):
            with app.test_request_context("/", method="POST"):
                db.session.connection()
                begin_writing()
                with pytest.raises(sa.exc.DBAPIError):
                    fetch_beginning(broken, {"uid": uid})
                db.session.rollback()
                assert fetch(sa.select(User.name).where(User.id == sa.bindparam("uid")), {"uid": uid})[0].name == "乙2"
        other.dispose()
