"""Decoding a JSON request body into values both databases can store.

What a body may hold is the document's business (:mod:`.contract`); this
module keeps every value within what SQLite and PostgreSQL take, so that no
body reaches the database as a value it rejects with an error of its own.
"""
from __future__ import annotations

import json
import math
from typing import Any

from ..engine import InvalidRequest

#: The widest integer SQLite and PostgreSQL bind (a signed 64-bit BIGINT); every
#: number of a body, whole or not, is within this in absolute value, the one
#: rule the document states as its ``JsonValue``.
MAX_INT = 2**63 - 1
#: Values in all of a body's lists together; each may become one SQL parameter.
MAX_LIST_ITEMS = 10_000


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


