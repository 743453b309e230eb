"""A suite that orders its tests to share resources, and holds them between
tests so that a resource kept is not remade."""
from __future__ import annotations

import sys
import unittest
from types import TracebackType
from typing import Any, Iterable

from ..order import Cost, Usage, optimise_order
from .managers import TestResourceManager, neededResources

__all__ = ["OptimisingTestSuite", "TestLoader", "error_without_running", "manager_usage",
           "needed_managers", "split_by_resources", "switch_held"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType]


class OptimisingTestSuite(unittest.TestSuite):
    """Runs its tests in the order that costs least to set up, reset and tear
    down their resources (rotest_core.order), holding between two tests what
    both need, and releasing everything at the end.

    Added unittest TestSuites are flattened; other suite classes are
    distributed: ``Custom([a, b])`` is added as ``Custom([a])``, ``Custom([b])``.
    A resource that fails to be made errors the test that needed it; the
    other tests run.
    """

    known_suite_classes: tuple[type, ...] = ()

    def addTest(self, test: Any) -> None:
        try:
            members = iter(test)
        except TypeError:
            super().addTest(test)
            return
        if type(test) in self.known_suite_classes:
            for member in members:
                self.addTest(member)
        else:
            for member in members:
                super().addTest(type(test)([member]))

    def adsorbSuite(self, test_case_or_suite: Any) -> None:
        """Deprecated in testresources: addTest."""
        self.addTest(test_case_or_suite)

    def sortTests(self) -> None:
        """Order the tests to minimise the resource costs (stable: tests that
        need the same resources keep their order)."""
        # Managers become numbers in the order tests declare them, so that the
        # order depends on nothing like id() or the hash seed.
        number: dict[Any, int] = {}
        known: dict[tuple, Usage] = {}  # tests of a class declare alike: work once per kind
        usages = []
        for test in self._tests:
            kind = (tuple(_declared(test)), tuple(getattr(test, "dirtiedResources", ())))
            if kind not in known:
                needed, dirty = manager_usage(test)
                for manager in needed:
                    number.setdefault(manager, len(number))
                known[kind] = Usage(frozenset(number[manager] for manager in needed),
                                    frozenset(number[manager] for manager in dirty))
            usages.append(known[kind])
        costs = {index: manager_cost(manager) for manager, index in number.items()}
        order = optimise_order(usages, costs)
        # As testresources does: the tests that need nothing run last (they
        # cost nothing anywhere, and go after everything is cleaned).
        order = ([index for index in order if usages[index].needs]
                 + [index for index in order if not usages[index].needs])
        self._tests = [self._tests[index] for index in order]

    def cost_of_switching(self, old_resource_set: set[Any], new_resource_set: set[Any]
                          ) -> float:
        """testresources' cost of going from one set of managers to another:
        the set-up of those added and the tear-down of those dropped."""
        return (sum(manager.setUpCost for manager in new_resource_set - old_resource_set)
                + sum(manager.tearDownCost
                      for manager in old_resource_set - new_resource_set))

    def run(self, result: unittest.TestResult, debug: bool = False) -> unittest.TestResult:
        self.sortTests()
        held: list[TestResourceManager] = []  # what the suite holds, in the order got
        try:
            for test in self._tests:
                if result.shouldStop:
                    break
                failure = switch_held(held, needed_managers(test), result)
                if failure is None:
                    test(result)
                else:
                    error_without_running(test, failure, result)
        finally:
            switch_held(held, [], result)
        return result


OptimisingTestSuite.known_suite_classes = (unittest.TestSuite, OptimisingTestSuite)


class TestLoader(unittest.TestLoader):
    """A loader whose suites are OptimisingTestSuites."""

    __test__ = False  # not a test class, whatever pytest thinks of the name
    suiteClass = OptimisingTestSuite


class _ResourceProblem:
    """Stands for a resource in result.addError when cleaning it fails
    between tests (as unittest's _ErrorHolder does for tearDownClass)."""

    failureException = AssertionError  # read by TestResult to format the traceback

    def __init__(self, description: str) -> None:
        self.description = description

    def id(self) -> str:
        return self.description

    def shortDescription(self) -> None:
        return None

    def countTestCases(self) -> int:
        return 0

    def __str__(self) -> str:
        return self.description


def error_without_running(test: Any, failure: ExcInfo, result: Any) -> None:
    """Report ``failure`` (a resource that could not be made) as ``test``'s
    error, without running it."""
    if not isinstance(test, unittest.TestCase):
        test(result)  # a distributed suite: its test fails to set up and says so
        return
    result.startTest(test)
    result.addError(test, failure)
    result.stopTest(test)


def switch_held(held: list[TestResourceManager], needed: list[TestResourceManager],
                result: Any) -> ExcInfo | None:
    """Give back what ``held`` has and ``needed`` lacks (last first), then
    get what is missing (dependencies first). If a get fails, return its
    exception; what was got before stays in held. (OptimisingTestSuite and
    rotest's TestSuite hold resources between tests with it.)"""
    for manager in reversed(list(held)):
        if manager not in needed:
            held.remove(manager)
            try:
                manager.finishedWith(manager._currentResource, result)
            except Exception:  # noqa: BLE001 - reported, and the run goes on
                result.addError(_ResourceProblem(f"clean {manager.id()}"), sys.exc_info())
    for manager in needed:
        if manager not in held:
            try:
                manager._hold(result)
            except Exception:  # noqa: BLE001 - the test's error, reported by the caller
                return sys.exc_info()
            held.append(manager)
    return None


def _declared(test: Any) -> list[tuple[str, TestResourceManager]]:
    """The test's ``(name, manager)`` pairs; rotest's TestCase has a
    ``resources`` attribute too, of ResourceRequests, which are left out."""
    return [entry for entry in getattr(test, "resources", None) or ()
            if isinstance(entry, tuple) and len(entry) == 2
            and isinstance(entry[1], TestResourceManager)]


def needed_managers(test: Any) -> list[TestResourceManager]:
    """The managers ``test`` declares, with their dependencies, dependencies first."""
    return neededResources([manager for _, manager in _declared(test)])



def split_by_resources(tests: Iterable[Any]) -> dict[frozenset[TestResourceManager], list[Any]]:
    """testresources' grouping: the tests by the set of managers they need
    (dependencies included), in their order; the empty set is always a key."""
    groups: dict[frozenset[TestResourceManager], list[Any]] = {frozenset(): []}
    for test in tests:
        groups.setdefault(frozenset(needed_managers(test)), []).append(test)
    return groups


def manager_usage(test: Any) -> tuple[list[TestResourceManager], set[TestResourceManager]]:
    """What the optimiser sees of a test: its resources with their
    dependencies, and those it dirties (always-dirty ones, the names in its
    ``dirtiedResources``, and whatever depends on a dirty one: a manager is
    dirty when a dependency is)."""
    needed = needed_managers(test)
    named = dict(_declared(test))
    dirty = {named[name] for name in getattr(test, "dirtiedResources", ()) if name in named}
    for manager in needed:  # dependencies first: one pass closes upwards
        if getattr(manager, "alwaysDirty", False) or any(
                dependency in dirty for _, dependency in manager.resources):
            dirty.add(manager)
    return needed, dirty


def manager_cost(manager: Any) -> Cost:
    """What the optimiser is told a manager costs."""
    return Cost(getattr(manager, "setUpCost", 1), getattr(manager, "tearDownCost", 1),
                getattr(manager, "resetCost", None))
