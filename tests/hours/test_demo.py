"""The hours demo step: the demo volunteer's "my hours" and certificate have content."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today
from blueprints.events.models import Event, Registration
from blueprints.hours.models import BeneficiaryCount, Certificate, CorrectionRequest, ServiceRecord
from blueprints.hours.services import compute_hours, volunteer_totals
from tests.support.clock import freeze_clock

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_small_demo_has_hours_for_everyone_to_see(app, client, login_as):
    _check_small_demo(client, login_as)


@pytest.mark.parametrize(
    "local_now",
    [
        "2027-01-01 00:30",  # new year: this year has no past event yet
        "2027-01-03 20:00",  # a Sunday evening in the first week
        "2027-03-01 09:00",  # after a short February
        "2026-12-31 23:59",  # the year's last minute
    ],
)
def test_small_demo_has_hours_for_everyone_to_see_on_any_date(app, client, login_as, monkeypatch, local_now):
    """The demo is built relative to "today": it must tell the same story on any day and hour."""
    freeze_clock(monkeypatch, datetime.fromisoformat(local_now).replace(tzinfo=SHANGHAI))
    _check_small_demo(client, login_as)


def _check_small_demo(client, login_as):
    from blueprints.demo.cli import run_seed

    ctx = run_seed("small", quiet=True)
    volunteer = db.session.scalar(sa.select(User).where(User.phone == "13800000030"))
    totals = volunteer_totals(volunteer)
    assert totals["records"] >= 5 and totals["lifetime"] > totals["year"] >= 0
    today = local_today()
    if today >= date(today.year, 1, 15):  # the first days of a year have had no service yet (a true zero)
        assert totals["year"] > 0
    sources = set(db.session.scalars(sa.select(ServiceRecord.source).where(ServiceRecord.volunteer_id == volunteer.id)))
    assert {"checkin", "leader", "correction"} <= sources
    assert db.session.scalar(
        sa.select(CorrectionRequest).where(
            CorrectionRequest.volunteer_id == volunteer.id, CorrectionRequest.state == "pending"
        )
    )
    assert db.session.scalar(sa.select(Certificate).where(Certificate.volunteer_id == volunteer.id))
    # every record copies its event's start and org; corrections point at a record of the same person and event
    mismatched = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ServiceRecord)
        .join(Event, Event.id == ServiceRecord.event_id)
        .where(sa.or_(ServiceRecord.served_at != Event.starts_at, ServiceRecord.org_id != Event.org_id))
    )
    assert mismatched == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BeneficiaryCount)) > 0
    # one past event waits for its leader, with someone who forgot to check out
    [waiting_id] = ctx.data["unconfirmed_event_ids"]
    waiting = db.session.get(Event, waiting_id)
    assert waiting.hours_confirmed_at is None
    assert "missing_checkout" in {line.flag for line in compute_hours(waiting)}
    assert db.session.scalar(sa.select(sa.func.count()).where(Registration.event_id == waiting_id)) > 0
    login_as(volunteer)
    page = client.get("/hours/mine").get_data(as_text=True)
    assert "Pending" in page and "QY-" in page
