"""TestFlow: blocks (and sub-flows) run in order, sharing data and resources,
as in Rotest's ``rotest.core.flow``::

    class CalculateFlow(TestFlow):
        calc = Calculator.request()
        common = {"a": 1}
        blocks = [AddBlock.params(b=2),
                  CheckBlock.params(expected=Pipe("total", formula=int)),
                  ResetBlock.params(mode=MODE_FINALLY)]

The flow locks its resources before its first component and gives them back
after its last (dirty if one failed); each is an attribute of every
component. A request whose name the component was given as a parameter is
not locked: the value given is used (a resource locked in the shell, or by
an outer flow). What its components need is checked when the flow is made: an
input nothing provides, or a parameter nothing declares, raises
:class:`FlowDefinitionError` before anything runs.

A flow is a composite in the reports (``startComposite``/``stopComposite``),
its blocks rows under it. A top-level flow is one unit for delta and
parallel runs (:data:`TestFlow.RUN_AS_UNIT`, see :func:`rotest_core.suite.iter_units`).
"""
from __future__ import annotations

import sys
import unittest
from typing import Any, Iterable, Mapping, Sequence

from .block import TestBlock
from .case import TEST_LOG, RunContext, TestCase, lock_timed, unique_dir
from .flow_component import (MODE_CRITICAL, MODE_FINALLY, MODE_NAMES, MODE_OPTIONAL,
                             OWN_PARAMETERS, PREVIOUS_FAILED_MESSAGE, BlockInput,
                             BlockOutput, FlowComponent, FlowDefinitionError, Pipe)
from .resources.request import ResourceRequest, class_requests, unpacked
from .suite import TestSuite

__all__ = ["BlockInput", "BlockOutput", "FlowDefinitionError", "MODE_CRITICAL",
           "MODE_FINALLY", "MODE_OPTIONAL", "Pipe", "TestFlow", "create_flow"]

#: Outcomes of a component, worst first.
_OUTCOMES = ("error", "failure", "success")


class TestFlow(FlowComponent, TestSuite):
    """A flow of ``blocks``: TestBlock and TestFlow classes (or their ``params(...)``).

    Attributes:
        blocks: the components, run in this order.
        common: values for the flow and every component under it.
        TAGS: words ``-f`` filters select the flow by (a flow runs whole).
        TIMEOUT: seconds the whole flow may take (enforced by the runner with ``-p``).
        resources: Rotest's old-style requests; class fields made by
            ``SomeResource.request(...)`` are requests too.
        outcome: "success", "failure" or "error" once it ran.
        report_note: which component ended it, for the reports.
    """

    blocks: Sequence[type] = ()
    TAGS: Sequence[str] = []
    TIMEOUT: float | None = 1800
    resources: Sequence[ResourceRequest] = ()
    REPORT_KIND = "flow"
    #: Never split: filters, delta and parallel runs take it or leave it whole.
    RUN_AS_UNIT = True
    failureException = AssertionError  # unittest formats the flow's own errors with it
    __test__ = False

    def __init__(self, tests: Iterable[Any] | None = None, *, parent: Any = None) -> None:
        self._name = type(self).get_name()
        self.locked_resources: dict[str, Any] = {}
        self.context: RunContext | None = None
        self.result: Any = None
        self.outcome: str | None = None
        self.report_note = ""
        #: The flow's own wait for its locks and its resources' set-up
        #: (TestCase's attributes of the same names): its blocks' are theirs.
        self.lock_wait: float | None = None
        self.setup_time: float | None = None
        # Into the run's test logs (store_state reports there); no file of its own.
        self.logger = TEST_LOG.getChild(self._name)
        self.parent = parent
        components = self._make_components() if tests is None else list(tests)
        super().__init__(components, parent=parent)
        self._init_component()
        if not isinstance(parent, TestFlow):
            validate(self)

    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> Any:
        """The run's settings and run configuration (Rotest's ``self.config``);
        None before it runs."""
        return self.context.config if self.context is not None else None

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @classmethod
    def _discoverable(cls) -> bool:
        return bool(cls.blocks)

    @classmethod
    def get_name(cls) -> str:
        """The flow's name: its class name (``params(name=...)`` renames it)."""
        return cls.__name__

    def _make_components(self) -> list[Any]:
        components, seen = [], {}
        for entry in self.blocks:
            if not (isinstance(entry, type) and issubclass(entry, (TestBlock, TestFlow))):
                raise FlowDefinitionError(
                    f"{self.name}.blocks holds {entry!r}: put TestBlock or TestFlow "
                    f"classes there (the classes, or SomeBlock.params(...))")
            component = entry(parent=self)
            # Unique names among siblings: each is its own row in the reports.
            count = seen[component.name] = seen.get(component.name, 0) + 1
            if count > 1:
                component.name = f"{component.name}-{count}"
            components.append(component)
        return components

    # --- parameters ----------------------------------------------------------

    def _init_component(self) -> None:
        self._pipes, self._parameters = {}, set()
        own = type(self).common
        if "mode" in own:
            self.mode = own["mode"]
        values = {k: v for k, v in own.items() if k not in OWN_PARAMETERS}
        FlowComponent._set_parameters(self, **values)
        # The components' own values win over their container's.
        for component in self:
            component._set_parameters(override_previous=False, **values)

    def _set_parameters(self, override_previous: bool = True, **parameters: Any) -> None:
        """Inject into the flow and every component under it."""
        super()._set_parameters(override_previous, **parameters)
        for component in self:
            component._set_parameters(override_previous, **parameters)

    def share_data(self, override_previous: bool = True, **parameters: Any) -> None:
        """Give values to the flow and every component under it."""
        self._set_parameters(override_previous, **parameters)

    @classmethod
    def get_outputs(cls) -> dict[str, BlockOutput]:
        """The outputs of the components, which the flow shares when it ends."""
        found = dict(super().get_outputs())
        for component in cls.blocks:
            if isinstance(component, type) and issubclass(component, FlowComponent):
                found.update(component.get_outputs())
        return found

    # --- resources -----------------------------------------------------------

    @classmethod
    def get_resource_requests(cls) -> list[ResourceRequest]:
        """The requests of ``resources`` and of the class fields (these win a
        name both use): locked for the whole flow."""
        found = {r.name: r for r in cls.resources}
        found.update((r.name, r) for r in class_requests(cls))
        return list(found.values())

    def requests_to_lock(self) -> list[ResourceRequest]:
        """The requests whose resource was not given as a parameter (the
        shell's shared data, ``params(dev=...)``, a resource of an outer flow)."""
        return [r for r in self.get_resource_requests() if r.name not in self._parameters]

    def request_resources(self, requests: Iterable[ResourceRequest],
                          use_previous: bool = True) -> dict[str, Any]:
        """Lock resources for the rest of the flow: attributes of the flow and
        of every component under it (a block locks for its siblings with
        ``self.parent.request_resources(...)``)."""
        overrides = self.context.resource_overrides
        requests = [r.with_filters(overrides[r.name]) if overrides.get(r.name) else r
                    for r in requests]
        if not requests:
            return {}
        got = lock_timed(self, requests, use_previous)  # the flow's wait, not its blocks'
        self.locked_resources.update(got)
        self._set_parameters(**got, **unpacked(requests, got))
        _notify(self.result, "updateResources", self, got)
        return got

    def release_resources(self, resources: Iterable[str] | Mapping[str, Any] | None = None,
                          dirty: bool = False, force_release: bool = True) -> None:
        """Give back resources the flow holds: all, or those named."""
        names = list(self.locked_resources if resources is None else resources)
        unknown = [name for name in names if name not in self.locked_resources]
        if unknown:
            raise KeyError(f"the flow {self.name} holds no resource named "
                           f"{', '.join(unknown)}; it holds "
                           f"{', '.join(self.locked_resources) or 'none'}")
        chosen = {name: self.locked_resources.pop(name) for name in names}
        if chosen:
            self.context.manager.release_resources(chosen, dirty=dirty,
                                                   force_release=force_release)

    # --- running -------------------------------------------------------------

    def run(self, result: Any, debug: bool = False) -> Any:
        context = getattr(result, "context", None)
        own_context = not isinstance(context, RunContext)
        if own_context:  # run by another runner: the blocks read the result's context
            context = result.context = RunContext.standalone()
        self.context, self.result = context, result
        self.lock_wait = self.setup_time = None
        if self.work_dir is None:
            parent_dir = getattr(self.parent, "work_dir", None) or context.run_dir
            self.work_dir = unique_dir(parent_dir, self.name)
        _notify(result, "startComposite", self)
        try:
            self._run_components(result)
        except BaseException:  # Ctrl-C in a block: what the flow holds goes back dirty
            self.outcome = "error"
            raise
        finally:
            try:
                self._release_at_end()
            finally:
                if isinstance(self.parent, TestFlow):
                    self.parent._set_parameters(**self._outputs_to_share())
                _notify(result, "stopComposite", self)
                if own_context:
                    context.close()
                    del result.context
        return result

    def _run_components(self, result: Any) -> None:
        self.outcome, self.report_note = "success", ""
        stopped_by: tuple[Any, str] | None = None
        try:
            self.request_resources(self.requests_to_lock())
        except Exception:  # noqa: BLE001 - reported as the flow's error
            result.addError(self, sys.exc_info())
            self.outcome = "error"
            self.report_note = f"{self.name} could not lock its resources"
            for component in self:
                self._skip(component, result, f"the flow {self.name} could not lock "
                                              f"its resources")
            return
        went_on = []
        for component in self:
            if stopped_by is not None and component.mode != MODE_FINALLY:
                culprit, outcome = stopped_by
                self._skip(component, result, f"{PREVIOUS_FAILED_MESSAGE}: "
                                              f"{culprit.name} ended with {_a(outcome)}")
                continue
            if result.shouldStop and component.mode != MODE_FINALLY:
                self._skip(component, result, "the run was stopped")
                continue
            outcome = _run_one(component, result)
            self.outcome = min(self.outcome, outcome, key=_OUTCOMES.index)
            if stopped_by is None and _stops(component.mode, outcome):
                stopped_by = (component, outcome)
            elif outcome != "success":
                mode = MODE_NAMES.get(component.mode, component.mode)
                went_on.append(f"{component.name} ended with {_a(outcome)}" + (
                    "" if stopped_by else f" ({mode}: the flow went on)"))
        notes = went_on
        if stopped_by is not None:
            culprit, outcome = stopped_by
            notes = [f"{culprit.name} ended the flow with {_a(outcome)}", *went_on]
        self.report_note = "; ".join(notes)

    def _skip(self, component: Any, result: Any, reason: str) -> None:
        if isinstance(component, TestFlow):
            _notify(result, "startComposite", component)
            for child in component:
                component._skip(child, result, reason)
            component.outcome, component.report_note = "success", f"skipped: {reason}"
            _notify(result, "stopComposite", component)
            return
        result.startTest(component)
        result.addSkip(component, reason)
        result.stopTest(component)

    #: TestCase's: each resource stores its state under ``<work_dir>/state``.
    store_state = TestCase.store_state
    STATE_DIR_NAME = TestCase.STATE_DIR_NAME

    def _release_at_end(self) -> None:
        if not self.locked_resources:
            return
        failed = self.outcome in ("error", "failure")
        if failed and self.context.save_state:
            self.store_state()
        self.release_resources(dirty=failed, force_release=False)

    def prune(self, keep: Any) -> int:
        """A flow runs whole: kept entire when any of its blocks is selected."""
        selected = any(keep(block) for block in _blocks(self))
        if not selected:
            self._tests = []
        return self.countTestCases()


def create_flow(blocks: Sequence[type], name: str = "AnonymousTestFlow",
                mode: int = MODE_CRITICAL, common: Mapping[str, Any] | None = None,
                **attributes: Any) -> type[TestFlow]:
    """A TestFlow class made on the spot (Rotest's ``create_flow``), e.g. a
    sub-flow in a flow's ``blocks``."""
    module = sys._getframe(1).f_globals.get("__name__", __name__)
    return type(name, (TestFlow,), {"blocks": list(blocks), "mode": mode,
                                    "common": dict(common or {}), "__module__": module,
                                    "__qualname__": name, **attributes})


# --------------------------------------------------------------------------
# Checks before anything runs

def validate(flow: TestFlow) -> None:
    """Raise FlowDefinitionError for an input nothing provides or a parameter
    nothing declares, naming the flow, the component and the field."""
    _check_parameters(flow)
    _check_inputs(flow, set(), set())


def _declares(component: Any) -> set[str]:
    # What it reads or writes: inputs, outputs, resources and the sources of its pipes.
    names = (set(component.get_inputs()) | set(component.get_outputs())
             | {request.name for request in component.get_resource_requests()}
             | {pipe.parameter_name for pipe in component._pipes.values()}
             | _fields(type(component)))
    if isinstance(component, TestFlow):
        for child in component:
            names |= _declares(child)
    return names


def _fields(cls: type) -> set[str]:
    """The user's class fields with a value (Rotest's ``optional3 = 0``, which
    ``params(optional3=5)`` overrides), not the framework's nor methods."""
    return {name for klass in cls.__mro__
            if not klass.__module__.startswith(("rotest_core.", "unittest", "builtins"))
            for name, value in vars(klass).items()
            if not name.startswith("_") and not callable(value)
            and not isinstance(value, (classmethod, staticmethod, property))
            and name not in ("blocks", "common", "components", "resources", "TAGS",
                             "inputs", "outputs")}


#: Attributes the framework sets on a component: no input or output may use one.
_FRAMEWORK_NAMES = frozenset({*dir(TestBlock), *dir(TestSuite), "parent", "context",
                              "config", "result", "logger", "locked_resources", "name",
                              "work_dir", "success_messages", "expectation_failures",
                              "outcome", "report_note"})


def _check_parameters(component: Any) -> None:
    clashes = sorted(_FRAMEWORK_NAMES & (set(component.get_inputs())
                                         | set(component.get_outputs())))
    if clashes and isinstance(component, TestBlock):
        raise FlowDefinitionError(
            f"flow {_flow_of(component)}: block {component.name} declares "
            f"{', '.join(map(repr, clashes))}, a name the block itself uses "
            f"(self.{clashes[0]}): rename the input or output")
    given = [name for name in type(component).common if name not in OWN_PARAMETERS]
    declared = _declares(component)
    for name in given:
        if name not in declared:
            where = (f"{component.name}.common (or params)"
                     if isinstance(component, TestFlow) else f"{component.name}.params")
            owner = _flow_of(component)
            raise FlowDefinitionError(
                f"flow {owner}: {where} gives {name!r}, which no component "
                f"{'under it ' if isinstance(component, TestFlow) else ''}declares: "
                f"declare it (x = BlockInput()) or remove it; declared: "
                f"{', '.join(sorted(declared)) or 'nothing'}")
    if isinstance(component, TestFlow):
        for child in component:
            _check_parameters(child)


def _check_inputs(flow: TestFlow, resources: set[str], produced: set[str]) -> set[str]:
    """Walk the flow in running order; returns what it shares when it ends."""
    resources = resources | {r.name for r in flow.get_resource_requests()}
    available = set(produced)
    for component in flow:
        if isinstance(component, TestFlow):
            available |= _check_inputs(component, resources, available)
            continue
        own = {r.name for r in component.get_resource_requests()}
        known = available | resources | own | component._parameters
        for name, declared in component.get_inputs().items():
            pipe = component._pipes.get(name)
            source = pipe.parameter_name if pipe is not None else name
            if source in known or (pipe is None and declared.is_optional()):
                continue
            via = f" (piped from {source!r})" if pipe is not None else ""
            raise FlowDefinitionError(
                f"flow {_flow_of(component)}: block {component.name} needs input "
                f"{name!r}{via}, which nothing provides: give it in the flow's common, "
                f"with {component.name}.params({source}=...), as a resource of the "
                f"flow, or as a BlockOutput of an earlier block")
        available |= {pipe.parameter_name if (pipe := component._pipes.get(out)) else out
                      for out in component.get_outputs()}
    return available


def _flow_of(component: Any) -> str:
    """The path of flows down to the component's, e.g. ``Outer/Inner``."""
    names, node = [], component if isinstance(component, TestFlow) else component.parent
    while isinstance(node, TestFlow):
        names.append(node.name)
        node = node.parent
    return "/".join(reversed(names))


# --------------------------------------------------------------------------

def _run_one(component: Any, result: Any) -> str:
    """Run a component; its outcome, from what the result got meanwhile."""
    errors, failures = len(result.errors), len(result.failures)
    unexpected = len(getattr(result, "unexpectedSuccesses", ()))
    component(result)
    if len(result.errors) > errors:
        return "error"
    if (len(result.failures) > failures
            or len(getattr(result, "unexpectedSuccesses", ())) > unexpected):
        return "failure"
    return "success"


def _stops(mode: int, outcome: str) -> bool:
    if mode == MODE_OPTIONAL:
        return outcome == "error"
    return outcome in ("error", "failure")


def _a(outcome: str) -> str:
    return "an error" if outcome == "error" else f"a {outcome}"


def _blocks(flow: TestFlow) -> Iterable[unittest.TestCase]:
    for component in flow:
        if isinstance(component, TestFlow):
            yield from _blocks(component)
        else:
            yield component


def _notify(result: Any, event: str, *args: Any) -> None:
    callback = getattr(result, event, None)
    if callback is not None:
        callback(*args)
