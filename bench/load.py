"""Load benchmark of the main pages against the stack's own limit (a hello-world route on the same server).

    .venv/bin/python -m bench.load --db sqlite          # /tmp/qingyi-city.db (bench/seed_bench.py builds it)
    .venv/bin/python -m bench.load --db postgresql      # database qingyi_bench at 127.0.0.1:5432
    .venv/bin/python -m bench.load --db both --markdown  # the table as Markdown too (for bench/RESULTS.md)

gunicorn with 2 sync workers and the production config (bench/common.Server, 127.0.0.1), then
`wrk -t2 -c32 -d10s --latency` per scenario. Every request carries what a phone's browser sends
(Accept-Encoding: gzip, Accept-Language: zh-CN); signed-in scenarios use a real login's session
cookie. The POST cycle is a wrk Lua script: 64 volunteers, each with their own session and CSRF
token, register for one coming event and cancel again, in turn (htmx requests, as the page sends
them). Prints requests/s, p50, p99 and the ratio to hello-world of the same run, with the targets:
public pages ≥ 0.25, signed-in pages and the POST cycle ≥ 0.15, p99 ≤ 100 ms (not the dashboard).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import time, timedelta

import sqlalchemy as sa

from bench.common import Server, WrkResult
from bench.seed_bench import database_url

PASSWORD = "qingyi2026"  # noqa: S105 - the published demo password
USER_AGENT = "qingyi-bench"  # the same for the login and wrk (Flask-Login's basic session protection)
VOLUNTEER, MANAGER, CITY_COORDINATOR = "13800000030", "13800000010", "13800000001"
CYCLE_SESSIONS = 64
CYCLE_EVENTS = 2


@dataclass
class Scenario:
    name: str
    path: str
    kind: str  # limit | public | signed-in | post
    login: str | None = None
    target: float = 0.0
    p99_ms: float | None = 100.0


def _targets(url: str) -> dict:
    """Ids the scenarios use, read from the city data."""
    from app import create_app
    from blueprints.auth.models import User
    from blueprints.core.extensions import db
    from blueprints.core.timeutil import local_to_utc, local_today, utcnow
    from blueprints.events.models import Event, Registration
    from blueprints.orgs.models import Org
    from blueprints.venues.models import Booking

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        today = local_today()
        monday = today - timedelta(days=today.weekday())
        now = utcnow()
        s = db.session
        city = s.scalar(sa.select(Org.id).where(Org.parent_id.is_(None)).order_by(Org.id).limit(1))
        # a published coming event (registrations, a waitlist maybe: what a volunteer opens)
        event = s.scalar(
            sa.select(Event.id)
            .where(Event.state == "published", Event.starts_at > now)
            .order_by(Event.starts_at, Event.id)
            .offset(50)
            .limit(1)
        )
        # the youth home with the most bookings this week
        start, end = local_to_utc(monday, time(0)), local_to_utc(monday + timedelta(days=7), time(0))
        venue = s.scalar(
            sa.select(Booking.venue_id)
            .where(Booking.starts_at >= start, Booking.starts_at < end)
            .group_by(Booking.venue_id)
            .order_by(sa.func.count().desc(), Booking.venue_id)
            .limit(1)
        )
        # the POST cycle: coming events with room for their share of the volunteers, and volunteers
        # free at that time (CYCLE_SESSIONS volunteers over CYCLE_EVENTS events)
        soon = now + timedelta(days=2)
        per_event = CYCLE_SESSIONS // CYCLE_EVENTS
        cycle_events = s.execute(
            sa.select(Event.id, Event.starts_at, Event.ends_at)
            .where(
                Event.state == "published",
                Event.members_only.is_(False),
                Event.starts_at > soon,
                sa.or_(Event.reg_closes_at.is_(None), Event.reg_closes_at > soon),
                Event.capacity - Event.confirmed_count >= per_event,
            )
            .order_by(Event.starts_at, Event.id)
            .limit(CYCLE_EVENTS)
        ).all()
        cycle: list[tuple[int, str]] = []
        for e in cycle_events:
            busy = (
                sa.select(Registration.id)
                .join(Event, Event.id == Registration.event_id)
                .where(
                    Registration.user_id == User.id,
                    Registration.state.in_(("confirmed", "waitlisted")),
                    Event.starts_at < e.ends_at,
                    Event.ends_at > e.starts_at,
                )
            )
            taken = [phone for _e, phone in cycle]
            phones = s.scalars(
                sa.select(User.phone)
                .where(User.phone.like("139%"), User.active.is_(True), ~busy.exists(), User.phone.not_in(taken or [""]))
                .order_by(User.id)
                .limit(per_event)
            ).all()
            cycle += [(e.id, phone) for phone in phones]
        db.session.remove()
        db.engine.dispose()
    return {
        "city": city,
        "event": event,
        "venue": venue,
        "monday": monday,
        "year": today.year,
        "cycle": cycle,
    }


def scenarios(t: dict) -> list[Scenario]:
    return [
        Scenario("hello-world (limit)", "/bench/hello", "limit", p99_ms=None),
        Scenario("weekly activity list", f"/events/?org={t['city']}", "public", target=0.25),
        Scenario("event page", f"/events/{t['event']}", "public", target=0.25),
        Scenario(
            "youth-home week calendar", f"/venues/{t['venue']}/calendar?week={t['monday']}", "public", target=0.25
        ),
        Scenario("my hours (volunteer)", "/hours/mine", "signed-in", VOLUNTEER, 0.15),
        Scenario("approval queue (manager)", "/venues/approvals", "signed-in", MANAGER, 0.15),
        Scenario(
            "dashboard: city, a year",
            f"/reports/?org={t['city']}&period=year&year={t['year']}",
            "signed-in",
            CITY_COORDINATOR,
            0.15,
            p99_ms=None,
        ),
        Scenario("register + cancel (POST)", f"/events/{t['cycle'][0][0]}", "post", target=0.15),
    ]


def login(base_url: str, phone: str) -> tuple[str, str]:
    """(Cookie header, CSRF token) of a real login, with the benchmark's User-Agent."""
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    page = s.get(base_url + "/account/login", timeout=60)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
    r = s.post(
        base_url + "/account/login",
        data={"phone": phone, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=60,
    )
    if r.status_code != 303:
        raise RuntimeError(f"login failed for {phone}: {r.status_code}")
    home = s.get(base_url + "/", timeout=60)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', home.text).group(1)
    return "; ".join(f"{c.name}={c.value}" for c in s.cookies), token


LUA = r"""
-- register then cancel, for several volunteers with their own session and CSRF token (and event)
local sessions = { %(sessions)s }
local nthreads = %(threads)d
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
local reqs, i = {}, 0
-- wrk calls request() once on the first thread before the run, to check the request it builds
-- (script_verify_request, after init): that call must not use up a registration, or the first pass
-- would cancel a place it never took (one 409)
local verified = true
function init(args)
  verified = tid ~= 0
  local mine = {}
  for k, s in ipairs(sessions) do
    if (k - 1) %% nthreads == tid then table.insert(mine, s) end
  end
  -- all of this thread's registrations, then all cancellations: one volunteer's two requests are
  -- len(mine) requests apart, more than the thread's connections in flight
  for _, action in ipairs({"/register", "/registration/cancel"}) do
    for _, s in ipairs(mine) do
      local path = "/events/" .. s[4] .. action
      local headers = {
        ["Cookie"] = s[1], ["X-CSRFToken"] = s[2], ["HX-Request"] = "true",
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["User-Agent"] = "%(ua)s", ["Accept-Encoding"] = "gzip", ["Accept-Language"] = "zh-CN",
      }
      table.insert(reqs, wrk.format("POST", path, headers, "csrf_token=" .. s[3]))
    end
  end
end
function request()
  if not verified then
    verified = true
    return reqs[1]
  end
  i = i %% #reqs + 1
  return reqs[i]
end
"""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cycle_script(base_url: str, cycle: list[tuple[int, str]], threads: int) -> str:
    from urllib.parse import quote

    sessions = []
    for event_id, phone in cycle:
        cookie, token = login(base_url, phone)
        fields = (_quote(cookie), _quote(token), _quote(quote(token, safe="")), str(event_id))
        sessions.append("{" + ", ".join(fields) + "}")
    fd, path = tempfile.mkstemp(suffix=".lua", prefix="qingyi-cycle-")
    with os.fdopen(fd, "w") as fh:
        fh.write(
            LUA
            % {
                "sessions": ",\n  ".join(sessions),
                "threads": threads,
                "ua": USER_AGENT,
            }
        )
    return path


def settle_cycle(url: str, cycle: list[tuple[int, str]]) -> int:
    """Before the POST cycle: every run starts from the same state, however many ran before. Each run leaves
    ~80 cancelled registrations per volunteer of the cycle; after a few runs their thousands skewed
    PostgreSQL's statistics (ANALYZE saw these volunteers as having ~800 registrations: the place check
    planned as a merge join over the events, 4 ms instead of 0.1) and, until a vacuum, their dead row
    versions filled the indexes the place check reads (autovacuum starts only at 20 % of a million rows). So
    the registrations earlier runs cancelled are removed (none has a service record; the foreign keys'
    triggers are skipped for this delete, as service_records.registration_id has no index to check them
    by), then PostgreSQL vacuums and analyses the two tables. Returns the registrations removed."""
    engine = sa.create_engine(url)
    events = sorted({event_id for event_id, _phone in cycle})
    phones = [phone for _event_id, phone in cycle]
    delete = sa.text(
        "DELETE FROM registrations WHERE state = 'cancelled' AND event_id IN :events"
        " AND user_id IN (SELECT id FROM users WHERE phone IN :phones)"
        " AND NOT EXISTS (SELECT 1 FROM service_records s"
        "  WHERE s.event_id = registrations.event_id AND s.registration_id = registrations.id)"
    ).bindparams(sa.bindparam("events", expanding=True), sa.bindparam("phones", expanding=True))
    postgresql = engine.dialect.name == "postgresql"
    try:
        with engine.connect() as conn:
            if postgresql:
                conn.exec_driver_sql("SET session_replication_role = replica")
            else:  # outside a transaction, where SQLite takes it
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")
            removed = conn.execute(delete, {"events": events, "phones": phones}).rowcount
            conn.commit()
        if postgresql:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) registrations, events")
    finally:
        engine.dispose()
    return removed


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if match is None:
        return float("nan")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def run_wrk(name: str, url: str, duration: int, connections: int, threads: int, headers=None, script=None):  # noqa: ANN001
    """wrk --latency; its figures (bench/common.run_wrk's, with the raw output kept when unparsable)."""
    import subprocess

    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    except AttributeError as exc:
        raise RuntimeError(f"unreadable wrk output for {name}:\n{out}") from exc
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return WrkResult(name, rps, p50, p99, errors, non2xx)


def _warm(url: str, headers: dict, n: int = 4) -> None:
    import requests

    for _ in range(n):  # both workers: templates, per-process caches, the dashboard's cache
        r = requests.get(url, headers=headers, timeout=300)
        if r.status_code != 200:
            raise RuntimeError(f"GET {url}: {r.status_code}")


def run(kind: str, duration: int = 10, connections: int = 32, threads: int = 2, only: list[str] | None = None):
    url = database_url(kind)
    t = _targets(url)
    if len(t["cycle"]) < CYCLE_SESSIONS:
        raise SystemExit("not enough free volunteers for the POST cycle")
    results: list[tuple[Scenario, WrkResult]] = []
    base_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip", "Accept-Language": "zh-CN"}
    load_before = os.getloadavg()
    with Server(url, workers=2) as server:
        cookies = {}
        for sc in scenarios(t):
            if only and sc.kind != "limit" and not any(o in sc.name for o in only):
                continue
            headers = dict(base_headers)
            script = None
            if sc.login:
                if sc.login not in cookies:
                    cookies[sc.login] = login(server.url, sc.login)[0]
                headers["Cookie"] = cookies[sc.login]
            _warm(server.url + sc.path, headers)
            if sc.kind == "post":
                settle_cycle(url, t["cycle"])
                script = cycle_script(server.url, t["cycle"], threads)
            else:
                # a second of load at 8 connections, not counted: both workers have opened the page
                # (templates compiled, per-process caches such as the dashboard's filled), as in a
                # server that has been up for a while
                run_wrk(sc.name, server.url + sc.path, 1, 8, threads, headers=headers)
                # wrk stops after its second; a worker may still be busy with a first computation
                # (the city dashboard: 1-4 s): wait until the server is idle
                server.wait_idle()
            try:
                result = run_wrk(
                    sc.name,
                    server.url + sc.path,
                    duration=duration,
                    connections=connections,
                    threads=threads,
                    headers=headers if not script else None,
                    script=script,
                )
            finally:
                if script:
                    os.unlink(script)
            results.append((sc, result))
            print(
                f"  {sc.name:<28} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    return {"kind": kind, "results": results, "load": (load_before, os.getloadavg())}


def table(run_result: dict, markdown: bool = False) -> tuple[str, bool]:
    results = run_result["results"]
    limit = next(r.rps for sc, r in results if sc.kind == "limit")
    ok_all = True
    rows = []
    for sc, r in results:
        ratio = r.rps / limit if limit else 0
        checks = []
        if sc.target:
            checks.append(ratio >= sc.target)
        if sc.p99_ms is not None and sc.kind != "limit":
            checks.append(r.p99_ms <= sc.p99_ms)
        if r.errors or r.non2xx:
            checks.append(False)
        ok = all(checks)
        ok_all &= ok
        target = f"≥ {sc.target:.2f}" if sc.target else "—"
        if sc.p99_ms is not None and sc.kind != "limit":
            target += f", p99 ≤ {sc.p99_ms:.0f} ms"
        verdict = "—" if sc.kind == "limit" else ("ok" if ok else "MISSED")
        extra = f" ({r.non2xx} non-2xx/3xx, {r.errors} errors)" if (r.errors or r.non2xx) else ""
        rows.append(
            (sc.name, f"{r.rps:,.0f}", f"{r.p50_ms:.1f}", f"{r.p99_ms:.1f}", f"{ratio:.2f}", target, verdict + extra)
        )
    head = ("scenario", "req/s", "p50 ms", "p99 ms", "ratio", "target", "")
    before, after = run_result["load"]
    load = f"load average before {before[0]:.2f} / after {after[0]:.2f} (1 min)"
    if markdown:
        lines = [
            f"**{run_result['kind']}** — {load}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join(["---", "---:", "---:", "---:", "---:", "---", "---"]) + "|",
            *("| " + " | ".join(row) + " |" for row in rows),
        ]
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
        fmt = "  ".join(f"{{:<{w}}}" if i in (0, 5, 6) else f"{{:>{w}}}" for i, w in enumerate(widths))
        lines = [f"{run_result['kind']}: {load}", fmt.format(*head), *(fmt.format(*row) for row in rows)]
    return "\n".join(lines), ok_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", action="append", help="run only scenarios whose name contains this (repeatable)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    ok = True
    for kind in kinds:
        result = run(kind, args.duration, args.connections, only=args.only)
        text, passed = table(result)
        print(text, flush=True)
        if args.markdown:
            print("\n" + table(result, markdown=True)[0] + "\n", flush=True)
        ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
