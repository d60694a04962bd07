"""gettext for templates and code that finds the request's translations cheaply.

Flask-Babel looks the translations up again on every call: `g` through its proxy three times, the
locale (and its string form) and the catalog cache — about 8 µs, and 13 µs for `_()` in a template,
where Jinja's newstyle wrapper adds two `Context.call`s. A page calls it 50 to 150 times (every
label, heading and button), which made translation the largest single cost of rendering a page.

Here the current locale is read straight from the app context's `g` (where Flask-Babel keeps it)
and the catalog from a per-process dict keyed by locale. The semantics are Flask-Babel's: the
same catalogs, the same locale selector, `force_locale` honoured (it clears the stored locale,
which sends us back to Flask-Babel to select it again), and Jinja's newstyle rules (the message is
always %-formatted, autoescaped when the template is).
"""

from __future__ import annotations

import flask_babel
from babel.support import NullTranslations
from flask.globals import _cv_app
from flask_babel.speaklater import LazyString
from jinja2 import pass_eval_context
from markupsafe import Markup, escape

_NULL = NullTranslations()
_BY_LOCALE: dict[object, object] = {}


def current_locale():
    """The request's Babel Locale (None outside an app context), as flask_babel.get_locale()."""
    ctx = _cv_app.get(None)
    if ctx is None:
        return None
    state = ctx.g.__dict__.get("_flask_babel")
    locale = getattr(state, "babel_locale", None) if state is not None else None
    return locale if locale is not None else flask_babel.get_locale()


def translations():
    """The current locale's catalog (NullTranslations outside an app context)."""
    locale = current_locale()
    if locale is None:
        return _NULL
    catalog = _BY_LOCALE.get(locale)
    if catalog is None:
        catalog = _BY_LOCALE[locale] = flask_babel.get_translations()
    return catalog


def gettext(string: str, **variables) -> str:
    """flask_babel.gettext: the translation, %-formatted with `variables` when there are any."""
    text = translations().ugettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    return translations().ungettext(singular, plural, num) % variables


_TRANSLATED: dict[tuple[int, object], dict] = {}


def translated(labels: dict) -> dict:
    """A dict of lazy labels (state names, categories) with its values translated to the request's locale,
    kept per process and locale: a list shows one on every row (a lazy string translates on each use)."""
    key = (id(labels), current_locale())
    result = _TRANSLATED.get(key)
    if result is None:
        result = _TRANSLATED[key] = {name: str(label) for name, label in labels.items()}
    return result


def lazy_gettext(string: str, **variables) -> LazyString:
    """Translated when used (form labels, nav items, messages defined at import time)."""
    return LazyString(gettext, string, **variables)


_PLAIN_NUMBERS = (int, float)


def _format(text: str, variables: dict, autoescape: bool):
    """Jinja's newstyle `text % variables` (always formatted, so "%%" is "%"), for autoescaped templates
    as Markup with the variables escaped. Markup's own % wraps every value in a helper object (~2 µs a
    call even with no variables); this gives the same result for %s conversions and numbers."""
    if not autoescape:
        return text % variables
    if not variables and "%" not in text:
        return Markup(text)  # noqa: S704 - our own catalog's message, as Jinja's i18n does
    escaped = {k: v if type(v) in _PLAIN_NUMBERS else escape(v) for k, v in variables.items()}
    try:
        return Markup(text % escaped)  # noqa: S704 - the message is ours, every value escaped
    except TypeError:  # a conversion other than %s given a non-number: Markup's own way
        return Markup(text) % variables  # noqa: S704


@pass_eval_context
def template_gettext(eval_ctx, string: str, **variables):  # noqa: ANN001
    """`_()` / `gettext()` in templates, with Jinja's newstyle semantics."""
    return _format(translations().ugettext(string), variables, eval_ctx.autoescape)


@pass_eval_context
def template_ngettext(eval_ctx, singular: str, plural: str, num: int, **variables):  # noqa: ANN001
    variables.setdefault("num", num)
    return _format(translations().ungettext(singular, plural, num), variables, eval_ctx.autoescape)


def install(jinja_env) -> None:  # noqa: ANN001
    """Replace the gettext callables Flask-Babel installed in `jinja_env` (after babel.init_app)."""
    jinja_env.globals.update(
        _=template_gettext,
        gettext=template_gettext,
        ngettext=template_ngettext,
    )
