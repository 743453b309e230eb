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

    #: ``unpack()``: the resource's sub-resources become attributes of the test
    #: too; 0 no, 1 its own, -1 theirs as well (recursive).
    unpack_depth = 0

    # Positional-only, so that ``Device.request(name="dev1")`` filters by name.
    # Both may be left out by an adapter, which chooses its class per run.
    def __init__(self, name: str | None = None,
                 resource_class: type["BaseResource"] | None = None, /,
                 **kwargs: Any) -> None:
        self.name = name
        self.type = resource_class
        self.kwargs = kwargs

    def get_type(self, config: Any) -> type["BaseResource"]:
        """The resource class to lock for a run with ``config`` (its settings
        and run configuration). A resource adapter (Rotest's) overrides it to
        choose by the run::

            class CalculatorAdapter(ResourceRequest):
                def get_type(self, config):
                    return Calculator if config.project == "A" else OtherCalculator
        """
        if self.type is None:
            raise TypeError(f"request {self.name!r} names no resource class: give one, "
                            f"or override get_type(self, config) (a resource adapter)")
        return self.type

    @property
    def is_adapter(self) -> bool:
        """Whether the class is chosen per run (``get_type`` is overridden)."""
        return type(self).get_type is not ResourceRequest.get_type

    def adapt(self, config: Any) -> None:
        """Fix the resource class for this run: an adapter's choice."""
        if self.is_adapter:
            chosen = self.get_type(config)
            if not (isinstance(chosen, type) and hasattr(chosen, "DATA_CLASS")):
                raise TypeError(f"{type(self).__name__}.get_type gave {chosen!r} for "
                                f"{self.name!r}: it must return a BaseResource subclass")
            self.type = chosen

    def unpack(self, recursive: bool = False) -> "ResourceRequest":
        """Rotest's ``Calculator.request().unpack()``: the sub-resources (and
        services) of the resource also become attributes of the test, by their
        names in the resource (``self.sub_process`` beside ``self.calc``);
        theirs too when ``recursive``. Returns the request."""
        self.unpack_depth = -1 if recursive else 1
        return self

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
        return {key: _resolve(value, data) if is_data_pointer(value) else value
                for key, value in self.kwargs.items()}

    def clone(self) -> "ResourceRequest":
        twin = ResourceRequest(self.name, self.type, **self.kwargs)
        twin.unpack_depth = self.unpack_depth
        return twin

    def with_filters(self, extra: dict[str, Any]) -> "ResourceRequest":
        """A copy whose kwargs ``extra`` overrides (``-r calc=calc2``)."""
        twin = self.clone()
        twin.kwargs = {**self.kwargs, **extra}
        return twin

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


class DataPointer:
    """A value taken from the parent resource's data (or a service parent's
    parameters) when the parent is built, as in Rotest::

        class Calculator(BaseResource):
            DATA_CLASS = CalculatorData
            process = SubProcess.request(process_id=DataPointer("process_id"))
            port = Port.request(number=DataPointer("sub_process").port)  # chained

    A model field (``CalculatorData.process_id``) does the same where there is
    a model; a service has none, hence this.
    """

    __slots__ = ("_field", "_path")

    def __init__(self, field: str, _path: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "_field", field)
        object.__setattr__(self, "_path", _path)

    def __getattr__(self, name: str) -> "DataPointer":
        if name.startswith("_"):  # copy, pickle and friends look for these
            raise AttributeError(name)
        return DataPointer(self._field, (*self._path, name))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a DataPointer is read-only")

    def __reduce__(self) -> tuple[Any, ...]:
        return DataPointer, (self._field, self._path)

    def resolve(self, data: Any) -> Any:
        """The value in ``data``: its field, then each attribute of the chain."""
        value = getattr(data, self._field)
        for name in self._path:
            value = getattr(value, name)
        return value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataPointer) and (self._field, self._path) == (
            other._field, other._path)

    def __hash__(self) -> int:
        return hash((self._field, self._path))

    def __repr__(self) -> str:
        return f"DataPointer({self._field!r})" + "".join(f".{name}" for name in self._path)


def is_data_pointer(value: Any) -> bool:
    """A DataPointer, or a model field such as ``CalculatorData.ip_address``
    used as a value."""
    if isinstance(value, DataPointer):
        return True
    # Only a model module can make one, and it imports SQLAlchemy's ORM first:
    # a run whose tests use no models never imports it.
    orm = sys.modules.get("sqlalchemy.orm")
    return orm is not None and isinstance(value, orm.QueryableAttribute)


def _resolve(pointer: Any, data: Any) -> Any:
    if isinstance(pointer, DataPointer):
        return pointer.resolve(data)
    return getattr(data, pointer.key)


def unpacked(requests: Any, got: dict[str, Any]) -> dict[str, Any]:
    """The sub-resources that unpacked requests add to ``got``, by their
    names in their parents (a name the test already uses is left alone)."""
    found: dict[str, Any] = {}

    def add(resource: Any, depth: int) -> None:
        for sub in class_requests(type(resource)):
            child = getattr(resource, sub.name, None)
            if sub.name not in got and sub.name not in found:
                found[sub.name] = child
            if child is not None and depth != 1:
                add(child, depth - 1)

    for request in requests:
        resource = got.get(request.name)
        if request.unpack_depth and resource is not None:
            add(resource, request.unpack_depth)
    return found


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
