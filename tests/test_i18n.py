"""Both languages complete: every string in code and templates has a Chinese translation."""

from __future__ import annotations

import pytest

from blueprints.core.i18n import missing_messages


def test_every_message_translated():
    missing = missing_messages("zh_CN")
    listing = "\n".join(f"{where[0]}: {key!r}" for key, where in list(missing.items())[:40])
    assert not missing, f"{len(missing)} strings lack a zh_CN translation (or placeholders differ):\n{listing}"


def test_template_gettext_formats_as_jinja_newstyle_does(app):
    """core.translate's template gettext gives what Jinja's newstyle gettext gives: always %-formatted
    ("%%" is "%"), markup in values escaped, numbers as numbers, the result safe to output."""
    from markupsafe import Markup

    from blueprints.core.translate import _format

    cases = [
        ("Plain text", {}),
        ("%(p)s%% of the target", {"p": 45}),
        ("100%% done", {}),
        ("Hello %(name)s", {"name": "<b>李</b> & \"x\" 'y'"}),
        ("%(a)s and %(b)s", {"a": Markup("<em>safe</em>"), "b": 1.5}),
        ("%(n)s people", {"n": True}),
        ("%(n)d items", {"n": 3}),
        ("%(v)s", {"v": None}),
    ]
    for text, variables in cases:
        expected = Markup(text) % variables
        got = _format(text, variables, autoescape=True)
        assert got == expected and isinstance(got, Markup), (text, variables, got, expected)
        assert _format(text, variables, autoescape=False) == text % variables
    # a number conversion given text: Markup's % converts it, as before; plain % refuses, as before
    assert _format("%(n)d items", {"n": "4"}, autoescape=True) == Markup("4 items")
    with pytest.raises(TypeError):
        _format("%(n)d items", {"n": "4"}, autoescape=False)
