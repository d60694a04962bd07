"""Form pieces shared by every blueprint."""

from __future__ import annotations

import flask_wtf
import wtforms.widgets
import wtforms.widgets.core
from flask import abort, current_app, g
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from wtforms.csrf.core import CSRFTokenField
from wtforms.widgets.core import clean_key


def html_params(**kwargs) -> Markup:
    """wtforms.widgets.html_params, the same output ~5x faster.

    WTForms builds each attribute with Markup.format (a Python string formatter that escapes every
    field): ~6 µs an attribute, 30 µs for an input; a form of five fields spent 0.3 ms on it. Keys are
    escaped, values escaped and their quotes turned into &quot;, True gives a bare attribute, False
    none, in key order — as WTForms does (tests/test_core.py compares the two).
    """
    params = []
    for key, value in sorted(kwargs.items()):
        key = escape(clean_key(key))
        if value is True:
            params.append(key)
        elif value is not False:
            value = str(escape(value)).replace('"', "&quot;")
            params.append(f'{key}="{value}"')
    return Markup(" ".join(params))  # noqa: S704 - every key and value escaped above


_wtforms_html_params = wtforms.widgets.core.html_params
wtforms.widgets.core.html_params = wtforms.widgets.html_params = html_params
wtforms.widgets.core.Input.html_params = wtforms.widgets.core.Button.html_params = staticmethod(html_params)


class FlaskForm(flask_wtf.FlaskForm):
    """Flask-WTF's form, with the CSRF field rendered as a plain hidden input.

    WTForms renders a hidden field through its widget and html_params (about 40 µs); a list whose rows
    each carry a form renders it dozens of times a page. The markup is the same but for the id, which
    a page with several forms would repeat (ids must be unique) and nothing refers to.
    """

    class Meta(flask_wtf.FlaskForm.Meta):
        def render_field(self, field, render_kw):  # noqa: ANN001
            if isinstance(field, CSRFTokenField) and not render_kw and not field.render_kw:
                return _hidden_input(field.name, field.current_token)
            return super().render_field(field, render_kw)


def _hidden_input(name: str, value: str) -> Markup:
    return Markup(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">')  # noqa: S704 - escaped


class EmptyForm(FlaskForm):
    """Carries only the CSRF token: for buttons that POST (log out, approve, revoke)."""


class TokenForm:
    """EmptyForm for a template that only renders it (buttons that POST): the same CSRF field, without
    building a WTForms form for it (its metaclass, field binding and processing: ~90 µs, on every event page
    and every register or cancel answer). Views that validate a token use EmptyForm or check_csrf()."""

    __slots__ = ()

    @property
    def csrf_token(self) -> Markup:
        config = current_app.config
        if not config.get("WTF_CSRF_ENABLED", True):  # as EmptyForm: no field, nothing rendered
            return Markup("")
        return _hidden_input(config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), generate_csrf())


def check_csrf() -> None:
    """400 unless the request carries a good CSRF token, for views that POST without a form of their own.
    CSRFProtect checked the token before the view (and says so in g.csrf_valid); where that protection is
    off, an EmptyForm checks it."""
    if not g.get("csrf_valid") and not EmptyForm().validate_on_submit():
        abort(400)
