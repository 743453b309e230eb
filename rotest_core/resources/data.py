"""A resource's data on the client: the server's JSON, read like a model.

``calc.data.ip_address``, ``calc.data.sub_process.name`` and
``calc.data["comment"]`` all work, so code written against Rotest's model
instances keeps working.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping


class ResourceView(Mapping[str, Any]):
    """Read-only attribute access over one resource's fields."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_fields", {
            key: ResourceView(value) if _is_resource(value) else value
            for key, value in fields.items()})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"resource data has no field {name!r}; it has "
                                 f"{sorted(self._fields)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("resource data is read-only; change it with "
                             "update_fields (or in the admin site)")

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"{self._fields.get('type', 'Resource')}({self._fields.get('name')!r})"


def _is_resource(value: Any) -> bool:
    return isinstance(value, Mapping) and "type" in value and "name" in value
