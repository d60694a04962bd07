"""The coordinator dashboard is cached per process (a year of the whole city is expensive) and the
caches let nothing stale through: a new service record and a new rating show up at once, and an
unchanged dashboard costs only its validity statements."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today, utcnow
from blueprints.events.models import Event
from blueprints.feedback.models import Feedback
from blueprints.hours.models import ServiceRecord
from tests.support.queries import count_statements

CITY_COORDINATOR = "13800000001"


def _dashboard_url(org_id: int) -> str:
    return f"/reports/?org={org_id}&period=year&year={local_today().year}"


def _figures(html: str) -> str:
    """The page without its per-request parts (CSRF token), to compare two renderings."""
    import re

    return re.sub(r'"X-CSRFToken": "[^"]+"|name="csrf_token" [^>]*>', "", html)


def test_new_record_and_rating_show_up_in_the_cached_dashboard(client, login_as):
    from blueprints.demo.cli import run_seed
    from blueprints.reports.services import cache as reports_cache

    reports_cache.clear()  # one cache per process: start clean whatever ran before
    run_seed("small", quiet=True)
    db.session.commit()
    city = db.session.scalar(sa.text("SELECT id FROM orgs WHERE parent_id IS NULL ORDER BY id LIMIT 1"))
    login_as(db.session.scalar(sa.select(User).where(User.phone == CITY_COORDINATOR)))
    url = _dashboard_url(city)

    first = client.get(url)
    assert first.status_code == 200
    with count_statements(db.engine) as cached:
        again = client.get(url)
    assert _figures(again.get_data(as_text=True)) == _figures(first.get_data(as_text=True))

    # a new service record in this year's ledger: an event of this year, a volunteer without a record there
    record = db.session.scalar(
        sa.select(ServiceRecord)
        .where(ServiceRecord.served_at >= utcnow() - timedelta(days=200), ServiceRecord.supersedes_id.is_(None))
        .order_by(ServiceRecord.served_at.desc())
        .limit(1)
    )
    assert record is not None
    newcomer = db.session.scalar(
        sa.select(User.id)
        .where(User.phone.like("139%"), ~sa.exists().where(ServiceRecord.volunteer_id == User.id))
        .order_by(User.id)
        .limit(1)
    )
    before = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(ServiceRecord.volunteer_id))).where(
            ServiceRecord.served_at >= record.served_at - timedelta(days=400)
        )
    )
    db.session.add(
        ServiceRecord(
            volunteer_id=newcomer,
            event_id=record.event_id,
            minutes=600,
            source="leader",
            served_at=record.served_at,
            org_id=record.org_id,
        )
    )
    # and a rating of an event this year
    event = db.session.get(Event, record.event_id)
    db.session.add(Feedback(event_id=event.id, user_id=newcomer, rating=5, is_public=False))
    db.session.commit()
    assert before  # the demo ledger has people this year

    after = client.get(url)
    assert after.status_code == 200
    assert _figures(after.get_data(as_text=True)) != _figures(first.get_data(as_text=True))

    from blueprints.orgs.models import Org
    from blueprints.reports.periods import Period
    from blueprints.reports.services import dashboard

    with client.application.test_request_context("/"):
        fresh = dashboard(db.session.get(Org, city), Period.this_year(), use_cache=False)
        cached_board = dashboard(db.session.get(Org, city), Period.this_year())
    assert cached_board.minutes == fresh.minutes and cached_board.volunteers == fresh.volunteers
    assert cached_board.participations == fresh.participations

    # the feedback section counts the new rating at once (its cache is keyed by the highest rating id)
    feedback_cache = client.application.extensions.get("feedback_dashboard_cache") or {}
    assert feedback_cache, "the dashboard's satisfaction tables are cached"
    stamps = {entry[0] for entry in feedback_cache.values()}
    newest = db.session.scalar(sa.select(sa.func.max(Feedback.id)))
    assert newest in stamps, "the cached tables were recomputed after the new rating"

    # an unchanged dashboard costs little: its validity statements, not the aggregates
    assert len(cached) <= 8, str(cached)
