"""Code run in child processes by test_booking_races (forked from a fresh forkserver: each has its own app and
connections)."""

from __future__ import annotations

import time


def approve_in_process(db_url: str, booking_id: int, user_id: int, barrier, results) -> None:  # noqa: ANN001
    """Approve one request through the service, at the same moment as the other processes."""
    from app import create_app
    from blueprints.auth.models import User
    from blueprints.core.db import write_intent
    from blueprints.core.extensions import db
    from blueprints.venues.models import Booking
    from blueprints.venues.services import BookingStateError, approve_booking
    from tests.conftest import test_config

    app = create_app(test_config(db_url))
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        barrier.wait(timeout=180)  # the others are still importing the app on a loaded machine
        started = time.monotonic()
        with write_intent():
            user = db.session.get(User, user_id)
            booking = db.session.get(Booking, booking_id)
            try:
                approve_booking(user, booking)
                db.session.commit()
                results.put((booking_id, "approved", "", time.monotonic() - started))
            except BookingStateError as exc:
                db.session.rollback()
                results.put((booking_id, "refused", exc.message, time.monotonic() - started))
            except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
                db.session.rollback()
                results.put((booking_id, "error", repr(exc), time.monotonic() - started))
        db.session.remove()
        db.engine.dispose()


def raw_approve_in_process(db_url: str, booking_id: int, barrier, results) -> None:  # noqa: ANN001
    """Set state='approved' with a bare UPDATE (no service, no venue lock), hold the transaction a moment,
    commit: only the database stands between overlapping approvals."""
    import sqlalchemy as sa
    from sqlalchemy.exc import IntegrityError, OperationalError

    from app import create_app
    from blueprints.core.db import write_intent
    from blueprints.core.extensions import db
    from blueprints.venues.services import is_overlap_violation
    from tests.conftest import test_config

    app = create_app(test_config(db_url))
    with app.app_context():
        barrier.wait(timeout=180)  # the others are still importing the app on a loaded machine
        with write_intent():
            try:
                db.session.execute(sa.text("UPDATE bookings SET state = 'approved' WHERE id = :id"), {"id": booking_id})
                time.sleep(0.3)
                db.session.commit()
                results.put((booking_id, "approved", ""))
            except IntegrityError as exc:
                db.session.rollback()
                results.put((booking_id, "overlap" if is_overlap_violation(exc) else "integrity", str(exc.orig)))
            except OperationalError as exc:
                # PostgreSQL may resolve two exclusion checks waiting on each other by aborting one (40P01)
                db.session.rollback()
                code = getattr(exc.orig, "sqlstate", None)
                results.put((booking_id, "deadlock" if code == "40P01" else "error", str(exc.orig)))
            except Exception as exc:  # noqa: BLE001
                db.session.rollback()
                results.put((booking_id, "error", repr(exc)))
        db.session.remove()
        db.engine.dispose()
