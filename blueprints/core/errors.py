"""Error pages in both languages; htmx requests get a flash message instead of a page."""

from __future__ import annotations

from flask import Flask, flash, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from .htmx import flash_only
from .translate import lazy_gettext as _l

TITLES = {
    400: _l("Bad request"),
    403: _l("Not allowed"),
    404: _l("Page not found"),
    405: _l("Method not allowed"),
    413: _l("Upload too large"),
    422: _l("Some input could not be used"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong"),
    503: _l("Service briefly unavailable"),
}
MESSAGES = {
    400: _l("The request could not be understood. Go back and try again."),
    403: _l("You do not have permission to see or change this."),
    404: _l("There is nothing at this address. It may have been removed, or the link is mistyped."),
    405: _l("This address does not accept that kind of request."),
    413: _l("The data sent was too large."),
    422: _l("Some of what was sent could not be used. Check the form and try again."),
    429: _l("Too many attempts in a short time. Wait a few minutes, then try again."),
    500: _l("An unexpected error happened. Nothing was changed. Please try again later."),
    503: _l("The database is not answering right now. Nothing was changed. Please try again in a minute."),
}
CSRF_MESSAGE = _l("Your form expired or was sent from another site. Reload the page and try again.")


def error_response(code: int, message=None):
    """The error page (or, for htmx, a flash) for status `code`."""
    from .extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001,S110 - the session may be unusable; the page must still render
        pass
    text = message or MESSAGES.get(code, MESSAGES[500])
    if request.headers.get("HX-Request") == "true":
        flash(str(text), "error")
        return flash_only(code)
    return render_template("errors/error.html", code=code, title=TITLES.get(code, TITLES[500]), message=text), code


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        if error.code == 429:
            return error_response(429, error.description if isinstance(error.description, str) else None)
        description = getattr(error, "qingyi_message", None)
        return error_response(error.code, description)

    @app.errorhandler(OperationalError)
    def db_unavailable(error):
        app.logger.warning("database unavailable: %s", error)
        return error_response(503)

    @app.errorhandler(DBAPIError)
    def db_error(error):
        if getattr(error, "connection_invalidated", False):
            return error_response(503)
        app.logger.exception("database error")
        return error_response(500)

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def out_of_range(error):
        # a number or date sent that the database or the calendar cannot hold (?org=99999999999999999999,
        # a week in the year 9999, a capacity of 23 digits): SQLite refuses integers over 64 bits
        # (OverflowError), PostgreSQL numbers beyond its column types (DataError), dates end at 9999.
        # The request cannot be carried out: 400, rolled back, nothing written
        app.logger.warning("value out of range: %s", error)
        return error_response(400)

    @app.errorhandler(InternalServerError)
    def internal_error(error):
        return error_response(500)

    @app.errorhandler(Exception)
    def unexpected(error):
        app.logger.exception("unhandled error")
        if app.config.get("PROPAGATE_UNEXPECTED"):
            raise error
        return error_response(500)
