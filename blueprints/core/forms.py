"""Form pieces shared by every blueprint."""

from __future__ import annotations

import flask_wtf
from markupsafe import Markup, escape
from wtforms.csrf.core import CSRFTokenField


class FlaskForm(flask_wtf.FlaskForm):
    """Flask-WTF's form, with the CSRF field rendered as a plain hidden input.

    WTForms renders a hidden field through its widget and html_params (about 40 µs); a list whose rows
    each carry a form renders it dozens of times a page. The markup is the same but for the id, which
    a page with several forms would repeat (ids must be unique) and nothing refers to.
    """

    class Meta(flask_wtf.FlaskForm.Meta):
        def render_field(self, field, render_kw):  # noqa: ANN001
            if isinstance(field, CSRFTokenField) and not render_kw and not field.render_kw:
                name, token = escape(field.name), escape(field.current_token)
                return Markup(f'<input type="hidden" name="{name}" value="{token}">')  # noqa: S704 - both escaped
            return super().render_field(field, render_kw)


class EmptyForm(FlaskForm):
    """Carries only the CSRF token: for buttons that POST (log out, approve, revoke)."""
