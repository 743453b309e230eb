"""Arranging a run's tree before it runs: ``-O`` priorities, then the optimiser.

``rotest run`` reorders inside each suite's children, never across suites:

1. ``-O "EXPR1, EXPR2"``: filter expressions (as ``-f`` takes them) in
   priority order, separated by commas. In every suite, the children whose
   tests match EXPR1 come first, then those matching EXPR2, then the rest; a
   nested suite ranks by its best test. The sort is stable.
2. The optimiser (:func:`rotest_core.order.optimise_order`, off with
   ``--keep-order``) then orders each priority group to set up, reset and
   tear down as little as possible: rotest resource requests (two equal
   requests share the resource the smart client kept) and testresources
   managers (``resources = [("name", manager)]``). It never moves a test
   across a priority boundary.

What never moves (relative to its neighbours) under the optimiser:

- anything, when moving it saves nothing: a stretch keeps its declared
  order unless the optimiser's costs less;
- a nested suite (or any child that is not a test case, e.g. a flow): a
  fixed point; the optimiser orders the stretches between them;
- the cases of a class with its own ``setUpClass``/``tearDownClass``, or of a
  module with ``setUpModule``/``tearDownModule``: consecutive ones move as one
  block, so reordering never runs a class or module fixture more often than
  the declared order does.

The cost of a rotest resource is read from its class like testresources'
managers: ``setUpCost``, ``tearDownCost`` (default 1) and ``resetCost``.
"""
from __future__ import annotations

import sys
import unittest
from collections.abc import Callable, Hashable, Sequence
from itertools import pairwise
from math import inf
from typing import TYPE_CHECKING, Any

from .order import Cost, Usage, optimise_order, total_cost
from .suite import TestSuite, iter_cases
from .testresources.suite import manager_cost, manager_usage

if TYPE_CHECKING:
    from .filters import Expression

__all__ = ["arrange", "parse_order"]

Rank = Callable[[unittest.TestCase], int]


def parse_order(text: str) -> list[Expression]:
    """``"smoke, calc and not slow"`` -> one expression per priority, first
    first. Commas inside quotes belong to the word. Raises ValueError
    (FilterSyntaxError for a bad expression) saying what to fix."""
    parts, current, quote = [], "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ",":
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    for number, part in enumerate(parts, 1):
        if not part.strip():
            raise ValueError(f"priority {number} of {text!r} is empty: give filter "
                             f"expressions separated by commas, e.g. 'smoke, calc'")
    from .filters import parse_filter  # only when -O is given
    return [parse_filter(part) for part in parts]


def order_rank(expressions: Sequence[Expression],
               names: Callable[[Any], list[str]]) -> Rank:
    """A case's priority: the index of the first expression it matches, or
    ``len(expressions)`` (after all that match)."""
    def rank(case: unittest.TestCase) -> int:
        case_names = names(case)
        return next((index for index, expression in enumerate(expressions)
                     if expression.matches(case_names)), len(expressions))
    return rank


def arrange(root: TestSuite, rank: Rank | None = None, optimise: bool = True) -> None:
    """Reorder the children of every suite of the tree, in place: by
    ``rank`` (lower first, stable), then, if ``optimise``, to share resources
    inside each rank. Deterministic: the same tree gives the same order."""
    keys = _Keys()
    optimise = optimise and _wants_resources(root, keys)
    if rank is None and not optimise:
        return  # the common case of plain tests: nothing to do, at no cost
    for suite in _suites(root):
        units = _units(list(suite._tests))
        # A child with no case to see ranks last (with what matches nothing).
        ranks = [min(map(rank, _cases(unit)), default=inf) if rank else 0 for unit in units]
        order = sorted(range(len(units)), key=ranks.__getitem__)
        units = [units[i] for i in order]
        if optimise and len(units) > 1:
            units = _optimised(units, [ranks[i] for i in order], keys)
        suite._tests = [child for unit in units for child in unit]


def _wants_resources(root: TestSuite, keys: "_Keys") -> bool:
    """Whether any case of the tree needs a resource (asked once per class
    unless an instance declares its own)."""
    asked: set[type] = set()
    for case in iter_cases(root):
        own = vars(case)
        if type(case) in asked and "resources" not in own and "dirtiedResources" not in own:
            continue
        asked.add(type(case))
        if _usage(case, keys).needs:
            return True
    return False


# --- the units a suite's children move as ------------------------------------

def _suites(root: Any) -> list[Any]:
    """``root`` and every suite below it (those with children to reorder)."""
    found = [root]
    for child in getattr(root, "_tests", ()):
        if isinstance(child, unittest.TestSuite):
            found += _suites(child)
    return found


def _units(children: list[Any]) -> list[list[Any]]:
    """Children grouped as they must move: a block of consecutive cases that
    share a class or module fixture, or one child."""
    units: list[list[Any]] = []
    previous = None
    for child in children:
        fixture = _fixture(child)
        if fixture is not None and fixture == previous:
            units[-1].append(child)
        else:
            units.append([child])
        previous = fixture
    return units


def _fixture(child: Any) -> tuple[str, Any] | None:
    """What ties a case to its neighbours: its module's or class's fixture."""
    if not isinstance(child, unittest.TestCase):
        return None
    cls = type(child)
    module = sys.modules.get(cls.__module__)
    if any(hasattr(module, name) for name in ("setUpModule", "tearDownModule")):
        return ("module", cls.__module__)
    plain = unittest.TestCase.__dict__
    if any(getattr(getattr(cls, name), "__func__", None) is not plain[name].__func__
           for name in ("setUpClass", "tearDownClass")):
        return ("class", cls)
    return None


def _cases(unit: list[Any]) -> list[unittest.TestCase]:
    cases: list[unittest.TestCase] = []
    for child in unit:
        if isinstance(child, unittest.TestCase):
            cases.append(child)
        elif isinstance(child, unittest.TestSuite):
            cases += iter_cases(child)
    return cases


def _movable(unit: list[Any]) -> bool:
    return all(isinstance(child, unittest.TestCase) for child in unit)


# --- what the optimiser sees ---------------------------------------------------

class _Keys:
    """Resources as small integers, numbered in the order tests declare them
    (never by id() or hash: the order must not change between processes)."""

    def __init__(self) -> None:
        self.requests: list[tuple[Any, int]] = []   # distinct rotest requests, their keys
        self.managers: dict[Any, int] = {}          # managers hash by identity
        self.costs: dict[int, Cost] = {}
        self.by_class: dict[type, Usage] = {}      # cases of a class declare alike

    def request(self, request: Any) -> int:
        """The key of a rotest request: equal requests (``same_as``) share one."""
        for known, key in self.requests:
            if known.same_as(request):
                return key
        key = self._new(_class_cost(request.type))
        self.requests.append((request, key))
        return key

    def manager(self, manager: Any) -> int:
        """The key of a testresources manager."""
        if manager not in self.managers:
            self.managers[manager] = self._new(manager_cost(manager))
        return self.managers[manager]

    def _new(self, cost: Cost) -> int:
        key = len(self.costs)
        self.costs[key] = cost
        return key


def _class_cost(resource_class: type) -> Cost:
    return Cost(getattr(resource_class, "setUpCost", 1),
                getattr(resource_class, "tearDownCost", 1),
                getattr(resource_class, "resetCost", None))


def _usage(case: unittest.TestCase, keys: _Keys) -> Usage:
    """What one case needs: its rotest requests and its managers (with their
    dependencies), and the managers it leaves dirty. A rotest resource is
    dirty only when its test fails, which nobody knows before."""
    if not {"resources", "dirtiedResources"} & vars(case).keys():
        if type(case) not in keys.by_class:
            keys.by_class[type(case)] = _declared_usage(case, keys)
        return keys.by_class[type(case)]
    return _declared_usage(case, keys)


def _declared_usage(case: unittest.TestCase, keys: _Keys) -> Usage:
    requests = getattr(type(case), "get_resource_requests", None)
    needs = {keys.request(request) for request in (requests() if requests else ())}
    managers, dirty = manager_usage(case)
    needs |= {keys.manager(manager) for manager in managers}
    return Usage(frozenset(needs), frozenset(keys.manager(manager) for manager in dirty))


def _optimised(units: list[list[Any]], ranks: list[int], keys: _Keys) -> list[list[Any]]:
    """The units ordered by the optimiser inside each rank; fixed units stay
    put (barriers on both sides)."""
    usages: list[Usage] = []
    barriers: list[int] = []
    for index, unit in enumerate(units):
        if index and ranks[index] != ranks[index - 1]:
            barriers.append(index)
        if not _movable(unit):
            barriers += [index, index + 1]
            usages.append(Usage(frozenset()))
            continue
        needs: set[Hashable] = set()
        dirties: set[Hashable] = set()
        for case in unit:
            usage = _usage(case, keys)
            needs |= usage.needs
            dirties |= usage.dirties
        usages.append(Usage(frozenset(needs), frozenset(dirties)))
    if not any(usage.needs for usage in usages):
        return units  # nothing to share: the declared order is as good as any
    order = _only_better(optimise_order(usages, keys.costs, barriers), usages, keys.costs,
                         barriers)
    return [units[index] for index in order]


def _only_better(order: list[int], usages: list[Usage], costs: dict[int, Cost],
                 barriers: list[int]) -> list[int]:
    """``order``, except that each stretch between barriers keeps its declared
    order unless the new one costs less: tests move only to save set-ups
    (not, say, a test that needs nothing ahead of one at equal cost)."""
    kept: list[int] = []
    bounds = sorted({0, len(order), *barriers})
    for low, high in pairwise(bounds):
        if low >= len(order):
            break
        declared, proposed = list(range(low, high)), order[low:high]
        better = (total_cost(usages, costs, proposed)
                  < total_cost(usages, costs, declared) - 1e-9)
        kept += proposed if better else declared
    return kept
