"""``rotest run --shard K/N``: one of N disjoint parts of a run's tests.

The split works on *units*, what must run in one process and so in one
shard:

- a test case (one test method), or a composite that runs whole (a flow);
- every case of a class with its own ``setUpClass``/``tearDownClass``, and
  every case of a module with ``setUpModule``/``tearDownModule``: one unit,
  so a fixture runs in one shard only, as in an unsharded run;
- the cases of one suite that share a testresources manager (its set-up is
  made once and held between them by the suite, as the optimiser arranges):
  one unit, so the set-up is not paid in several shards.

Rotest resource requests do not join tests: each shard locks its own
resources from the store, and two shards that want the same one wait in the
server's queue as any two clients do.

:func:`split` gives each unit a shard: longest-processing-time first (the
heaviest unit to the lightest shard), ties broken by the units' names, so the
same units and weights give the same split on every host. The weights are
expected seconds (:mod:`rotest_core.shard_plan` reads them from the history)
or, without history, the units' test counts.
"""
from __future__ import annotations

import heapq
import re
import sys
import unittest
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from .result import test_path
from .suite import TestSuite, iter_cases, iter_units

__all__ = ["Shard", "ShardError", "ShardUnit", "parse_shard", "select_shard",
           "shard_units", "split", "split_units"]

SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


class ShardError(ValueError):
    """A bad ``--shard`` or a split that cannot be made; the message says what
    to do."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"2/4"`` -> Shard(2, 4); raises ShardError on anything else
    (``0/4``, ``5/4``, ``x``)."""
    match = SHARD.fullmatch(text or "")
    if match is None:
        raise ShardError(f"bad --shard {text!r}: give K/N, this run's shard K of N, "
                         f"e.g. --shard 2/4 (K from 1 to N)")
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise ShardError(f"bad --shard {text!r}: N, the number of shards, must be 1 "
                         f"or more, e.g. --shard 1/4")
    if not 1 <= index <= count:
        raise ShardError(f"bad --shard {text!r}: K must be from 1 to {count} "
                         f"(shards are numbered from 1), e.g. --shard 1/{count}")
    return Shard(index, count)


@dataclass
class ShardUnit:
    """Tests that go to one shard together."""

    #: The smallest path of its tests: its name, the same on every host.
    name: str
    #: The top-level tests it holds (cases and flows, as :func:`iter_units` gives).
    tests: list[Any] = field(default_factory=list)
    #: The paths of its tests, and of the leaves inside its flows (the
    #: history's durations are by leaf path).
    paths: list[str] = field(default_factory=list)
    leaf_paths: list[str] = field(default_factory=list)

    def weight(self, seconds: Mapping[str, float], default: float) -> float:
        """Its expected seconds: its leaves' from ``seconds``, ``default``
        for a leaf with none (summed in path order: the same float everywhere)."""
        return sum(seconds.get(path, default) for path in sorted(self.leaf_paths))


def shard_units(root: TestSuite) -> list[ShardUnit]:
    """The tree's units (see the module's doc), sorted by name."""
    tests = list(iter_units(root))
    parent = list(range(len(tests)))

    def find(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_of: dict[Any, int] = {}
    managers = _ManagerCache()
    for index, test in enumerate(tests):
        for key in _ties(test, managers):
            if key in first_of:
                parent[find(index)] = find(first_of[key])
            else:
                first_of[key] = index
    units: dict[int, ShardUnit] = {}
    for index, test in enumerate(tests):
        unit = units.setdefault(find(index), ShardUnit(""))
        unit.tests.append(test)
        unit.paths.append(test_path(test))
        unit.leaf_paths += ([test_path(case) for case in iter_cases(test)]
                            if isinstance(test, unittest.TestSuite) else [unit.paths[-1]])
    for unit in units.values():
        unit.name = min(unit.paths)
    return sorted(units.values(), key=lambda unit: unit.name)


def split(weights: Sequence[float], names: Sequence[str], count: int,
          sizes: Sequence[int] | None = None) -> list[int]:
    """The shard (0-based) of each unit: longest-processing-time first, each
    unit to the least loaded shard, the units taken by weight, heaviest
    first, then by name. Among shards of equal load the one with the fewest
    tests (``sizes``: each unit's, default 1) wins, then the lowest number,
    so weights of zero (tests too fast to time) still spread by count.
    Deterministic."""
    if count < 1:
        raise ShardError("the number of shards must be 1 or more")
    sizes = sizes if sizes is not None else [1] * len(weights)
    order = sorted(range(len(weights)), key=lambda i: (-weights[i], names[i]))
    # A heap of (load, tests, shard number): the least loaded shard first.
    loads = [(0.0, 0, shard) for shard in range(count)]
    assigned = [0] * len(weights)
    for index in order:
        load, tests, shard = heapq.heappop(loads)
        assigned[index] = shard
        heapq.heappush(loads, (load + weights[index], tests + sizes[index], shard))
    return assigned


def split_units(units: Sequence[ShardUnit], weights: Sequence[float],
                count: int) -> list[int]:
    """:func:`split` of ``units`` by ``weights``, as ``rotest run --shard``
    makes it: names and test counts from the units."""
    return split(weights, [unit.name for unit in units], count,
                 [len(unit.leaf_paths) for unit in units])


def select_shard(root: TestSuite, units: Sequence[ShardUnit], assigned: Sequence[int],
                 shard: Shard) -> int:
    """Keep in ``root`` the tests of shard ``shard`` only; returns how many
    test cases are left."""
    keep = {id(test) for unit, number in zip(units, assigned)
            if number == shard.index - 1 for test in unit.tests}
    return _prune_units(root, lambda test: id(test) in keep)


def _prune_units(suite: TestSuite, keep: Callable[[Any], bool]) -> int:
    """Like TestSuite.prune, but a composite that runs whole is kept or
    dropped whole (its blocks are not asked one by one)."""
    kept = []
    for test in suite._tests:
        if getattr(test, "RUN_AS_UNIT", False) or not isinstance(test, TestSuite):
            if keep(test):
                kept.append(test)
        elif _prune_units(test, keep):
            kept.append(test)
    suite._tests = kept
    return suite.countTestCases()


# --- what ties tests together ----------------------------------------------

def _ties(test: Any, managers: "_ManagerCache") -> Iterable[Any]:
    """The keys that join ``test`` to other tests with the same key."""
    if not isinstance(test, unittest.TestCase):
        return ()  # a flow: one unit already
    keys: list[Any] = []
    cls = type(test)
    module = sys.modules.get(cls.__module__)
    if any(hasattr(module, name) for name in ("setUpModule", "tearDownModule")):
        keys.append(("module", cls.__module__))
    plain = unittest.TestCase.__dict__
    if any(getattr(getattr(cls, name), "__func__", None) is not plain[name].__func__
           for name in ("setUpClass", "tearDownClass")):
        keys.append(("class", cls.__module__, cls.__qualname__))
    suite = getattr(test, "parent", None)
    keys += [("manager", id(suite), id(manager)) for manager in managers.of(test)]
    return keys


class _ManagerCache:
    """The testresources managers each case needs, asked once per class
    unless an instance declares its own (as the optimiser does)."""

    def __init__(self) -> None:
        self.by_class: dict[type, list[Any]] = {}

    def of(self, test: unittest.TestCase) -> list[Any]:
        # Only now: most trees have no testresources managers at all.
        from .testresources.suite import needed_managers
        if "resources" in vars(test):
            return needed_managers(test)
        cls = type(test)
        if cls not in self.by_class:
            self.by_class[cls] = needed_managers(test)
        return self.by_class[cls]
