"""rotest_core.order: the cost model, exactness on small suites (against brute
force), stability, determinism, priority barriers and large suites."""
from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rotest_core.order import Cost, Usage, optimise_order, total_cost

ROOT = Path(__file__).resolve().parent.parent


def random_suite(tests: int, resources: int, sets: int, seed: int, dirty: float = 0.0,
                 most: int = 4) -> tuple[list[Usage], dict[int, Cost]]:
    """``tests`` tests drawing from ``sets`` random resource sets; each test
    dirties each of its resources with probability ``dirty``."""
    rnd = random.Random(seed)
    costs = {r: Cost(rnd.uniform(1, 60), rnd.uniform(0.5, 30),
                     rnd.choice([None, rnd.uniform(0.5, 20)])) for r in range(resources)}
    kinds = [frozenset(rnd.sample(range(resources), rnd.randint(1, min(most, resources))))
             for _ in range(sets)]
    usages = []
    for _ in range(tests):
        needs = rnd.choice(kinds)
        usages.append(Usage(needs, frozenset(r for r in needs if rnd.random() < dirty)))
    return usages, costs


def is_stable(usages: list[Usage], order: list[int]) -> bool:
    """Tests that need the same set keep their input order."""
    last: dict[frozenset, int] = {}
    for index in order:
        if last.get(usages[index].needs, -1) > index:
            return False
        last[usages[index].needs] = index
    return True


def stable_permutations(usages: list[Usage]):
    return (p for p in itertools.permutations(range(len(usages))) if is_stable(usages, list(p)))


# --- the cost model ------------------------------------------------------------

def test_total_cost_counts_setups_teardowns_and_resets():
    costs = {"db": Cost(10, 4, reset=3), "web": Cost(5, 2)}
    usages = [Usage(frozenset({"db"}), frozenset({"db"})),   # make db; leaves it dirty
              Usage(frozenset({"db", "web"})),                # reset db, make web
              Usage(frozenset({"web"}))]                      # clean db
    assert total_cost(usages, costs) == 10 + (3 + 5) + 4 + 2
    assert total_cost(usages, costs, [2, 1, 0]) == 5 + 10 + 2 + 4


def test_default_costs_and_default_reset():
    assert Cost().reset_cost == 2
    assert Cost(7, 3).reset_cost == 10  # a clean and a make
    usages = [Usage(frozenset({"x"}), frozenset({"x"})), Usage(frozenset({"x"}))]
    assert total_cost(usages, {}) == 1 + 2 + 1  # a missing key costs Cost()


def test_empty_and_single():
    assert optimise_order([], {}) == []
    assert optimise_order([Usage(frozenset({"a"}))], {}) == [0]


# --- exactness -------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(25))
def test_exact_on_small_suites_against_all_permutations(seed):
    """No test dirties anything: no permutation at all is cheaper."""
    usages, costs = random_suite(tests=7, resources=5, sets=5, seed=seed)
    order = optimise_order(usages, costs)
    best = min(total_cost(usages, costs, p) for p in itertools.permutations(range(7)))
    assert total_cost(usages, costs, order) == pytest.approx(best)


@pytest.mark.parametrize("seed", range(25))
def test_exact_with_resets_against_all_stable_permutations(seed):
    """Tests dirty things: no order that keeps each set's tests in input
    order is cheaper (the optimiser may split a set after a dirtying test)."""
    usages, costs = random_suite(tests=7, resources=5, sets=4, seed=seed, dirty=0.4)
    order = optimise_order(usages, costs)
    assert is_stable(usages, order)
    best = min(total_cost(usages, costs, p) for p in stable_permutations(usages))
    assert total_cost(usages, costs, order) == pytest.approx(best)


def test_resets_steer_the_order():
    """Blind to resets, r | r+s | s costs as much as s | r+s | r; but the
    first resets r after the test that dirties it: run that test last."""
    costs = {"r": Cost(10, 10), "s": Cost(1, 1)}
    usages = [Usage(frozenset({"r"}), frozenset({"r"})),
              Usage(frozenset({"r", "s"})),
              Usage(frozenset({"s"}))]
    order = optimise_order(usages, costs)
    assert total_cost(usages, costs, order) == 22  # s, r+s, r: no reset at all
    assert order.index(0) == 2


def test_equal_keys_share_a_kept_resource():
    """Keys stand for requests: tests asking the same are run together."""
    device = ("DeviceData", (("name", "dut1"),))
    other = ("DeviceData", (("name", "dut2"),))
    usages = [Usage(frozenset({device})), Usage(frozenset({other})),
              Usage(frozenset({device})), Usage(frozenset({other}))]
    order = optimise_order(usages, {device: Cost(50, 5), other: Cost(50, 5)})
    assert sorted(order[:2]) in ([0, 2], [1, 3])
    assert total_cost(usages, {device: Cost(50, 5), other: Cost(50, 5)}, order) == 110


# --- stability, determinism, barriers ------------------------------------------------

@pytest.mark.parametrize("tests,sets", [(60, 8), (600, 120), (3000, 700)])
def test_stable_permutation_and_never_worse_than_the_input(tests, sets):
    usages, costs = random_suite(tests, resources=24, sets=sets, seed=tests, dirty=0.2)
    order = optimise_order(usages, costs)
    assert sorted(order) == list(range(tests))
    assert is_stable(usages, order)
    assert total_cost(usages, costs, order) < total_cost(usages, costs)


def test_same_input_same_order():
    usages, costs = random_suite(2000, resources=20, sets=300, seed=3, dirty=0.1)
    assert optimise_order(usages, costs) == optimise_order(list(usages), dict(costs))


def test_same_order_in_another_process_with_another_hash_seed():
    """String keys iterate in hash-seed order; the result must not."""
    script = (
        "import random\n"
        "from rotest_core.order import Cost, Usage, optimise_order\n"
        "rnd = random.Random(5)\n"
        "names = [f'res{i}' for i in range(15)]\n"
        "kinds = [frozenset(rnd.sample(names, 3)) for _ in range(80)]\n"
        "usages = [Usage(rnd.choice(kinds)) for _ in range(400)]\n"
        "costs = {n: Cost(rnd.randint(1, 9), rnd.randint(1, 9)) for n in names}\n"
        "print(optimise_order(usages, costs))\n")
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        run = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True)
        outputs.add(run.stdout)
    assert len(outputs) == 1


def test_barriers_keep_tests_in_their_priority_group():
    usages, costs = random_suite(300, resources=10, sets=40, seed=9, dirty=0.1)
    barriers = [50, 120, 120, 299, 0, 300, 999]  # duplicates and edges are harmless
    order = optimise_order(usages, costs, barriers)
    groups = [(0, 50), (50, 120), (120, 299), (299, 300)]
    position = 0
    for low, high in groups:
        assert sorted(order[position:position + high - low]) == list(range(low, high))
        position += high - low
    assert is_stable(usages, order)


def test_each_priority_group_is_ordered_exactly_when_small():
    usages, costs = random_suite(12, resources=5, sets=6, seed=4)
    order = optimise_order(usages, costs, barriers=[6])
    for low, high in ((0, 6), (6, 12)):
        part = usages[low:high]
        mine = [i - low for i in order if low <= i < high]
        best = min(total_cost(part, costs, p) for p in itertools.permutations(range(6)))
        assert total_cost(part, costs, mine) == pytest.approx(best)


# --- the heuristic on larger suites ----------------------------------------------

@pytest.mark.parametrize("seed,dirty", [(0, 0.0), (4, 0.03), (5, 0.0), (5, 0.03), (8, 0.0)])
def test_beyond_the_exact_limit_the_heuristic_is_near_the_optimum(seed, dirty, monkeypatch):
    """11-13 runs: the local search, checked against Held-Karp (its limit
    raised for the check)."""
    usages, costs = random_suite(30, resources=6, sets=13, seed=seed, dirty=dirty)
    heuristic = total_cost(usages, costs, optimise_order(usages, costs))
    monkeypatch.setattr("rotest_core.order.EXACT_LIMIT", 13)
    exact = total_cost(usages, costs, optimise_order(usages, costs))
    assert exact - 1e-6 <= heuristic <= exact * 1.03


def test_few_sets_many_runs_keeps_the_exact_order_of_the_sets():
    """4 sets, many dirtying tests (so many runs): never worse than the best
    order with each set's tests together, found by brute force."""
    usages, costs = random_suite(40, resources=5, sets=4, seed=2, dirty=0.3)
    kinds = list(dict.fromkeys(u.needs for u in usages))
    together = min(total_cost(usages, costs, [i for k in p for i, u in enumerate(usages)
                                              if u.needs == kinds[k]])
                   for p in itertools.permutations(range(len(kinds))))
    order = optimise_order(usages, costs)
    assert is_stable(usages, order)
    assert total_cost(usages, costs, order) <= together + 1e-6


def test_many_distinct_sets_use_the_windowed_search():
    usages, costs = random_suite(1500, resources=16, sets=1500, seed=11, dirty=0.1)
    order = optimise_order(usages, costs)
    assert sorted(order) == list(range(1500))
    assert is_stable(usages, order)
    assert total_cost(usages, costs, order) < 0.5 * total_cost(usages, costs)


def test_unsortable_keys_still_work():
    class Key:  # like a manager: hashable, not orderable
        pass
    a, b = Key(), Key()
    usages = [Usage(frozenset({a})), Usage(frozenset({b})), Usage(frozenset({a, b}))]
    order = optimise_order(usages, {a: Cost(5, 5), b: Cost(1, 1)})
    assert total_cost(usages, {a: Cost(5, 5), b: Cost(1, 1)}, order) == 12
