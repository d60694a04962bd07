"""Translation catalogs.

Each blueprint keeps its Chinese translations in `translations/zh_CN/parts/<blueprint>.po`, so the
teams working on different blueprints never edit one file. `compile_catalogs()` merges the parts
into `translations/zh_CN/LC_MESSAGES/messages.mo`; `missing_messages()` lists every string in the
code and templates that has no translation (a test fails on any).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
LOCALES = ("zh_CN",)
#: Babel names the Chinese locale zh_Hans_CN, which gettext expands to zh_Hans_CN and zh: so the
#: compiled catalog goes under translations/zh/.
COMPILED_DIR = {"zh_CN": "zh"}
METHOD_MAP = [
    ("**/.venv/**", "ignore"),
    ("**/node_modules/**", "ignore"),
    ("**/tests/**", "ignore"),
    ("**/bench/**", "ignore"),
    ("**/migrations/**", "ignore"),
    ("blueprints/**.py", "python"),
    ("app.py", "python"),
    ("templates/**.html", "jinja2"),
    ("templates/**.txt", "jinja2"),
]
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2), "lazy_ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sd]")


def parts_dir(locale: str) -> Path:
    return TRANSLATIONS / locale / "parts"


def merged_catalog(locale: str) -> Catalog:
    """All parts of one locale as a single catalog (a later part never overrides an earlier one)."""
    catalog = Catalog(locale=locale, domain="messages", charset="utf-8")
    for path in sorted(parts_dir(locale).glob("*.po")):
        with path.open("rb") as fh:
            part = read_po(fh, locale=locale)
        for message in part:
            if not message.id or message.fuzzy:
                continue
            if catalog.get(message.id, message.context) is None:
                catalog[message.id] = message
    return catalog


def compile_catalogs() -> list[Path]:
    """Write messages.mo for every locale from its parts (atomically, so parallel runs are safe)."""
    written = []
    for locale in LOCALES:
        catalog = merged_catalog(locale)
        target = TRANSLATIONS / COMPILED_DIR[locale] / "LC_MESSAGES" / "messages.mo"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".mo.{os.getpid()}")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.replace(tmp, target)
        written.append(target)
    return written


def catalogs_stale() -> bool:
    for locale in LOCALES:
        target = TRANSLATIONS / COMPILED_DIR[locale] / "LC_MESSAGES" / "messages.mo"
        if not target.exists():
            return True
        newest = max((p.stat().st_mtime for p in parts_dir(locale).glob("*.po")), default=0)
        if newest > target.stat().st_mtime:
            return True
    return False


def extract_messages() -> dict[tuple[str, ...] | str, list[str]]:
    """Every translatable string in the code and templates -> where it occurs."""
    found: dict = {}
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n,jinja2.ext.do", "trimmed": "true"}}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), METHOD_MAP, options_map=options, keywords=KEYWORDS
    ):
        key = message if isinstance(message, str) else tuple(message)
        if not key:
            continue
        found.setdefault(key, []).append(f"{filename}:{lineno}")
    return found


def missing_messages(locale: str = "zh_CN") -> dict:
    """Strings without a translation, or whose placeholders differ from the original."""
    catalog = merged_catalog(locale)
    problems = {}
    for key, where in extract_messages().items():
        msg_id = key[0] if isinstance(key, tuple) else key
        message = catalog.get(msg_id)
        if message is None or not message.string or (isinstance(message.string, tuple) and not all(message.string)):
            problems[key] = where
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if any(set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(msg_id)) for s in strings[:1]):
            problems[key] = where
    return problems


def po_stub(messages: dict, locale: str = "zh_CN") -> str:
    """A .po text with empty translations for `messages`, to paste into a part and fill in."""
    import io

    catalog = Catalog(locale=locale)
    for key, where in messages.items():
        catalog.add(
            key if isinstance(key, str) else key,
            locations=[(w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1])) for w in where[:1]],
        )
    buf = io.BytesIO()
    write_po(buf, catalog, omit_header=True, width=0)
    return buf.getvalue().decode()
