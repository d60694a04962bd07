"""Signed, rotating check-in tokens and codes, and signed certificate ids.

A check-in token or code is an HMAC (with the app's SECRET_KEY) of the event id, the action
("in" or "out") and a 60-second time window. The leader's screen shows the current window's; the
current and the previous window are accepted, so a code shown at the last second of a window still
works for a minute. Nothing is stored: every server process computes the same values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

WINDOW_SECONDS = 60
ACTIONS = ("in", "out")
#: how far back a code is recognised as "expired" rather than "wrong" (windows)
RECOGNISE_EXPIRED_WINDOWS = 60


class TokenError(ValueError):
    """A check-in token or code that cannot be used: `reason` is "forged" or "expired"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def window_of(now: datetime) -> int:
    return int(now.timestamp()) // WINDOW_SECONDS


def seconds_left(now: datetime) -> int:
    """Seconds until the current window ends (when the screen shows a new code)."""
    return WINDOW_SECONDS - int(now.timestamp()) % WINDOW_SECONDS


def _mac(purpose: str, event_id: int, action: str, window: int) -> bytes:
    key = current_app.config["SECRET_KEY"].encode()
    message = f"qingyi-attendance:{purpose}:{event_id}:{action}:{window}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def _signature(event_id: int, action: str, window: int) -> str:
    return base64.urlsafe_b64encode(_mac("scan", event_id, action, window)[:15]).decode().rstrip("=")


def scan_token(event_id: int, action: str, now: datetime) -> str:
    """The token in the QR code's URL: 'eventid.action.window.signature' (the signature is base64url)."""
    window = window_of(now)
    return f"{event_id}.{action}.{window}.{_signature(event_id, action, window)}"


def parse_scan_token(token: str, now: datetime, grace_windows: int = 0) -> tuple[int, str]:
    """(event_id, action) of a valid token; TokenError("forged") or TokenError("expired") otherwise.

    `grace_windows` extends the validity (a volunteer who had to log in first).
    """
    parts = (token or "").split(".", 3)
    if len(parts) != 4 or parts[1] not in ACTIONS or not parts[0].isdigit() or not parts[2].isdigit():
        raise TokenError("forged")
    event_id, action, window = int(parts[0]), parts[1], int(parts[2])
    if not hmac.compare_digest(parts[3], _signature(event_id, action, window)):
        raise TokenError("forged")
    current = window_of(now)
    # one window ahead tolerates a little clock skew between servers
    if not (current - 1 - grace_windows <= window <= current + 1):
        raise TokenError("expired")
    return event_id, action


def attendance_code(event_id: int, action: str, now: datetime, window: int | None = None) -> str:
    """The 6-digit code the leader's screen shows for this window."""
    window = window_of(now) if window is None else window
    value = int.from_bytes(_mac("code", event_id, action, window)[:8], "big") % 1_000_000
    return f"{value:06d}"


def check_code(event_id: int, action: str, code: str, now: datetime) -> None:
    """Accept the current or the previous window's code; TokenError("expired"/"forged") otherwise."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    current = window_of(now)
    if len(code) == 6:
        for window in (current, current - 1, current + 1):
            if hmac.compare_digest(code, attendance_code(event_id, action, now, window)):
                return
        for window in range(current - 2, current - RECOGNISE_EXPIRED_WINDOWS, -1):
            if hmac.compare_digest(code, attendance_code(event_id, action, now, window)):
                raise TokenError("expired")
    raise TokenError("forged")


# --- certificates -----------------------------------------------------------------------------


def _certificate_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="qingyi-certificate")


def certificate_token(certificate_id: int) -> str:
    """The signed id carried by a certificate's verification URL (valid for ever)."""
    return _certificate_serializer().dumps(certificate_id)


def certificate_id_from(token: str) -> int | None:
    """The certificate id of a genuine token, else None."""
    try:
        value = _certificate_serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
