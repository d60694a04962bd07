"""Page numbers of list pages."""

from __future__ import annotations

from flask import abort, request


def page_arg(name: str = "page") -> int:
    """The list page asked for in query argument `name`, 1 when absent; anything but a whole number from 1
    (six digits at most) is a page that does not exist: 404, never a 500 from a bad OFFSET."""
    value = request.values.get(name, "")
    if not value:
        return 1
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or int(value) < 1:
        abort(404)
    return int(value)


def last_page(count: int, size: int) -> int:
    """The number of the last page of `count` items, `size` a page (1 for none)."""
    return max(1, -(-count // size))
