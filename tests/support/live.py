"""Real servers for concurrency and browser tests: gunicorn on 127.0.0.1 against a test database."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTMX_FILE = ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
CSRF_IN_PAGE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """gunicorn serving create_app() against `db_url`; stop() (or the context manager) ends it."""

    def __init__(self, db_url: str, workers: int = 2, env: dict | None = None, threads: int = 1):
        self.db_url = db_url
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> LiveServer:
        """Start gunicorn and wait until it answers /healthz: generously, since each worker imports the app
        (seconds each on a loaded machine; 30 s was not always enough for four)."""
        from tests.conftest import SECRET

        env = {
            **os.environ,
            "DATABASE_URL": self.db_url,
            "SECRET_KEY": SECRET,
            "FLASK_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "FLASK_RATELIMIT_ENABLED": "false",
            "PYTHONPATH": str(ROOT),
        }
        if HTMX_FILE.exists():
            env.setdefault("HTMX_FILE", str(HTMX_FILE))
            env.setdefault("HTMX_URL", "/htmx.min.js")
        env.update(self.extra_env)
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "app:create_app()",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:  # noqa: S310 - loopback only
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer in time")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def csrf_from(html: str) -> str:
    match = CSRF_IN_PAGE.search(html)
    if not match:
        raise AssertionError("no CSRF token in page")
    return match.group(1)


def signed_in_session(base_url: str, phone: str, password: str):
    """A requests.Session logged in as `phone` with the password, its CSRF token in the default headers.

    The token is the login page's: signing in keeps the session's CSRF secret, so the token stays valid
    (were that to change, the session's first POST would be refused with a 400, not pass unnoticed).
    No page is fetched after the login: the race tests sign in hundreds of volunteers this way."""
    import requests

    s = requests.Session()
    page = s.get(base_url + "/account/login", timeout=30)
    token = csrf_from(page.text)
    r = s.post(
        base_url + "/account/login",
        data={"phone": phone, "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    if r.status_code != 303 or r.headers.get("Location", "").split("?")[0].endswith("/account/login"):
        raise AssertionError(f"login failed for {phone}: {r.status_code} {r.headers.get('Location', '')}")
    s.headers["X-CSRFToken"] = token
    return s
