"""Sharding: how close ``--shard K/N`` comes to the ideal, balanced by
history against a plain split by test count.

    python bench/sharding.py [--tests 5000] [--seed 1]

It builds a real tree of generated test classes (5,000 tests by default;
one class in eight has a ``setUpClass``, so its tests are one unit), gives
each test a skewed duration (lognormal, with a Pareto tail of a few very
slow tests) as the history would, and splits it into N = 2, 4, 8 and 16
shards with the runner's own functions (:func:`rotest_core.shard.shard_units`,
:func:`rotest_core.shard_plan.weights_of`, :func:`rotest_core.shard.split_units`).
For each N it prints the slowest shard's time over the ideal (total / N)
for the split by history and for the split by count (both timed by the
durations), the bound no split can beat (the heaviest unit, or the ideal),
and how long the balanced split took.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rotest_core import TestCase  # noqa: E402
from rotest_core.runner import build_tree  # noqa: E402
from rotest_core.shard import shard_units, split_units  # noqa: E402
from rotest_core.shard_plan import weights_of  # noqa: E402

SHARDS = (2, 4, 8, 16)


def generated_classes(tests: int, rng: random.Random) -> list[type]:
    """Test classes of 1 to 40 methods, one in eight with a class fixture."""
    classes, made = [], 0
    while made < tests:
        size = min(rng.randint(1, 40), tests - made)
        body: dict = {f"test_{n:03d}": (lambda self: None) for n in range(size)}
        if len(classes) % 8 == 3:
            body["setUpClass"] = classmethod(lambda cls: None)
        body["__module__"] = __name__
        classes.append(type(f"Generated{len(classes):04d}", (TestCase,), body))
        made += size
    return classes


def durations(paths: list[str], rng: random.Random) -> dict[str, float]:
    """Seconds per test: most lognormal (median 2 s), 1 % from a Pareto tail."""
    return {path: (rng.paretovariate(1.1) * 60 if rng.random() < 0.01
                   else rng.lognormvariate(0.7, 1.0)) for path in paths}


def slowest(times: list[float], assigned: list[int], count: int) -> float:
    totals = [0.0] * count
    for seconds, shard in zip(times, assigned):
        totals[shard] += seconds
    return max(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    root = build_tree(generated_classes(options.tests, rng), "bench")
    began = time.perf_counter()
    units = shard_units(root)
    unit_seconds = time.perf_counter() - began
    seconds = durations(sorted(p for unit in units for p in unit.leaf_paths), rng)
    timed, by_time = weights_of(units, seconds)
    assert by_time
    counted = [float(len(unit.leaf_paths)) for unit in units]
    total = sum(timed)
    cases = root.countTestCases()
    print(f"{cases} tests in {len(units)} units ({unit_seconds * 1000:.0f} ms to find "
          f"them); {total / 3600:.1f} h in all, the slowest unit {max(timed) / 60:.1f} min")
    print(f"{'N':>3} {'by history':>11} {'by count':>9} {'bound':>6} {'split ms':>9}")
    for count in SHARDS:
        ideal = total / count
        began = time.perf_counter()
        balanced = split_units(units, timed, count)
        took = time.perf_counter() - began
        by_count = split_units(units, counted, count)
        bound = max(ideal, max(timed)) / ideal
        print(f"{count:>3} {slowest(timed, balanced, count) / ideal:>11.4f} "
              f"{slowest(timed, by_count, count) / ideal:>9.4f} {bound:>6.4f} "
              f"{took * 1000:>9.1f}")
    print("(the slowest shard's time over the ideal, total / N: 1.0000 is perfect; "
          "'bound' is the best any split can do, the slowest unit being indivisible)")


if __name__ == "__main__":
    main()
