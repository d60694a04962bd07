"""Fuzzed forms and hostile URLs: never a 500, never a partial write, never a raw payload.

The forms are found as a browser finds them (every page of the authorization matrix, opened by
someone allowed to; see _forms.discover); every POST route of the URL map must be reached, or be a
button-only form. Three passes:

1. Hypothesis fills every form with hostile values (unicode and control characters, very long
   strings, empty values, negative and huge numbers, malformed dates, times and ids, script
   payloads, fields left out), QINGYI_FUZZ_EXAMPLES examples per form (default 12), no deadline;
2. one hostile value at a time in each field of each form, the other fields filled sensibly, so
   the value reaches the code behind the validation (deterministic: the same every run);
3. every page of the matrix with hostile URLs: huge ids in the path and the query, huge page
   numbers, NUL characters.

Checks: the test app propagates exceptions, so any exception fails (no 500 hidden); a refused
request (4xx) leaves the row count of every table as it was; no raw script payload in an answer.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprints.core.extensions import db
from blueprints.core.timeutil import local_today

from ._forms import BUTTONS, discover
from .conftest import GENEROUS_LIMITS
from .test_authz_matrix import cases
from .test_hardening import RAW, _pages, _viewer

FUZZ_EXAMPLES = int(os.environ.get("QINGYI_FUZZ_EXAMPLES", "12"))
HUGE = "99999999999999999999999"
PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', '=HYPERLINK("http://x")', "' OR 1=1 --"]
#: pass 2: each of these in each field
HOSTILE = ["", " \t\n", "\x00", "\x01\x1b", "A" * 3000, "-1", HUGE, "9999-12-31", "0001-01-01", *PAYLOADS[:2]]

unicode_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
control_text = st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=10)
long_text = st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "青", "😀", " ", "\x00"]), st.integers(200, 5000))
numbers = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["-1", "0", "2147483648", "9223372036854775808", "1e309", "NaN", "inf", "0x10", "１２", "1.5"]),
)
dates = st.one_of(
    st.dates().map(str),
    st.sampled_from(["2026-02-30", "0000-00-00", "9999-12-31", "2026-13-01", "26-1-1", "2026/01/01", "today"]),
)
times = st.sampled_from(["25:00", "23:59", "00:00", "12:60", "-1:00", "9", "09:30:99", "noon"])
hostile = st.one_of(
    st.just(""), unicode_text, control_text, long_text, numbers, dates, times, st.sampled_from(PAYLOADS)
)


@pytest.fixture
def app_config() -> dict:
    return GENEROUS_LIMITS  # the sign-in form is fuzzed too


def _value(kind: str, options: list[str]):
    """The strategy for one field (None: leave the field out)."""
    if kind in ("select", "radio", "button") and options:
        return st.one_of(st.sampled_from(options), hostile, st.none())
    if kind == "checkbox":
        return st.one_of(st.sampled_from(options or ["y"]), st.none(), hostile)
    if kind == "number":
        return st.one_of(numbers, hostile, st.none())
    if kind in ("date", "datetime-local"):
        return st.one_of(dates, hostile, st.none())
    if kind == "time":
        return st.one_of(times, hostile, st.none())
    return st.one_of(hostile, st.none())


def _sensible() -> dict[str, str]:
    """Values that pass validation, by field name (without a form prefix): the background of pass 2."""
    soon = local_today() + timedelta(days=3)
    return {
        "title": "测试活动",
        "name": "测试名称",
        "reason": "维修",
        "purpose": "读书会",
        "message": "请更正",
        "note": "备注",
        "comment": "很好",
        "description": "说明",
        "address": "人民路1号",
        "day": soon.isoformat(),
        "start": "09:00",
        "end": "10:00",
        "attendees": "5",
        "starts_on": (soon + timedelta(days=30)).isoformat(),
        "ends_on": (soon + timedelta(days=31)).isoformat(),
        "starts_at": f"{soon.isoformat()}T09:00",
        "ends_at": f"{soon.isoformat()}T11:00",
        "capacity": "20",
        "max_score": "10",
        "score_i1": "8",
        "position": "1",
        "hours": "2",
        "code": "123456",
        "phone": "13900000011",
        "leader_phones": "13900000011",
        "rating": "4",
        "kind": "community",
        "current": "correct-horse-42",
        "password": "new-password-42",
        "confirm": "new-password-42",
        "code_zh": "测试",
    }


def _counts() -> dict[str, int]:
    tables = db.metadata.sorted_tables
    sql = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{t.name}")' for t in tables)
    row = db.session.execute(sa.text(sql)).one()
    db.session.commit()
    return dict(zip((t.name for t in tables), row, strict=True))


def _post_and_check(act, form, values: dict, headers: dict) -> int:  # noqa: ANN001
    """Post; assert no 500, no write on a refusal, no raw payload. Returns the status."""
    before = _counts()
    response = act(form.viewer, "POST", form.action, data=values, headers=headers)
    assert response.status_code < 500, (response.status_code, values)
    if response.status_code >= 400:
        after = _counts()
        changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
        assert not changed, f"refused with {response.status_code} but wrote {changed}: {values}"
    body = response.get_data(as_text=True) if response.content_type.startswith("text/html") else ""
    assert not RAW.search(body), f"raw payload in the answer: {RAW.search(body).group(0)} ({values})"
    return response.status_code


#: (backend, the world's object ids) -> (forms found, the tokens of the world they were found in that
#: their actions or values carry). The world is built the same way for every test (same rows, same ids
#: in a fresh database), so are its pages and forms: they are opened once per test process and backend,
#: not once per test (each test still posts to a world of its own). A form that carries a token of the
#: world (a signed link) is found again when the token differs.
_DISCOVERED: dict[tuple, tuple[dict, dict]] = {}


def _discover_once(app, world, act, backend: str) -> dict:  # noqa: ANN001
    key = (backend, tuple(sorted((k, v) for k, v in world.ids.items() if isinstance(v, int))))
    cached = _DISCOVERED.get(key)
    if cached is not None and all(world.ids.get(k) == v for k, v in cached[1].items()):
        return cached[0]
    found = discover(app, act, _pages(world))
    carried = " ".join(repr((f.action, f.values, f.options)) for f in found.values() if f.fields)
    tokens = {k: v for k, v in world.ids.items() if isinstance(v, str) and v in carried}
    _DISCOVERED[key] = (found, tokens)
    return found


@pytest.fixture
def forms(app, world, act, backend):
    found = _discover_once(app, world, act, backend)
    post_endpoints = {r.endpoint for r in app.url_map.iter_rules() if "POST" in (r.methods or ())}
    unreached = sorted(post_endpoints - set(found) - BUTTONS)
    assert not unreached, f"POST routes whose form no page shows (add a page, or list it in BUTTONS): {unreached}"
    with_fields = {e: f for e, f in found.items() if f.fields}
    assert len(with_fields) >= 30, sorted(with_fields)
    return with_fields


def test_every_form_survives_hypothesis(forms, act):
    problems: list[str] = []
    tried = {"examples": 0, "refused": 0}

    def fuzzer(form):  # noqa: ANN001, ANN202
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def fuzz(data):  # noqa: ANN001
            values = {}
            for name in form.fields:
                value = data.draw(_value(form.kinds[name], form.options.get(name, [])), label=name)
                if value is not None:
                    values[name] = value
            headers = data.draw(st.sampled_from([{}, {"HX-Request": "true"}]), label="headers")
            status = _post_and_check(act, form, values, headers)
            tried["examples"] += 1
            tried["refused"] += status >= 400

        return fuzz

    for endpoint, form in sorted(forms.items()):
        try:
            fuzzer(form)()
        except Exception as exc:  # noqa: BLE001 - every form is tried; all findings are reported together
            problems.append(f"{endpoint} ({form.action} as {form.viewer}):\n{exc}")
    print(
        f"\nfuzzed forms (hypothesis): {len(forms)} forms, {tried['examples']} examples, "
        f"{tried['refused']} refused, {len(problems)} failing"
    )
    assert not problems, "\n\n".join(problems)


def test_one_hostile_value_at_a_time(forms, act):
    sensible = _sensible()
    problems, sent = [], 0
    for endpoint, form in sorted(forms.items()):
        base = form.defaults()
        for name in form.fields:
            short = name.split("-", 1)[-1]
            if short in sensible and form.kinds[name] not in ("select", "radio", "button", "checkbox"):
                base[name] = sensible[short]
        for name in form.fields:
            for value in HOSTILE:
                try:
                    _post_and_check(act, form, {**base, name: value}, {})
                except AssertionError as exc:
                    problems.append(f"{endpoint} {name}={value[:30]!r}: {str(exc)[:300]}")
                except Exception as exc:  # noqa: BLE001 - reported with the others
                    problems.append(f"{endpoint} {name}={value[:30]!r}: {type(exc).__name__}: {exc}"[:400])
                sent += 1
    print(f"\none hostile value at a time: {len(forms)} forms, {sent} requests, {len(problems)} failing")
    assert not problems, "\n".join(problems)


def test_hostile_urls(app, world, act):
    """Huge ids in the path and the query, huge page numbers, NUL: a 4xx, never a 500."""
    variants = []
    for case in cases(world):
        if case.method != "GET" or (viewer := _viewer(case)) is None:
            continue
        path, _, query = case.url.partition("?")
        if re.search(r"/\d+(/|$|\.)", path):
            variants.append((viewer, re.sub(r"/\d+(?=/|$|\.)", "/" + HUGE, path, count=1), (400, 404)))
        variants.append((viewer, f"{case.url}{'&' if query else '?'}page={HUGE}", (404,)))
        variants.append((viewer, f"{case.url}{'&' if query else '?'}q=%00", (400,)))
        if query:
            variants.append((viewer, path + "?" + re.sub(r"=\d+", "=" + HUGE, query), None))
            variants.append((viewer, path + "?" + re.sub(r"=\d+", "=-1", query), None))
    problems = []
    for viewer, url, expected in variants:
        try:
            response = act(viewer, "GET", url)
        except Exception as exc:  # noqa: BLE001 - reported with the others
            problems.append(f"{viewer} {url}: {type(exc).__name__}: {exc}"[:300])
            continue
        if response.status_code >= 500 or (expected is not None and response.status_code not in expected):
            problems.append(f"{viewer} {url}: {response.status_code}, expected {expected or 'not a 5xx'}")
    print(f"\nhostile URLs: {len(variants)} requests, {len(problems)} failing")
    assert not problems, "\n".join(problems)


def test_discovered_fields_look_like_the_forms(forms):
    """A sanity check of the discovery: the booking form has its fields, the register form too."""
    assert {"day", "start", "end", "purpose", "attendees"} <= set(forms["venues.book"].fields)
    assert {"name", "phone", "password"} <= set(forms["auth.register"].fields)
    assert re.fullmatch(r"/venues/\d+/book", forms["venues.book"].action.split("?")[0])
