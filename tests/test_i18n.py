"""Both languages complete: every string in code and templates has a Chinese translation."""

from __future__ import annotations

from blueprints.core.i18n import missing_messages


def test_every_message_translated():
    missing = missing_messages("zh_CN")
    listing = "\n".join(f"{where[0]}: {key!r}" for key, where in list(missing.items())[:40])
    assert not missing, f"{len(missing)} strings lack a zh_CN translation (or placeholders differ):\n{listing}"
