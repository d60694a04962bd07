"""Move the app's clock: `freeze_clock(monkeypatch, when)` makes every `utcnow()` of the app return `when`.

The app reads the time through blueprints.core.models.utcnow (re-exported by core.timeutil, which
local_today() uses); modules (the app's and the tests') import it by name, so each module's name is
patched. Column defaults (`default=utcnow`, `onupdate=utcnow`) keep the real clock: a test that moves
the clock far must not compare them with the moved one.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from datetime import UTC, datetime

import blueprints
from blueprints.core import models as core_models

_REAL_UTCNOW = core_models.utcnow


def freeze_clock(monkeypatch, when: datetime) -> datetime:
    """Patch `utcnow` in every loaded module of the app and the tests (core.models too) to return `when`."""
    if when.tzinfo is None:
        raise ValueError("freeze_clock needs an aware datetime")
    when = when.astimezone(UTC)
    # every module first: one imported while the clock is frozen would keep the frozen function for good
    for info in pkgutil.walk_packages(blueprints.__path__, "blueprints."):
        importlib.import_module(info.name)

    def frozen() -> datetime:
        return when

    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("blueprints", "tests") and getattr(module, "utcnow", None) is _REAL_UTCNOW:
            monkeypatch.setattr(module, "utcnow", frozen)
    return when
