"""Test ordering: testresources' OptimisingTestSuite against ours.

    python bench/ordering.py [--cases NAME,NAME]

For seeded random suites of several shapes (tests in classes, each class
needing a few resources with varied set-up/tear-down costs; some resources
depend on others; in some shapes tests dirty what they use), it sorts the
same suite with testresources' OptimisingTestSuite.sortTests and with
rotest_core.testresources' (rotest_core.order), prices both orders with one
cost model (rotest_core.order.total_cost: set-ups, tear-downs and resets,
as an optimising suite runs them) and prints: case, testresources cost, our
cost, ratio (ours / theirs), the sort times, and the cost of the input order.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import testresources as theirs  # noqa: E402 - pip install testresources

from rotest_core import testresources as ours  # noqa: E402
from rotest_core.order import Cost, Usage, total_cost  # noqa: E402


@dataclass(frozen=True)
class Shape:
    name: str
    tests: int
    resources: int
    classes: int            # resource sets are declared per class
    most: int               # a class needs 1..most resources
    depends: float = 0.2    # chance a resource depends on an earlier one
    dirty: float = 0.0      # chance a class dirties a resource, in half its tests
    seed: int = 1


SHAPES = [
    Shape("small: 30 tests, 5 resources", 30, 5, 8, 3, seed=7),
    Shape("200 tests, 8 resources", 200, 8, 24, 3),
    Shape("10,000 tests, 30 resources", 10_000, 30, 400, 5, seed=2),
    Shape("dirty: 1,000 tests, 12 resources", 1_000, 12, 60, 4, dirty=0.5, seed=3),
    Shape("deep deps: 2,000 tests, 20 resources", 2_000, 20, 150, 3, depends=0.8, seed=4),
    Shape("sparse: 2,000 tests, 40 resources", 2_000, 40, 300, 2, depends=0.0, seed=5),
    Shape("a set per test: 1,000 tests, 16", 1_000, 16, 1_000, 4, seed=6),
]


@dataclass
class Suite:
    """One random suite, as abstract usages and as both packages' tests."""
    usages: list[Usage]
    costs: dict[int, Cost]
    their_tests: list
    our_tests: list


class _Test:
    """Just what the suites read: ``resources`` (and ``dirtiedResources``)."""
    def __init__(self, resources, dirtied=()):
        self.resources = resources
        self.dirtiedResources = dirtied


def _manager_class(package, cost: Cost):
    return type("Resource", (package.TestResourceManager,),
                {"setUpCost": cost.setup, "tearDownCost": cost.teardown})


def build(shape: Shape) -> Suite:
    rnd = random.Random(shape.seed)
    costs, parents = {}, {}
    for r in range(shape.resources):
        setup = round(rnd.choice([1, 5, 20, 60]) * rnd.uniform(0.5, 1.5), 1)
        costs[r] = Cost(setup, round(setup * rnd.uniform(0.1, 0.6), 1))
        if r and rnd.random() < shape.depends:
            parents[r] = rnd.randrange(r)  # a forest: no cycles
    popularity = [1 / (r + 1) ** 0.8 for r in range(shape.resources)]  # some are everywhere
    mine = {r: _manager_class(ours, costs[r])() for r in costs}
    them = {r: _manager_class(theirs, costs[r])() for r in costs}
    for r, parent in parents.items():
        mine[r].resources = [(f"r{parent}", mine[parent])]
        them[r].resources = [(f"r{parent}", them[parent])]

    classes = []
    for _ in range(shape.classes):
        named = set()
        for _ in range(rnd.randint(1, shape.most)):
            named.add(rnd.choices(range(shape.resources), popularity)[0])
        dirtied = [rnd.choice(sorted(named))] if rnd.random() < shape.dirty else []
        classes.append((sorted(named), dirtied))
    sizes = sorted(rnd.choices(range(len(classes)), k=shape.tests))  # loaded class by class

    suite = Suite([], costs, [], [])
    for c in sizes:
        named, dirtied = classes[c]
        dirtied = dirtied if rnd.random() < 0.5 else []
        suite.usages.append(_usage(named, dirtied, parents))
        suite.their_tests.append(_Test([(f"r{r}", them[r]) for r in named]))
        suite.our_tests.append(_Test([(f"r{r}", mine[r]) for r in named],
                                     [f"r{r}" for r in dirtied]))
    return suite


def _usage(named, dirtied, parents) -> Usage:
    """Needs: the named resources and their ancestors; dirty: the dirtied ones
    and, in needs, whatever depends on a dirty one."""
    needs = set()
    for r in named:
        while r is not None and r not in needs:
            needs.add(r)
            r = parents.get(r)
    dirty = set(dirtied)
    changed = True
    while changed:
        more = {r for r in needs if parents.get(r) in dirty} - dirty
        dirty |= more
        changed = bool(more)
    return Usage(frozenset(needs), frozenset(dirty))


def sort_with(package, tests) -> tuple[list[int], float]:
    suite = package.OptimisingTestSuite()
    suite._tests = list(tests)  # already flat: skip addTest
    started = time.perf_counter()
    suite.sortTests()
    elapsed = time.perf_counter() - started
    position = {id(test): index for index, test in enumerate(tests)}
    return [position[id(test)] for test in suite._tests], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", help="comma-separated substrings of case names")
    args = parser.parse_args()
    shapes = [s for s in SHAPES if not args.cases
              or any(word in s.name for word in args.cases.split(","))]
    header = (f"{'case':40} {'testresources':>13} {'ours':>10} {'ratio':>6} "
              f"{'their sort':>10} {'our sort':>9} {'input order':>11}")
    print(header)
    print("-" * len(header))
    ratios = []
    for shape in shapes:
        suite = build(shape)
        their_order, their_time = sort_with(theirs, suite.their_tests)
        our_order, our_time = sort_with(ours, suite.our_tests)
        their_cost = total_cost(suite.usages, suite.costs, their_order)
        our_cost = total_cost(suite.usages, suite.costs, our_order)
        ratios.append(our_cost / their_cost)
        print(f"{shape.name:40} {their_cost:13.1f} {our_cost:10.1f} {ratios[-1]:6.3f} "
              f"{their_time:9.3f}s {our_time:8.3f}s {total_cost(suite.usages, suite.costs):11.1f}")
    print(f"\nmean ratio {sum(ratios) / len(ratios):.3f} (ours / testresources; lower is better), "
          f"worst {max(ratios):.3f}")


if __name__ == "__main__":
    main()
