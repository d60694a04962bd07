"""Report tests see every change at once: the dashboard's non-ledger figures are re-checked on each read,
and the home panel reads its figures again on each view."""

import pytest


@pytest.fixture
def app_config() -> dict:
    return {"REPORTS_REST_MAX_AGE": 0, "REPORTS_HOME_MAX_AGE": 0}
