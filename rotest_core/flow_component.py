"""What blocks and flows share, as in Rotest's ``rotest.core.flow_component``:
modes, inputs and outputs, pipes, ``common`` and ``params``.

Values reach a component in one of four ways, later ones winning:

1. ``common`` of the flows around it (an inner flow's over an outer one's),
2. its own ``common``, and ``params(...)`` (which override ``common``),
3. the resources its flows lock (set as attributes on every component),
4. ``share_data(...)`` and the outputs of earlier blocks, at run time.
"""
from __future__ import annotations

from typing import Any, Callable

from .suite import SuiteDefinitionError

__all__ = ["BlockInput", "BlockOutput", "FlowComponent", "FlowDefinitionError",
           "MODE_CRITICAL", "MODE_FINALLY", "MODE_OPTIONAL", "Pipe", "PipeTo",
           "PREVIOUS_FAILED_MESSAGE"]

# Rotest's values: range(1, 4).
#: A failure or an error skips the following components (but MODE_FINALLY ones).
MODE_CRITICAL = 1
#: Always runs; its failure or error skips the following (non-finally) ones.
MODE_FINALLY = 2
#: Only an error skips the following components; a failure lets the flow go on.
MODE_OPTIONAL = 3
MODE_NAMES = {MODE_CRITICAL: "critical", MODE_FINALLY: "finally", MODE_OPTIONAL: "optional"}

PREVIOUS_FAILED_MESSAGE = "Previous component failed"
#: Parameters that configure the component itself and are never passed down.
OWN_PARAMETERS = frozenset({"mode", "name"})


class FlowDefinitionError(SuiteDefinitionError):
    """A flow that cannot run as written: an input nothing provides, a
    parameter nothing declares, a component that is not a block or a flow."""


class Pipe:
    """A value taken from another parameter, optionally through a formula::

        AddBlock.params(a=Pipe("total"), b=Pipe("total", formula=lambda t: t * 2))

    On an output, the output is shared under the pipe's name instead::

        AddBlock.params(total=Pipe("first_total"))
    """

    def __init__(self, parameter_name: str, formula: Callable[[Any], Any] | None = None) -> None:
        self.parameter_name = parameter_name
        self.formula = formula

    def get_value(self, value: Any) -> Any:
        """``value`` through the formula, if there is one."""
        return value if self.formula is None else self.formula(value)

    def __repr__(self) -> str:
        formula = ", formula=..." if self.formula is not None else ""
        return f"Pipe({self.parameter_name!r}{formula})"


#: Rotest's older name.
PipeTo = Pipe


class BlockInput:
    """A field a block needs; a ``default`` makes it optional."""

    def __init__(self, default: Any = NotImplemented) -> None:
        self.default = default

    def is_optional(self) -> bool:
        return self.default is not NotImplemented


class BlockOutput:
    """A field a block sets (``self.field = value``) and shares with its flow
    and the components after it when its test method ends well."""


def _declared(cls: type, kind: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        found.update((name, value) for name, value in vars(klass).items()
                     if isinstance(value, kind))
    return found


def _listed(cls: type, attribute: str) -> tuple[str, ...]:
    """The names of Rotest's older ``inputs``/``outputs`` tuple, if the class has one."""
    names = getattr(cls, attribute, ())
    if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
        raise FlowDefinitionError(
            f"{cls.__name__}.{attribute} must be a tuple of names, e.g. "
            f"{attribute} = ('field', 'other_field'), not {names!r}; or declare "
            f"each as a field (x = Block{attribute[:-1].capitalize()}())")
    return tuple(names)


class FlowComponent:
    """The part of Rotest's AbstractFlowComponent both blocks and flows have.

    Attributes:
        common: values for this component (and, for a flow, all under it).
        mode: MODE_CRITICAL, MODE_OPTIONAL or MODE_FINALLY.
    """

    common: dict[str, Any] = {}
    mode: int = MODE_CRITICAL
    #: The class ``params`` was called on (parametrized classes are subclasses).
    _parametrized_from: type | None = None

    def _init_component(self) -> None:
        self._pipes: dict[str, Pipe] = {}
        self._parameters: set[str] = set()
        own = type(self).common
        if "mode" in own:
            self.mode = own["mode"]
        self._set_parameters(**{k: v for k, v in own.items() if k not in OWN_PARAMETERS})

    @classmethod
    def parametrize(cls, **parameters: Any) -> type:
        """A subclass with ``parameters`` over ``common`` (Rotest: the
        component is made when its flow is; ``name=`` renames it)."""
        common = {**cls.common, **parameters}
        name = common.get("name", cls.__name__)
        return type(name, (cls,), {"common": common, "__doc__": cls.__doc__,
                                   "__module__": cls.__module__, "__qualname__": name,
                                   "_parametrized_from": cls._parametrized_from or cls})

    params = parametrize

    @classmethod
    def get_inputs(cls) -> dict[str, BlockInput]:
        """The declared inputs, by name: ``x = BlockInput()`` fields, and the
        names of Rotest's older ``inputs = ("x", "y")`` (optional when the
        class has a value of that name: its default)."""
        found = _declared(cls, BlockInput)
        for name in _listed(cls, "inputs"):
            found.setdefault(name, BlockInput(default=getattr(cls, name, NotImplemented)))
        return found

    @classmethod
    def get_outputs(cls) -> dict[str, BlockOutput]:
        """The declared outputs, by name: ``x = BlockOutput()`` fields, and the
        names of Rotest's older ``outputs = ("x",)``."""
        found = _declared(cls, BlockOutput)
        for name in _listed(cls, "outputs"):
            found.setdefault(name, BlockOutput())
        return found

    def _set_parameters(self, override_previous: bool = True, **parameters: Any) -> None:
        """Inject values (and pipes) into the component; without
        ``override_previous`` a value it already has is kept."""
        for name, value in parameters.items():
            if not override_previous and (name in self._parameters or name in self._pipes):
                continue
            if isinstance(value, Pipe):
                self._pipes[name] = value
            else:
                self._parameters.add(name)
                setattr(self, name, value)

    def share_data(self, override_previous: bool = True, **parameters: Any) -> None:
        """Give values to the parent flow and every component under it
        (Rotest's way for a block to pass data on)."""
        target = self.parent if isinstance(self.parent, FlowComponent) else self
        target._set_parameters(override_previous=override_previous, **parameters)

    def _outputs_to_share(self) -> dict[str, Any]:
        """The declared outputs the component has, under their shared names."""
        shared = {}
        for name in self.get_outputs():
            if name not in vars(self):
                continue
            value, pipe = getattr(self, name), self._pipes.get(name)
            if pipe is not None:
                shared[pipe.parameter_name] = pipe.get_value(value)
            else:
                shared[name] = value
        return shared
