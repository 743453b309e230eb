"""What a parallel run hands out: its units, which of them may run at once,
and when the suites around them start and stop.

A unit is one top-level test of the tree: a case instance (one test method),
or a composite that runs whole (``RUN_AS_UNIT``: a flow), known to the main
process and to every worker (forked from it) by its index in running order;
a test inside a composite unit by its index path (unit, child, child...).
"""
from __future__ import annotations

import unittest
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence

from ..case import unique_dir
from ..resources.request import ResourceRequest, is_data_pointer
from ..suite import TestSuite, iter_units

__all__ = ["Plan", "Unit", "conflicts", "node_at", "nodes_of",
           "request_key"]

#: One request as a hashable value: equal keys are equal requests (same_as).
RequestKey = tuple[Any, ...]


def _value_key(value: Any) -> Hashable:
    if is_data_pointer(value):  # model fields compare by identity (same_as)
        return ("field", id(value))
    try:
        hash(value)
        return value
    except TypeError:  # a list for __in, a dict...
        return ("repr", repr(value))


def request_key(request: ResourceRequest) -> RequestKey:
    """A hashable form of one request; equal for requests that are ``same_as``."""
    return (request.name, request.type,
            tuple(sorted((k, _value_key(v)) for k, v in request.kwargs.items())))


def _might_share(first: RequestKey, second: RequestKey) -> bool:
    """Whether two requests might be granted the same resource: same model,
    unless both name different resources."""
    data_class = first[1].DATA_CLASS
    if data_class is None or data_class is not second[1].DATA_CLASS:
        return False
    name_a, name_b = dict(first[2]).get("name"), dict(second[2]).get("name")
    return not (isinstance(name_a, str) and isinstance(name_b, str) and name_a != name_b)


def conflicts(first: tuple[RequestKey, ...], second: tuple[RequestKey, ...]) -> bool:
    """Whether tests with these requests might want one resource at once (the
    second would wait for it, or fail with no wait): they never run together."""
    return any(_might_share(a, b) for a in first for b in second)


@dataclass
class Unit:
    """One top-level test of the run."""

    index: int
    test: Any
    #: Its requests (with -r applied), sorted: equal keys, equal requests.
    key: tuple[RequestKey, ...]
    #: Seconds it may take; None: no limit.
    timeout: float | None
    #: Its class, when the class has a setUpClass or tearDownClass of its own:
    #: its tests run in one worker, so that runs once, as in a serial run.
    fixture: str | None = None



@dataclass
class Plan:
    """The units of a tree and the suites around them.

    ``start_suites`` and ``finish`` keep the composite events of the tree
    serial-looking: a suite starts (outermost first) before its first unit
    and stops (innermost first) once its last unit has stopped.
    """

    root: TestSuite
    run_dir: Path
    units: list[Unit] = field(default_factory=list)
    _left: dict[int, int] = field(default_factory=dict)  # suite id -> units not done
    #: The requests behind each key (with -r applied).
    requests: dict[tuple, list[ResourceRequest]] = field(default_factory=dict)
    #: Suites started and not stopped, by id (suites compare by their tests).
    _started: dict[int, TestSuite] = field(default_factory=dict)

    @classmethod
    def of(cls, root: TestSuite, run_dir: Path,
           overrides: Mapping[str, Mapping[str, Any]] | None = None) -> "Plan":
        plan = cls(root, run_dir)
        keys: dict[type, tuple[RequestKey, ...]] = {}  # asked once per class
        for index, test in enumerate(iter_units(root)):
            if type(test) not in keys:
                requests = [_overridden(r, overrides or {})
                            for r in getattr(test, "get_resource_requests", list)()]
                keys[type(test)] = key = tuple(sorted(map(request_key, requests), key=repr))
                plan.requests[key] = requests
            plan.units.append(Unit(index, test, keys[type(test)], _timeout(test),
                                   _class_fixture(type(test))))
            for suite in _suites_of(test):
                plan._left[id(suite)] = plan._left.get(id(suite), 0) + 1
        return plan

    def capacities(self, client: Any) -> dict[tuple, int]:
        """How many tests of each key may run at once: for a test that asks
        for one resource from a pool (no name), the pool's free and usable
        members now (asked through ``client``); for any other that locks, one.
        Keys that lock nothing are left out: no limit."""
        found: dict[tuple, int] = {}
        for key, requests in self.requests.items():
            locked = [r for r in requests if not r.is_service]
            if not locked:
                continue
            found[key] = 1
            if len(locked) == 1 and not isinstance(locked[0].kwargs.get("name"), str):
                found[key] = max(1, _free_members(client, locked[0]))
        return found

    def start_suites(self, unit: Unit, start: Callable[[TestSuite], None]) -> Path:
        """Start the suites around ``unit`` not started yet, outermost first
        (each gets its work directory, as TestSuite.run gives it); returns the
        directory the unit's own goes into."""
        for suite in reversed(_suites_of(unit.test)):
            if id(suite) not in self._started and self._left[id(suite)]:
                if suite.work_dir is None:
                    parent_dir = getattr(suite.parent, "work_dir", None) or self.run_dir
                    suite.work_dir = unique_dir(parent_dir, suite.name)
                self._started[id(suite)] = suite
                start(suite)
        parent = getattr(unit.test, "parent", None)
        return getattr(parent, "work_dir", None) or self.run_dir

    def finish(self, unit: Unit, stop: Callable[[TestSuite], None]) -> None:
        """``unit`` has stopped: stop the suites it was the last of."""
        for suite in _suites_of(unit.test):
            self._left[id(suite)] -= 1
            if self._left[id(suite)] == 0 and id(suite) in self._started:
                stop(self._started.pop(id(suite)))

    def stop_started(self, stop: Callable[[TestSuite], None]) -> None:
        """The run ends early (failfast, Ctrl-C): stop the suites still open,
        innermost first."""
        while self._started:
            stop(self._started.popitem()[1])


def nodes_of(units: Sequence[Any]) -> Iterator[tuple[tuple[int, ...], Any]]:
    """Every test of the units and the tests inside them, with its index path."""
    def walk(path: tuple[int, ...], node: Any) -> Iterator[tuple[tuple[int, ...], Any]]:
        yield path, node
        if isinstance(node, unittest.TestSuite):
            for number, child in enumerate(node):
                yield from walk((*path, number), child)
    for index, unit in enumerate(units):
        yield from walk((index,), unit)


def node_at(units: Sequence[Any], path: Sequence[int]) -> Any:
    """The test at an index path (see :func:`nodes_of`)."""
    node = units[path[0]]
    for number in path[1:]:
        node = list(node)[number]
    return node


def _suites_of(test: Any) -> list[TestSuite]:
    """The suites around a test, innermost first, the root included."""
    suites, node = [], getattr(test, "parent", None)
    while node is not None:
        suites.append(node)
        node = getattr(node, "parent", None)
    return suites


def _overridden(request: ResourceRequest,
                overrides: Mapping[str, Mapping[str, Any]]) -> ResourceRequest:
    extra = overrides.get(request.name)
    if not extra:
        return request
    return ResourceRequest(request.name, request.type, **{**request.kwargs, **extra})


def _free_members(client: Any, request: ResourceRequest) -> int:
    """The resources ``request`` could be granted now; 1 if that cannot be told."""
    try:
        found = client.query(request.type.DATA_CLASS.__name__, **request.kwargs)
    except Exception:  # noqa: BLE001 - a pointer or lookup the query refuses: be safe
        return 1
    return sum(1 for data in found if data.get("is_usable", True) and not data.get("owner"))


def _class_fixture(cls: type) -> str | None:
    """The class's name if it has a class fixture of its own, else None."""
    if not issubclass(cls, unittest.TestCase):
        return None
    own = any(getattr(getattr(cls, name), "__func__", None)
              is not getattr(unittest.TestCase, name).__func__
              for name in ("setUpClass", "tearDownClass"))
    return f"{cls.__module__}.{cls.__qualname__}" if own else None


def _timeout(test: Any) -> float | None:
    seconds = getattr(test, "TIMEOUT", None)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        return None
    return float(seconds)
