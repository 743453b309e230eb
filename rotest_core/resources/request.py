"""Resource requests: ``calc = Calculator.request(name="calc")`` as a class
field of a test or of a resource."""
from __future__ import annotations

import functools

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import BaseResource


class ResourceRequest:
    """A wish for one resource of ``resource_class`` matching ``kwargs``.

    For a resource with a DATA_CLASS the kwargs are lookups sent to the lock
    engine (``name="calc"``, ``ip_address__startswith="10."``); for a service
    they are its constructor's arguments. A value may point at a field of the
    parent's data (``CalculatorData.ip_address``), resolved when the parent is
    built.
    """

    # Positional-only, so that ``Device.request(name="dev1")`` filters by name.
    def __init__(self, name: str | None, resource_class: type["BaseResource"], /,
                 **kwargs: Any) -> None:
        self.name = name
        self.type = resource_class
        self.kwargs = kwargs

    def __set_name__(self, owner: type, name: str) -> None:
        if self.name is None:
            self.name = name

    @property
    def is_service(self) -> bool:
        return self.type.DATA_CLASS is None

    def descriptor(self) -> dict[str, Any]:
        """What the lock engine is asked for."""
        return {"type": self.type.DATA_CLASS.__name__, "properties": dict(self.kwargs)}

    def resolved(self, data: Any) -> dict[str, Any]:
        """The kwargs with pointers into ``data`` (the parent's) replaced by values."""
        return {key: getattr(data, value.key) if is_data_pointer(value) else value
                for key, value in self.kwargs.items()}

    def clone(self) -> "ResourceRequest":
        return ResourceRequest(self.name, self.type, **self.kwargs)

    def same_as(self, other: "ResourceRequest") -> bool:
        """Equal requests can share a kept resource (the smart client)."""
        return (self.name == other.name and self.type is other.type
                and self.kwargs.keys() == other.kwargs.keys()
                and all(_same(value, other.kwargs[key])
                        for key, value in self.kwargs.items()))

    def __repr__(self) -> str:
        return f"ResourceRequest({self.name!r}, {self.type.__name__}, {self.kwargs!r})"


def _same(first: Any, second: Any) -> bool:
    # Model fields overload == to build SQL, so compare them by identity.
    if is_data_pointer(first) or is_data_pointer(second):
        return first is second
    return bool(first == second)


def is_data_pointer(value: Any) -> bool:
    """A model field such as ``CalculatorData.ip_address`` used as a value."""
    # Only a model module can make one, and it imports SQLAlchemy's ORM first:
    # a run whose tests use no models never imports it.
    orm = sys.modules.get("sqlalchemy.orm")
    return orm is not None and isinstance(value, orm.QueryableAttribute)


#: Modules whose classes (object, unittest's and Rotest's bases) declare no
#: requests: their many attributes need not be looked through.
_FRAMEWORK_MODULES = frozenset({"builtins", "unittest.case", "rotest_core.case",
                                "rotest_core.resources.base"})


@functools.cache
def class_requests(cls: type) -> tuple[ResourceRequest, ...]:
    """The ResourceRequest class fields of ``cls`` and its bases, base first
    (looked up once per class: the runner asks for every test)."""
    found: dict[str, ResourceRequest] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ in _FRAMEWORK_MODULES:
            continue
        for name, value in vars(klass).items():
            if isinstance(value, ResourceRequest):
                found[name] = value
    return tuple(found.values())
