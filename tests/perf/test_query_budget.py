"""Every main page stays within 8 SQL statements, signed in as the role that uses it — on the small
demo data and again with about 10× the rows (tests/perf/amplify.py): the same count, so no N+1.

The layout costs 2 of the 8 (the signed-in user, and the nav's facts in one statement).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from blueprints.auth.models import User
from blueprints.core.extensions import db
from tests.perf.amplify import amplify
from tests.perf.pages import ids, pages
from tests.support.queries import count_statements

BUDGET = 8


def _measure_all(client, login_as, urls: dict) -> dict[str, tuple[int, str]]:
    figures = {}
    for phone, paths in urls.items():
        if phone is None:
            client.post("/account/logout")
        else:
            login_as(db.session.scalar(sa.select(User).where(User.phone == phone)))
        for url in paths:
            client.get(url)  # warm per-process caches (templates, static versions, settings)
            with count_statements(db.engine) as log:
                response = client.get(url)
            assert response.status_code == 200, f"{phone} {url}: {response.status_code}"
            figures[f"{phone or 'anonymous'} {url}"] = (len(log), str(log))
    return figures


@pytest.fixture
def demo(app):
    from blueprints.demo.cli import run_seed

    run_seed("small", quiet=True)
    db.session.commit()
    return ids()


@pytest.mark.slow
def test_every_main_page_within_budget_at_1x_and_10x(client, login_as, demo):
    urls = pages(demo)
    small = _measure_all(client, login_as, urls)
    amplify()
    big = _measure_all(client, login_as, urls)
    report = "\n".join(f"{small[k][0]:>2} → {big[k][0]:>2}  {k}" for k in small)
    print(report)
    over = {k: v for k, v in {**small, **big}.items() if v[0] > BUDGET}
    assert not over, "over the budget of 8:\n" + "\n\n".join(f"{k}: {n}\n{log}" for k, (n, log) in over.items())
    grew = [k for k in small if big[k][0] > small[k][0]]
    assert not grew, "more statements with 10× the rows (N+1):\n" + "\n\n".join(
        f"{k}: {small[k][0]} → {big[k][0]}\n{big[k][1]}" for k in grew
    )


@pytest.mark.slow
def test_home_page_within_budget_for_someone_with_every_role(client, login_as, demo):
    """A team leader who also manages a youth home and coordinates a district: every home panel at once."""
    from blueprints.orgs.models import CoordinatorGrant
    from blueprints.venues.models import VenueManager
    from tests.perf.pages import LEADER

    leader = db.session.scalar(sa.select(User).where(User.phone == LEADER))
    db.session.add(VenueManager(venue_id=demo["venue"], user_id=leader.id))
    db.session.add(CoordinatorGrant(org_id=demo["district"], user_id=leader.id))
    db.session.commit()
    small = _measure_all(client, login_as, {LEADER: ["/"]})
    amplify()
    big = _measure_all(client, login_as, {LEADER: ["/"]})
    (n_small, log_small), (n_big, log_big) = small[f"{LEADER} /"], big[f"{LEADER} /"]
    print(f"{n_small:>2} → {n_big:>2}  every role /")
    assert n_small <= BUDGET and n_big <= BUDGET, f"{n_small} → {n_big}\n{log_big}"
    assert n_big == n_small, f"{n_small} → {n_big}\n{log_small}\n\n{log_big}"
