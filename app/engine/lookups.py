"""Rotest's (Django's) field lookups turned into SQLAlchemy conditions.

``{"name": "calc", "ip_address__startswith": "10.", "group__name__in": ["QA"]}``
becomes a WHERE clause on a resource model. Unknown fields and values of the
wrong type are an :class:`InvalidRequest` that names them, never a database
error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from sqlalchemy import BigInteger, ColumnElement, Enum, String, and_, true
from sqlalchemy.orm import Mapper, RelationshipDirection, RelationshipProperty

from ..models.base import as_utc
from .errors import InvalidRequest

OPERATORS: dict[str, Callable[[Any, Any], ColumnElement]] = {
    "exact": lambda col, v: col.is_(None) if v is None else col == v,
    "iexact": lambda col, v: col.ilike(_escape(v), escape="\\"),
    "ne": lambda col, v: col.is_not(None) if v is None else col != v,
    "in": lambda col, v: col.in_(v),
    "contains": lambda col, v: col.contains(v, autoescape=True),
    "icontains": lambda col, v: col.icontains(v, autoescape=True),
    "startswith": lambda col, v: col.startswith(v, autoescape=True),
    "istartswith": lambda col, v: col.istartswith(v, autoescape=True),
    "endswith": lambda col, v: col.endswith(v, autoescape=True),
    "iendswith": lambda col, v: col.iendswith(v, autoescape=True),
    "gt": lambda col, v: col > v,
    "gte": lambda col, v: col >= v,
    "lt": lambda col, v: col < v,
    "lte": lambda col, v: col <= v,
    "isnull": lambda col, v: col.is_(None) if v else col.is_not(None),
}
MAX_LIST = 10_000
#: Values in one ``__in`` lookup (the document's maxItems).
MAX_IN = 500
TEXT_OPERATORS = {"iexact", "contains", "icontains", "startswith", "istartswith",
                  "endswith", "iendswith"}
ORDER_OPERATORS = {"gt", "gte", "lt", "lte"}


def operators_for(column: Any) -> list[str]:
    """The lookups a column takes: text ones on text, no order on true/false."""
    return [operator for operator in OPERATORS
            if not (operator in TEXT_OPERATORS and not is_text(column))
            and not (operator in ORDER_OPERATORS and is_boolean(column))]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Rules:
    """What a filter may reach: ``hidden`` fields answer as unknown ones, and
    with ``parts_only`` relations to resources are followed only to the
    sub-resources (many-to-one) of the filtered one."""

    hidden: frozenset[str] = frozenset()
    parts_only: bool = False


OPEN = Rules()


def build_filter(model: type, filters: Mapping[str, Any],
                 rules: Rules = OPEN) -> ColumnElement:
    """One condition for all ``filters`` on ``model`` (their AND)."""
    if not isinstance(filters, Mapping):
        raise InvalidRequest("filters must be an object of field lookups",
                             got=type(filters).__name__)
    for key in filters:
        if not isinstance(key, str):
            raise InvalidRequest("filter names must be strings", got=repr(key)[:100])
        check_text(key, key)
    conditions = [_lookup(model.__mapper__, key, value, key, rules)
                  for key, value in filters.items()]
    return and_(true(), *conditions)


def _lookup(mapper: Mapper, path: str, value: Any, full: str,
            rules: Rules) -> ColumnElement:
    field, _, rest = path.partition("__")
    prop = mapper.attrs.get(field)
    if prop is None or field.startswith("_") or field in rules.hidden:
        raise InvalidRequest(
            f"{mapper.class_.__name__} has no field {field!r} (in lookup {full!r})",
            field=full, known=sorted(a.key for a in mapper.attrs
                                     if not a.key.startswith("_")
                                     and a.key not in rules.hidden))
    if isinstance(prop, RelationshipProperty):
        return _relation(mapper, prop, rest, value, full, rules)
    operator = rest or "exact"
    if operator not in OPERATORS:
        raise InvalidRequest(f"unknown lookup {operator!r} in {full!r}", field=full,
                             known=sorted(OPERATORS))
    column = getattr(mapper.class_, field)
    if operator not in operators_for(column):
        # LIKE on a number works on SQLite and fails on PostgreSQL, and true or
        # false have no order in SQL: refuse both, naming what the field takes.
        why = "compares text" if operator in TEXT_OPERATORS else "orders values"
        raise InvalidRequest(f"{full!r}: {operator} {why}, and {field!r} is a "
                             f"{'true-or-false' if is_boolean(column) else 'non-text'} "
                             f"field; use {', '.join(operators_for(column))}", field=full)
    return OPERATORS[operator](column, _coerce(column, operator, value, full))


def is_boolean(column: Any) -> bool:
    """A true-or-false column, which SQL cannot order."""
    try:
        return column.type.python_type is bool
    except NotImplementedError:
        return False


def is_text(column: Any) -> bool:
    """A column of plain text, which LIKE can compare on every database."""
    return isinstance(column.type, String) and not isinstance(column.type, Enum)


def _relation(mapper: Mapper, prop: RelationshipProperty, rest: str, value: Any,
              full: str, rules: Rules) -> ColumnElement:
    attribute = getattr(mapper.class_, prop.key)
    target = prop.mapper
    if not _is_resource(target) and rest.split("__")[0] not in ("", "id", "name", *OPERATORS):
        # Accounts hang off groups: never let a filter reach into them.
        raise InvalidRequest(f"{full!r}: only the id or name of a "
                             f"{target.class_.__name__} can be filtered on", field=full)
    if _is_resource(target) and rules.parts_only \
            and prop.direction is not RelationshipDirection.MANYTOONE:
        # Rows reached this way are not parts of this one: they may be hidden.
        raise InvalidRequest(f"{full!r}: filters follow only sub-resources (many-to-one "
                             f"relations)", field=full)
    if rest in ("", "exact", "in", "isnull"):
        # group=3, group="QA", port__isnull=True: by key, or by name where the
        # target has one.
        if rest == "isnull":
            empty = _coerce_one(bool, value, full)
            return ~attribute.has() if empty else attribute.has()
        key = "id" if isinstance(value, int) or (
            rest == "in" and all(isinstance(v, int) for v in value or [])) else "name"
        if key not in target.attrs:
            raise InvalidRequest(f"{full!r}: give the related object's id", field=full)
        inner = _lookup(target, f"{key}__{rest or 'exact'}", value, full, rules)
    else:
        inner = _lookup(target, rest, value, full, rules)
    return attribute.any(inner) if prop.uselist else attribute.has(inner)


def _is_resource(mapper: Mapper) -> bool:
    # Here, not above: the models import this module's lookups (a cycle).
    from ..models import ResourceData
    return issubclass(mapper.class_, ResourceData)


def _coerce(column: Any, operator: str, value: Any, full: str) -> Any:
    """Check ``value`` against the column's Python type; convert where lossless."""
    if operator == "isnull":
        return _coerce_one(bool, value, full)
    if value is None and operator in ("exact", "ne"):
        return None
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = object
    if operator in TEXT_OPERATORS:
        python_type = str
    bits = 64 if isinstance(column.type, BigInteger) else 32
    if operator == "in":
        if not isinstance(value, (list, tuple)):
            raise InvalidRequest(f"{full!r} expects a list", field=full, got=repr(value)[:200])
        if len(value) > MAX_IN:
            raise InvalidRequest(f"{full!r}: at most {MAX_IN} values", field=full)
        return [_coerce_one(python_type, item, full, bits) for item in value]
    return _coerce_one(python_type, value, full, bits)


def _coerce_one(python_type: type, value: Any, full: str, bits: int = 32) -> Any:
    if python_type is object:
        return value
    if python_type is bool:
        if isinstance(value, bool):
            return value
    elif python_type is int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema's integer: 3.0 is one
        if isinstance(value, int) and not isinstance(value, bool):
            if -2 ** (bits - 1) <= value < 2 ** (bits - 1):
                return value
            raise InvalidRequest(f"{full!r}: {value} is out of range for a "
                                 f"{bits}-bit integer", field=full)
    elif python_type is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            return float(value)
    elif python_type is str:
        if isinstance(value, str):
            return check_text(value, full)
    elif python_type is datetime:
        moment = value
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(check_text(value, full))
            except ValueError:
                pass
        if isinstance(moment, datetime):
            return as_utc(moment)
    elif isinstance(value, python_type):
        return value
    raise InvalidRequest(f"{full!r} expects {_type_word(python_type)}, got {value!r}",
                         field=full, got=repr(value)[:200])


def check_text(value: str, what: str) -> str:
    """Text a database can store: no NUL, no lone surrogates."""
    if "\x00" in value:
        raise InvalidRequest(f"{what!r} must not contain NUL characters", field=what)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{what!r} is not valid Unicode text", field=what) from None
    return value


def _type_word(python_type: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number",
            str: "a string", datetime: "an ISO 8601 date-time"}.get(
        python_type, python_type.__name__)


def coerce_value(model: type, field: str, value: Any) -> Any:
    """A value for assigning to ``model.field``, checked like a lookup's."""
    prop = model.__mapper__.attrs.get(field)
    if prop is None or isinstance(prop, RelationshipProperty) or field.startswith("_"):
        raise InvalidRequest(f"{model.__name__} has no field {field!r}", field=field)
    column = getattr(model, field)
    if value is None:
        if not all(c.nullable for c in prop.columns):
            raise InvalidRequest(f"{field!r} cannot be empty (null)", field=field)
        return None
    return _coerce(column, "exact", value, field)
