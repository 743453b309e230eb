"""Reading a JSON request body against a small schema of allowed keys.

Every view that takes a body declares its keys once (:class:`Field`) and calls
:func:`read_body`; the checks and their messages live here only. Values are
also kept within what both databases can store, so that no body can reach the
database as a value it rejects with an error of its own.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from flask import request

from ..engine import InvalidRequest

#: The widest integer SQLite and PostgreSQL bind (a signed 64-bit BIGINT); every
#: number of a body, whole or not, is within this in absolute value, the one
#: rule the document states as its ``JsonValue``.
MAX_INT = 2**63 - 1
#: Values in all of a body's lists together; each may become one SQL parameter.
MAX_LIST_ITEMS = 10_000


@dataclass(frozen=True)
class Kind:
    """A JSON value type: the words for messages and the check."""

    word: str
    check: Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    # As JSON Schema counts: 3.0 is an integer (and is read as 3).
    return _is_number(value) and float(value).is_integer()


NUMBER = Kind("a number", _is_number)
INTEGER = Kind("an integer", _is_integer)
STRING = Kind("a string", lambda v: isinstance(v, str))
BOOLEAN = Kind("true or false", lambda v: isinstance(v, bool))
OBJECT = Kind("an object", lambda v: isinstance(v, dict))
ARRAY = Kind("a list", lambda v: isinstance(v, list))


@dataclass(frozen=True)
class Field:
    """One allowed top-level key of a body."""

    kind: Kind
    required: bool = False
    #: For strings: the most characters (the document's ``maxLength``).
    max_length: int | None = None


def read_body(fields: Mapping[str, Field]) -> dict[str, Any]:
    """The request's JSON object, checked against ``fields``.

    An empty body counts as ``{}``. Raises :class:`InvalidRequest` naming the
    offending key; a body over ``MAX_CONTENT_LENGTH`` raises werkzeug's 413.
    """
    data = parse_json(request.get_data(cache=False))
    if not isinstance(data, dict):
        raise InvalidRequest(f"the body must be a JSON object, not {_json_type(data)}",
                             allowed=sorted(fields))
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InvalidRequest(f"unknown key {unknown[0]!r}; allowed keys are "
                             f"{', '.join(sorted(fields))}", field=unknown[0],
                             allowed=sorted(fields))
    for name, field in fields.items():
        if name not in data:
            if field.required:
                raise InvalidRequest(f"{name!r} is required", field=name)
        elif not field.kind.check(data[name]):
            got = _shorten(data[name])
            raise InvalidRequest(f"{name!r} must be {field.kind.word}, got {got}",
                                 field=name, got=got)
        elif field.max_length is not None and len(data[name]) > field.max_length:
            raise InvalidRequest(f"{name!r} is {len(data[name])} characters long; at "
                                 f"most {field.max_length}", field=name)
        elif field.kind is INTEGER:
            data[name] = int(data[name])
    return data


def parse_json(raw: bytes) -> Any:
    """Decode a body: UTF-8 JSON whose numbers and strings a database can store."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=_reject_constant, parse_int=_bounded_int,
                          parse_float=_finite_float)
    except RecursionError:
        raise InvalidRequest("the body is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, the hooks' errors
        raise InvalidRequest(f"the body is not valid JSON: {error}") from None
    _check_storable(data)
    return data


def _check_storable(data: Any) -> None:
    """Refuse what JSON allows but a database cannot take: unpaired surrogates
    (from "\\ud800" escapes) and lists so long that their SQL parameters would
    pass PostgreSQL's limit of 65535 per statement."""
    items, stack = 0, [data]
    while stack:  # iterative: the body may be nested as deep as json.loads allows
        value = stack.pop()
        if isinstance(value, str):
            if not _is_encodable(value):
                raise InvalidRequest("text in the body has an unpaired surrogate escape "
                                     "(\\ud800-\\udfff); send valid Unicode")
        elif isinstance(value, list):
            items += len(value)
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
    if items > MAX_LIST_ITEMS:
        raise InvalidRequest(f"the body's lists hold {items} values in all; at most "
                             f"{MAX_LIST_ITEMS} are allowed in one request")


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    # Check the length first: int() of thousands of digits is slow, then refused.
    if len(text.lstrip("-")) > 19 or abs(int(text)) > MAX_INT:
        raise ValueError(f"integer {text[:30]}{'...' if len(text) > 30 else ''} is out "
                         f"of range (at most {MAX_INT} in absolute value)")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_INT:
        raise ValueError(f"number {text[:30]} is out of range (at most {MAX_INT} in "
                         f"absolute value)")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _shorten(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 100 else text[:97] + "..."
