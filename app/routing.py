"""One rule for the row ids in URLs, for every blueprint: ``<id:name>``.

Ids are INTEGER columns. Werkzeug's ``<int(max=...)>`` simply does not match
a larger id, so the request fell through to a neighbouring rule (a 405
"allowed: GET" for ``DELETE /locks/2147483648``) or to a generic 404. Here any
whole number matches the route it was meant for, and one that no row can have
(negative, or past the column's range) answers 404 before the database sees it.
"""
from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

#: The largest value of an INTEGER column on SQLite and PostgreSQL alike.
MAX_ROW_ID = 2**31 - 1


class NoSuchRow(NotFound):
    """A 404 for an id that cannot exist; its description names the id."""


class RowIdConverter(BaseConverter):
    """A row id: any optionally signed run of digits; 0 to :data:`MAX_ROW_ID`."""

    regex = r"-?\d+"
    part_isolating = True

    def to_python(self, value: str) -> int:
        # The length first: int() of thousands of digits is slow, then refused.
        if len(value) > len(str(MAX_ROW_ID)) or not 0 <= int(value) <= MAX_ROW_ID:
            raise NoSuchRow(f"no row has id {value[:30]}; ids are 0 to {MAX_ROW_ID}")
        return int(value)

    def to_url(self, value: int) -> str:
        return str(int(value))


def init_app(app: Flask) -> None:
    """Register ``<id:...>``; call before any blueprint that uses it."""
    app.url_map.converters["id"] = RowIdConverter
