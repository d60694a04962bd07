"""`flask demo seed`: deterministic data in every role, a login table, refuses a non-empty database."""

from __future__ import annotations

import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.extensions import db
from blueprints.orgs.models import CoordinatorGrant, Org


def _names() -> list[str]:
    return list(db.session.scalars(sa.select(User.name).order_by(User.id).limit(50)))


def test_seed_small_fills_every_role_and_prints_logins(runner):
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "Demo logins" in result.output and "13800000000" in result.output and "qingyi2026" in result.output
    admin = db.session.scalar(sa.select(User).where(User.phone == "13800000000"))
    assert admin.is_admin and admin.check_password("qingyi2026")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Org)) > 50
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CoordinatorGrant)) >= 3
    kinds = set(db.session.scalars(sa.select(Org.kind)))
    assert {"city", "district", "town", "community", "school"} <= kinds
    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 1 and "already has data" in again.output
    quiet = runner.invoke(args=["demo", "seed", "--if-empty"])
    assert quiet.exit_code == 0 and "13800000000" in quiet.output


def _snapshot(uri: str) -> dict:
    from app import create_app
    from blueprints.demo.cli import run_seed
    from tests.conftest import test_config

    app = create_app(test_config(uri))
    with app.app_context():
        db.create_all()
        run_seed("small", seed=7, quiet=True)
        snap = {
            "users": db.session.execute(sa.select(User.name, User.phone, User.home_org_id).order_by(User.id)).all(),
            "orgs": db.session.execute(sa.select(Org.name, Org.path).order_by(Org.id)).all(),
        }
        counts = {
            t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in db.metadata.sorted_tables
        }
        db.session.remove()
        db.engine.dispose()
    return {"rows": snap, "counts": counts}


def test_seed_is_deterministic(tmp_path):
    first = _snapshot(f"sqlite:///{tmp_path / 'a.db'}")
    second = _snapshot(f"sqlite:///{tmp_path / 'b.db'}")
    assert first == second
    assert len(first["rows"]["users"]) > 200
