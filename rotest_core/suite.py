"""TestSuite: a named group of test cases and suites, as in Rotest::

    class CalculatorSuite(TestSuite):
        TAGS = ["nightly"]
        components = [AdditionCase, SubtractionCase, OtherSuite]

A suite holds an instance of each case for every test method, and an
instance of each nested suite. It runs them with unittest's machinery
(setUpClass and setUpModule included) and tells the result where it
starts and ends (Rotest's composite events).

Like testresources' OptimisingTestSuite, a suite holds the testresources
managers its cases declare (``resources = [("name", manager)]``) between
cases: a clean resource is shared by consecutive cases that need it, and what
the suite holds is cleaned when it ends.
"""
from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from .case import RunContext, unique_dir
from .testresources.suite import error_without_running, needed_managers, switch_held

__all__ = ["SuiteDefinitionError", "TestSuite", "case_method_names", "iter_cases",
           "iter_units"]


class SuiteDefinitionError(TypeError):
    """A suite's ``components`` holds something that is not a test class."""


def case_method_names(case_class: type[unittest.TestCase]) -> list[str]:
    """The test methods of a case, as unittest's loader finds them."""
    names = unittest.TestLoader().getTestCaseNames(case_class)
    if not names and hasattr(case_class, "runTest"):
        return ["runTest"]
    return list(names)


class TestSuite(unittest.TestSuite):
    """A suite of ``components``: TestCase and TestSuite classes.

    Attributes:
        components: the case and suite classes, run in this order.
        TAGS: words ``-f`` filters select its tests by (with their own).
        parent: the suite this one is part of, or None.
        work_dir: its directory in the run's, set when it runs.
    """

    components: Sequence[type] = ()
    TAGS: Sequence[str] = []
    # Keep the tests after they ran (unittest drops them): reports read the tree.
    _cleanup = False
    __test__ = False  # not a pytest test class (discovery looks at subclasses)

    def __init__(self, tests: Iterable[Any] | None = None, *, parent: Any = None) -> None:
        super().__init__()
        self.parent = parent
        self.work_dir: Path | None = None
        if tests is None:
            tests = [test for component in self.components
                     for test in self._instances_of(component)]
        for test in tests:
            test.parent = self
            self.addTest(test)

    @property
    def name(self) -> str:
        return type(self).__name__

    @classmethod
    def _discoverable(cls) -> bool:
        """Whether discovery takes the class as tests of its own."""
        return bool(cls.components)

    def _instances_of(self, component: Any) -> list[Any]:
        if isinstance(component, type) and issubclass(component, TestSuite):
            return [component(parent=self)]
        if isinstance(component, type) and issubclass(component, unittest.TestCase):
            return [component(name) for name in case_method_names(component)]
        raise SuiteDefinitionError(
            f"{self.name}.components holds {component!r}: put TestCase or TestSuite "
            f"classes there (the classes, not instances)")

    def run(self, result: Any, debug: bool = False) -> Any:
        context = getattr(result, "context", None)
        if self.work_dir is None and isinstance(context, RunContext):
            parent_dir = getattr(self.parent, "work_dir", None) or context.run_dir
            self.work_dir = unique_dir(parent_dir, self.name)
        _notify(result, "startComposite", self)
        self._held: list[Any] = []  # testresources managers held between cases
        try:
            return super().run(result, debug)
        finally:
            try:
                switch_held(self._held, [], result)
            finally:
                _notify(result, "stopComposite", self)

    def _handleClassSetUp(self, test: Any, result: Any) -> None:
        # unittest's hook before every case: hold what this case needs and
        # let go of the rest.
        super()._handleClassSetUp(test, result)
        declares = _may_declare_managers(test)
        if not declares and not self._held:
            return  # the common case: no testresources at all, nothing to do
        if getattr(type(test), "_classSetupFailed", False):
            return
        needed = needed_managers(test) if declares else []
        failure = switch_held(self._held, needed, result)
        if failure is not None:
            # A resource could not be made: the case errors with that, without
            # running (unittest's loop calls it next; this run stands in once).
            def report(result: Any = None, *_: Any) -> None:
                del test.run
                error_without_running(test, failure, result)
            test.run = report

    def prune(self, keep: Callable[[unittest.TestCase], bool]) -> int:
        """Drop the cases ``keep`` rejects, and the suites left empty; returns
        how many cases are left."""
        kept = []
        for test in self._tests:
            if isinstance(test, TestSuite):
                if test.prune(keep):
                    kept.append(test)
            elif keep(test):
                kept.append(test)
        self._tests = kept
        return self.countTestCases()


#: class -> (its ``resources`` when asked, whether they hold testresources managers).
_MANAGERS: dict[type, tuple[Any, bool]] = {}


def _may_declare_managers(test: Any) -> bool:
    """Whether ``test`` may declare testresources managers (asked once per
    class, unless the instance has ``resources`` of its own)."""
    if "resources" in vars(test):
        return True
    cls = type(test)
    cached = _MANAGERS.get(cls)
    if cached is None or cached[0] is not getattr(cls, "resources", None):
        cached = _MANAGERS[cls] = (getattr(cls, "resources", None), bool(needed_managers(test)))
    return cached[1]


def iter_cases(suite: unittest.TestSuite) -> Iterator[unittest.TestCase]:
    """Every test case in a tree of suites, in running order."""
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from iter_cases(test)
        else:
            yield test


def iter_units(suite: unittest.TestSuite) -> Iterator[Any]:
    """What a run may split and re-run one by one (delta, parallel runs): the
    test cases, and the composites that run whole (``RUN_AS_UNIT``: flows)."""
    for test in suite:
        if getattr(test, "RUN_AS_UNIT", False) or not isinstance(test, unittest.TestSuite):
            yield test
        else:
            yield from iter_units(test)


def _notify(result: Any, event: str, suite: TestSuite) -> None:
    callback = getattr(result, event, None)
    if callback is not None:
        callback(suite)
