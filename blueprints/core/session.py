"""The session cookie, set again only when what it holds changed."""

from __future__ import annotations

import copy

from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class _Session(SecureCookieSession):
    #: the content as the request's cookie brought it (mutable values copied: flash() appends in place)
    loaded: dict = {}  # noqa: RUF012 - replaced per instance


class QuietSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without a new Set-Cookie when the session ends the request holding what
    its cookie brought.

    Flask marks a session modified on any write, even one undone in the same request: an htmx answer flashes
    its message and renders it at once (get_flashed_messages pops it again), so every one-tap register or
    cancel serialised and signed the same session anew (~60 µs) and sent the browser an identical cookie but
    for its timestamp. Sessions here are not permanent, so nothing else (an expiry to extend) needs the cookie
    sent again. A change, including a message left for the next page, still sets it.
    """

    session_class = _Session

    def open_session(self, app: Flask, request):  # noqa: ANN001, ANN201
        session = super().open_session(app, request)
        if session is not None and session:
            session.loaded = {k: copy.deepcopy(v) if isinstance(v, list | dict) else v for k, v in session.items()}
        return session

    def should_set_cookie(self, app: Flask, session) -> bool:  # noqa: ANN001
        if session.modified and not session.permanent and dict(session) == session.loaded:
            return False
        return super().should_set_cookie(app, session)
