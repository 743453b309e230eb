"""Resource descriptors: a model type plus filters, as clients send them.

``{"type": "CalculatorData", "properties": {"name": "calc"}}``; the type may
also be given as a dotted path ending in the class name (Rotest sends
``module.ClassName``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, select

from ..models import ResourceData, resource_models
from .errors import InvalidRequest
from .lookups import OPEN, Rules, build_filter

MAX_DESCRIPTORS = 100


def model_for(type_name: Any) -> type[ResourceData]:
    """The resource model a type name (or dotted path) names."""
    if not isinstance(type_name, str) or not type_name:
        raise InvalidRequest("a descriptor needs a 'type': the resource model's name",
                             got=repr(type_name)[:100])
    models = resource_models()
    model = models.get(type_name) or models.get(type_name.rsplit(".", 1)[-1])
    if model is None:
        raise InvalidRequest(f"unknown resource type {type_name!r}; is its plugin "
                             f"configured?", type=type_name, known=sorted(models))
    return model


@dataclass(frozen=True)
class Descriptor:
    """One wanted resource: any ``model`` row matching ``filters``."""

    model: type[ResourceData]
    filters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, rules: Rules = OPEN) -> "Descriptor":
        """A descriptor from a client's JSON, its filters checked by ``rules``."""
        if not isinstance(raw, dict):
            raise InvalidRequest("a descriptor is an object with 'type' and 'properties'",
                                 got=type(raw).__name__)
        unknown = set(raw) - {"type", "properties"}
        if unknown:
            raise InvalidRequest(f"unknown descriptor keys: {sorted(unknown)}")
        filters = raw.get("properties") or {}
        descriptor = cls(model_for(raw.get("type")), dict(filters)
                         if isinstance(filters, dict) else filters)
        descriptor.condition(rules)  # validate every field and value now
        return descriptor

    def condition(self, rules: Rules = OPEN) -> ColumnElement:
        return build_filter(self.model, self.filters, rules)

    def select(self, rules: Rules = OPEN) -> Select:
        return select(self.model).where(self.condition(rules)).order_by(self.model.id)

    def encode(self) -> dict[str, Any]:
        return {"type": self.model.__name__, "properties": self.filters}

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.filters.items())
        return f"{self.model.__name__}({shown})"


def parse_all(raw: Any, rules: Rules = OPEN) -> list[Descriptor]:
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("'descriptors' must be a non-empty list")
    if len(raw) > MAX_DESCRIPTORS:
        raise InvalidRequest(f"at most {MAX_DESCRIPTORS} descriptors in one request")
    return [Descriptor.parse(item, rules) for item in raw]
