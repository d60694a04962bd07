"""Shared pieces of the benchmarks: a gunicorn on 127.0.0.1, wrk runs, signed-in sessions."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn "app:create_app()" with production settings (2 sync workers unless told otherwise)."""

    def __init__(self, db_url: str, workers: int = 2, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-key"),
            "FLASK_BENCH_ROUTES": "true",
            "FLASK_RATELIMIT_ENABLED": "false",
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        self.workers = workers
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "app:create_app()",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:  # noqa: S310 - loopback
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("server did not start")

    def _cpu_ticks(self) -> int:
        """CPU time (clock ticks) of the gunicorn master and its workers so far (Linux /proc)."""
        pids = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as fh:
                pids += [int(p) for p in fh.read().split()]
        except OSError:
            return 0
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return total

    def wait_idle(self, quiet: float = 0.5, limit: float = 60) -> None:
        """Return once the server has used no CPU for `quiet` seconds (a worker may still be busy with a
        request its client gave up on, such as a first computation of the city dashboard)."""
        deadline = time.monotonic() + limit
        last = self._cpu_ticks()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self._cpu_ticks()
            if now == last:
                return
            last = now

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)


@dataclass
class WrkResult:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non2xx: int


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def run_wrk(
    name: str,
    url: str,
    duration: int = 10,
    connections: int = 32,
    threads: int = 2,
    headers: dict | None = None,
    script: str | None = None,
) -> WrkResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    # the latency distribution lines only (the stdev column also carries a percentage)
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return WrkResult(name, rps, p50, p99, errors, non2xx)


def signed_in_cookie(base_url: str, phone: str, password: str) -> tuple[str, str]:
    """(Cookie header value, CSRF token) of a fresh login."""
    import requests

    s = requests.Session()
    page = s.get(base_url + "/account/login", timeout=30)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
    r = s.post(
        base_url + "/account/login",
        data={"phone": phone, "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    if r.status_code != 303:
        raise RuntimeError(f"login failed for {phone}: {r.status_code}")
    home = s.get(base_url + "/", timeout=30)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', home.text).group(1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
    return cookie, token
