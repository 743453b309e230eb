"""The OpenAPI document as this server serves it: openapi.json beside this
file, with what only the running server knows filled in.

Resource models come from the plugins a server loads, so the file cannot list
them. The served document states, for each model, the ``type`` names it
answers to (the class name, or a dotted path ending in it), the lookups a
filter may use on each of its fields with the values each takes, and the
fields ``update_fields`` may set: the rules of :mod:`rotest_app.engine.lookups` and
:mod:`rotest_app.engine.policy`, read from the same models, so that a client that
validates its requests knows them too.

Filters are stated as a non-admin may use them: without the engine's fields,
and without relation paths (``port__number__gt``), which the server takes
but which depend on the user.
"""
from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any, Iterable

from sqlalchemy import BigInteger

from ..engine.lookups import MAX_IN, TEXT_OPERATORS, operators_for
from ..engine.policy import ENGINE_FIELDS, KEPT_FIELDS
from ..models import ResourceData

SCHEMAS = "#/components/schemas/"


def file_document() -> dict[str, Any]:
    """openapi.json as written."""
    return json.loads(files(__package__).joinpath("openapi.json").read_text("utf-8"))


@cache
def served_document(models: tuple[type[ResourceData], ...]) -> bytes:
    """The document with these resource models; one per set of models."""
    document = file_document()
    schemas = document["components"]["schemas"]
    for model in models:
        name = model.__name__
        schemas[f"{name}Filters"] = _filters(model)
        schemas[f"{name}Values"] = _values(model)
    _one_of(schemas, "Descriptor", models, {"properties": "Filters"})
    _one_of(schemas, "QueryBody", models, {"filters": "Filters"})
    _one_of(schemas, "UpdateFieldsBody", models,
            {"filters": "Filters", "values": "Values"})
    _export_types(document, models)
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _export_types(document: dict[str, Any], models: Iterable[type]) -> None:
    """The inventory export's ``type``: one of these models, as the engine reads it."""
    names = "|".join(sorted(re.escape(model.__name__) for model in models))
    for parameter in document["paths"]["/inventory"]["get"]["parameters"]:
        if parameter["name"] == "type":
            parameter["schema"]["pattern"] = rf"^([^\n]*\.)?({names})$"


def type_pattern(model: type) -> str:
    """The model's name, alone or ending a dotted path (as the engine reads it)."""
    return rf"^([^\n]*\.)?{re.escape(model.__name__)}$"


def _one_of(schemas: dict[str, Any], name: str, models: Iterable[type],
            per_model: dict[str, str]) -> None:
    """``name`` becomes one variant per model, the file's schema with the
    model's ``type`` pattern and its own filters (and values)."""
    base = schemas[name]
    variants = []
    for model in models:
        variant = copy.deepcopy(base)
        properties = variant["properties"]
        properties["type"] = {**properties["type"], "pattern": type_pattern(model)}
        for key, suffix in per_model.items():
            properties[key] = {"$ref": f"{SCHEMAS}{model.__name__}{suffix}",
                               **({"description": properties[key]["description"]}
                                  if "description" in properties[key] else {})}
        variants.append(variant)
    schemas[name] = {"oneOf": variants, "description": base.get("description", "")}


def _columns(model: type) -> Iterable[tuple[str, Any]]:
    for attribute in model.__mapper__.column_attrs:
        if not attribute.key.startswith("_"):
            yield attribute.key, attribute.columns[0]


def _value(column: Any, *, lengths: bool = False) -> dict[str, Any]:
    """The JSON value a column takes (as :func:`lookups._coerce_one` checks)."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return {"$ref": f"{SCHEMAS}JsonValue"}
    if python_type is bool:
        return {"type": "boolean"}
    if python_type is int:
        bits = 64 if isinstance(column.type, BigInteger) else 32
        return {"type": "integer", "minimum": -2 ** (bits - 1),
                "maximum": 2 ** (bits - 1) - 1}
    if python_type is float:
        return {"type": "number", "minimum": -2**63 + 1, "maximum": 2**63 - 1}
    if python_type is datetime:
        return {"type": "string", "format": "date-time"}
    if python_type is str:
        length = getattr(column.type, "length", None)
        return {"type": "string", **({"maxLength": length} if lengths and length else {})}
    return {"$ref": f"{SCHEMAS}JsonValue"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _filters(model: type) -> dict[str, Any]:
    """Every ``field`` and ``field__operator`` a filter on ``model`` takes, as
    one pattern per field and kind of value (a schema of a few patterns per
    field, rather than a property per lookup, keeps generated clients and
    fuzzers fast)."""
    patterns: dict[str, Any] = {}
    for field, column in _columns(model):
        if field in ENGINE_FIELDS:
            continue
        value, operators = _value(column), operators_for(column)
        groups = [(("exact", "ne"), _nullable(value)),
                  (("in",), {"type": "array", "items": value, "maxItems": MAX_IN}),
                  (("isnull",), {"type": "boolean"}),
                  (("gt", "gte", "lt", "lte"), value),
                  (tuple(sorted(TEXT_OPERATORS)), {"type": "string"})]
        for names, schema in groups:
            taken = "|".join(name for name in names if name in operators)
            if taken:
                # The bare field is its exact lookup.
                optional = "?" if "exact" in names else ""
                patterns[f"^{field}(__({taken})){optional}$"] = schema
    return {"type": "object", "additionalProperties": False,
            "patternProperties": patterns,
            "description": f"Field lookups on {model.__name__}, ANDed."}


def _values(model: type) -> dict[str, Any]:
    """The fields of ``model`` update_fields may set, with the values they take."""
    properties = {}
    for field, column in _columns(model):
        if field in KEPT_FIELDS:
            continue
        value = _value(column, lengths=True)
        properties[field] = _nullable(value) if column.nullable else value
    return {"type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": properties,
            "description": f"Fields of {model.__name__} and their new values."}
