"""The API's contract, declared once: openapi.json.

The views read their bodies and query numbers through this module, which
checks them against the document's own schemas, so the document cannot
promise what the server refuses or refuse what it takes. In tests the
answers are held to the document too (:func:`check_answer`, switched on by the
``ROTEST_CHECK_ANSWERS`` setting): every status an operation answers must be
documented, with a body of its schema.
"""
from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, Iterable

from flask import Response, request
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ..engine import InvalidRequest
from .body import parse_json
from .document import file_document

URI = "urn:rotest:api"
#: Bodies up to this many bytes are remembered once they passed their schema.
REMEMBERED_BYTES = 2048
#: How many passed bodies a process remembers (then it starts again).
REMEMBERED_BODIES = 4096
#: The JSON Schema words for the types of the document (for messages).
TYPE_WORDS = {"string": "a string", "number": "a number", "integer": "an integer",
              "boolean": "true or false", "object": "a JSON object", "array": "a list",
              "null": "null"}


@cache
def _document() -> dict[str, Any]:
    return file_document()


@cache
def _validator(pointer: str) -> Draft202012Validator:
    """A validator of the document's schema at ``pointer``, its $refs resolved."""
    resource = Resource.from_contents(_document(), default_specification=DRAFT202012)
    registry = Registry().with_resource(URI, resource)
    return Draft202012Validator({"$ref": f"{URI}#{pointer}"}, registry=registry)


def schema(name: str) -> dict[str, Any]:
    """The document's ``components/schemas/<name>``."""
    return _document()["components"]["schemas"][name]


def read_body(name: str) -> dict[str, Any]:
    """The request's JSON body, checked against the document's schema ``name``.

    An empty body counts as ``{}``. Whole numbers sent for a top-level
    ``integer`` (``3.0``) come back as ints. Raises :class:`InvalidRequest`
    whose message names the offending key and the rule it breaks.
    """
    raw = request.get_data(cache=False)
    data = parse_json(raw)
    if not _passed.seen(name, raw):
        _check(data, f"/components/schemas/{name}")
        _passed.remember(name, raw)
    for key, rule in schema(name).get("properties", {}).items():
        if rule.get("type") == "integer" and isinstance(data.get(key), float):
            data[key] = int(data[key])
    return data


class _PassedBodies:
    """The bodies (their exact bytes) that passed their schema lately.

    A lock client sends the same lock body every cycle, and a release body
    per resource it holds; the schema's verdict on the same bytes is the same,
    so it is worked out once (jsonschema's walk is a sizeable part of a lock
    cycle's CPU). Bytes that fail are never remembered: each gets its check
    and its message.
    """

    def __init__(self) -> None:
        self._known: set[tuple[str, bytes]] = set()

    def seen(self, name: str, raw: bytes) -> bool:
        return (name, raw) in self._known

    def remember(self, name: str, raw: bytes) -> None:
        if len(raw) > REMEMBERED_BYTES:
            return
        if len(self._known) >= REMEMBERED_BODIES:
            self._known = set()  # bounded; set operations are atomic under the GIL
        self._known.add((name, raw))


_passed = _PassedBodies()


def query_number(name: str) -> int | float:
    """The query parameter ``?name=`` of this request's operation, checked
    against its documented schema (type, minimum, maximum), or its default."""
    rule = _parameter(name)
    raw = request.args.get(name)
    if raw is None:
        return rule.get("default", 0)
    value = _number(raw, integer=rule.get("type") == "integer")
    if value is None or not rule.get("minimum", value) <= value <= rule.get("maximum", value):
        raise InvalidRequest(f"{name!r} must be {_range_words(rule)}, got {raw[:30]!r}",
                             field=name)
    return value


def _number(raw: str, integer: bool) -> int | float | None:
    # The length first: int() of thousands of digits is slow, then refused.
    if integer:
        return int(raw) if re.fullmatch(r"-?\d{1,20}", raw) else None
    if not re.fullmatch(r"-?(\d{1,20}(\.\d{0,20})?|\.\d{1,20})([eE][-+]?\d{1,3})?", raw):
        return None
    return float(raw)


def _range_words(rule: dict[str, Any]) -> str:
    kind = "a whole number" if rule.get("type") == "integer" else "a number"
    low, high = rule.get("minimum"), rule.get("maximum")
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    if low is not None:
        return f"{kind}, {low} or more"
    return kind


def _parameter(name: str) -> dict[str, Any]:
    operation = _operation(request.url_rule.rule, request.method)
    for parameter in operation.get("parameters", []):
        if parameter["name"] == name and parameter["in"] == "query":
            return parameter["schema"]
    raise LookupError(f"{request.method} {request.url_rule.rule} documents no ?{name}=")


def document_path(rule: str) -> str:
    """The document's path for a Flask rule: ``/api/v1/locks/<id:request_id>``
    is ``/locks/{request_id}``."""
    path = rule.removeprefix("/api/v1")
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", path)


def _operation(rule: str, method: str) -> dict[str, Any]:
    return _document()["paths"][document_path(rule)][method.lower()]


def _check(data: Any, pointer: str) -> None:
    validator = _validator(pointer)
    if validator.is_valid(data):
        return
    error = min(validator.iter_errors(data), key=lambda e: (len(e.absolute_path),
                                                             str(e.absolute_path)))
    raise InvalidRequest(message(error), **_details(error))


def message(error: ValidationError) -> str:
    """A sentence for a broken rule, naming the key as the client wrote it."""
    where = list(error.absolute_path)
    key = where[-1] if where and isinstance(where[-1], str) else None
    subject = f"{key!r}" if key is not None else _location(where) or "the body"
    prefix = f"{_location(where[:-1])}: " if key is not None and len(where) > 1 else ""
    rule, value = error.validator, error.validator_value
    inside = f"{_location(where)}: " if where else ""
    if rule == "required":
        return f"{inside}{_named_key(error)!r} is required"
    if rule == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return (f"{inside}unknown key {_named_key(error)!r}; allowed keys are "
                f"{', '.join(allowed) or 'none'}")
    if rule == "type":
        words = " or ".join(TYPE_WORDS.get(t, t) for t in _listed(value))
        return f"{prefix}{subject} must be {words}, got {_shorten(error.instance)}"
    return f"{prefix}{subject} must be {_rule_words(error)}, got {_shorten(error.instance)}"


def _rule_words(error: ValidationError) -> str:
    """What a value must be, in words, for the rules of the document's bodies."""
    rule, value, schema = error.validator, error.validator_value, error.schema
    if rule in ("minLength", "maxLength"):
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        return (f"{low} to {high} characters long" if high is not None
                else f"at least {low} characters long")
    if rule in ("minimum", "maximum"):
        return _range_words(schema)
    if rule in ("minItems", "maxItems"):
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        return f"a list of {low} to {high} items" if high is not None \
            else f"a list of at least {low} items"
    if rule == "enum":
        return "one of " + ", ".join(json.dumps(v) for v in value)
    if rule == "pattern":
        return f"text matching {value}"
    if rule == "minProperties":
        return f"an object with at least {value} key{'s' if value != 1 else ''}"
    return f"valid ({error.message})"


def _named_key(error: ValidationError) -> str:
    """The key a ``required`` or ``additionalProperties`` error is about: the
    first missing one, or the first unknown one."""
    if error.validator == "required":
        return next(k for k in error.validator_value if k not in error.instance)
    return sorted(set(error.instance) - set(error.schema.get("properties", {})))[0]


def _details(error: ValidationError) -> dict[str, Any]:
    if error.validator in ("required", "additionalProperties"):
        return {"field": _named_key(error)}
    field = next((part for part in reversed(list(error.absolute_path))
                  if isinstance(part, str)), None)
    return {"field": field} if field is not None else {}


def _location(where: Iterable[Any]) -> str:
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _shorten(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 100 else text[:97] + "..."


def check_answer(response: Response) -> Response:
    """Hold an answer of the API to the document (an ``after_request`` hook of
    the test configuration): its status must be documented for the operation,
    and a JSON body must match the status's schema. Raises AssertionError."""
    if request.url_rule is None or not request.path.startswith("/api/v1/") \
            or request.method in ("OPTIONS", "HEAD"):
        return response
    operation = _operation(request.url_rule.rule, request.method)
    where = f"{request.method} {request.path} answered {response.status_code}"
    assert str(response.status_code) in operation["responses"], \
        f"{where}, which the document does not list"
    pointer = _answer_pointer(request.url_rule.rule, request.method, response.status_code)
    if pointer is None or response.is_streamed or not response.is_json:
        return response
    errors = list(_validator(pointer).iter_errors(response.get_json()))
    assert not errors, f"{where} with a body the document does not allow: " \
                       f"{message(errors[0])}"
    return response


def _answer_pointer(rule: str, method: str, status: int) -> str | None:
    """Where the schema of an answer's JSON body is in the document (a shared
    ``components/responses`` entry or the operation's own), if it has one."""
    path = document_path(rule).replace("~", "~0").replace("/", "~1")
    pointer = f"/paths/{path}/{method.lower()}/responses/{status}"
    documented = _operation(rule, method)["responses"][str(status)]
    if "$ref" in documented:
        pointer = documented["$ref"].removeprefix("#")
        name = pointer.rsplit("/", 1)[-1]
        documented = _document()["components"]["responses"][name]
    if "application/json" not in documented.get("content", {}):
        return None
    return f"{pointer}/content/application~1json/schema"
