"""The split of ``--shard K/N`` on its own, in this process: the units a tree
splits into (fixtures, flows and shared testresources kept whole), the
longest-processing-time split, and the weights it balances by."""
from __future__ import annotations

import random

import pytest

from rotest_core.result import test_path as path_of
from rotest_core.runner import build_tree, select
from rotest_core.shard import (Shard, ShardError, parse_shard, select_shard, shard_units,
                               split, split_units)
from rotest_core.shard_plan import fingerprint, weights_of
from rotest_core.suite import iter_cases
from runtime_samples import shard_module_fixture, shard_samples

M = shard_samples.__name__
ALL_CLASSES = [*shard_samples.TESTS, shard_samples.DeviceCase,
               shard_module_fixture.FirstModuleCase, shard_module_fixture.SecondModuleCase]


def tree(filter_text: str | None = None):
    root = build_tree(ALL_CLASSES, "nightly")
    if filter_text:
        select(root, filter_text)
    return root


def paths(root) -> list[str]:
    return [path_of(case) for case in iter_cases(root)]


def shard_paths(count: int, weights_from=None, filter_text=None) -> list[list[str]]:
    """Each shard's test paths, each computed on a fresh tree (as another
    process would)."""
    found = []
    for index in range(1, count + 1):
        root = tree(filter_text)
        units = shard_units(root)
        weights = (weights_from(units) if weights_from else
                   [float(len(unit.leaf_paths)) for unit in units])
        assigned = split_units(units, weights, count)
        select_shard(root, units, assigned, Shard(index, count))
        found.append(paths(root))
    return found


@pytest.mark.parametrize("text, shard", [("1/4", Shard(1, 4)), ("4/4", Shard(4, 4)),
                                         (" 2 / 3 ", Shard(2, 3)), ("1/1", Shard(1, 1))])
def test_good_shards_are_read(text, shard):
    assert parse_shard(text) == shard and str(shard) == f"{shard.index}/{shard.count}"


@pytest.mark.parametrize("text, words", [
    ("0/4", "K must be from 1 to 4"), ("5/4", "K must be from 1 to 4"),
    ("x", "give K/N"), ("1/0", "N, the number of shards, must be 1 or more"),
    ("", "give K/N"), ("-1/4", "give K/N"), ("1/4/2", "give K/N")])
def test_bad_shards_are_refused_saying_what_to_give(text, words):
    with pytest.raises(ShardError, match=words):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 40])
def test_shards_are_disjoint_and_hold_every_test(count):
    everything = paths(tree())
    shards = shard_paths(count)
    assert sorted(path for shard in shards for path in shard) == sorted(everything)
    assert len({path for shard in shards for path in shard}) == len(everything)
    if count > len(shard_units(tree())):
        assert [] in shards  # more shards than units: some are empty


def test_fixtures_flows_and_shared_resources_stay_in_one_shard():
    units = {unit.name: unit for unit in shard_units(tree())}
    by_class: dict[str, set[str]] = {}
    for name, unit in units.items():
        for path in unit.leaf_paths:
            by_class.setdefault(path.rsplit(".", 1)[0], set()).add(name)
    # One unit per class with setUpClass, per module with setUpModule, per
    # flow and per suite's shared testresources manager.
    assert len(by_class[f"{M}.FixtureCase"]) == 1
    module_units = {name for cls, names in by_class.items()
                    if cls.startswith(shard_module_fixture.__name__) for name in names}
    assert len(module_units) == 1
    assert len(by_class[f"SharedSuite/{M}.SharedCase"]) == 1
    flow = [unit for unit in units.values() if unit.name.endswith("SampleFlow")]
    assert len(flow) == 1 and len(flow[0].leaf_paths) == 2
    # Plain cases, and cases that share only a lab device, split one by one.
    assert len(by_class[f"{M}.PlainCase"]) == 12 and len(by_class[f"{M}.DeviceCase"]) == 4
    for count in (2, 3, 7):
        for shard in shard_paths(count):
            held = {path.rsplit(".", 1)[0] for path in shard}
            for whole in (f"{M}.FixtureCase", f"SharedSuite/{M}.SharedCase"):
                ran = [path for path in shard if path.startswith(whole + ".")]
                assert not ran or len(ran) == (3 if "Fixture" in whole else 2)
            module = [path for path in shard if shard_module_fixture.__name__ in path]
            assert not module or len(module) == 3
            assert not held & {f"{M}.SampleFlow/NoteBlock"} or \
                f"{M}.SampleFlow/SecondBlock" in shard


def test_filters_apply_before_the_split():
    shards = shard_paths(3, filter_text="PlainCase or FixtureCase")
    assert sorted(sum(shards, [])) == sorted(paths(tree("PlainCase or FixtureCase")))
    assert all(f"{M}.PlainCase" in path or f"{M}.FixtureCase" in path
               for path in sum(shards, []))


def test_the_split_is_longest_first_and_breaks_ties_by_name():
    assert split([5, 4, 3, 3, 1], list("abcde"), 2) == [0, 1, 1, 0, 1]
    # Equal weights: the names decide, not the order given.
    assert split([1, 1, 1, 1], ["d", "c", "b", "a"], 2) == [1, 0, 1, 0]
    with pytest.raises(ShardError):
        split([1.0], ["a"], 0)
    # Tests too fast to time weigh nothing: they still spread, by count.
    assert split([0.0] * 6, list("abcdef"), 3) == [0, 1, 2, 0, 1, 2]
    assert split([0.0, 0.0, 0.0], list("abc"), 2, sizes=[3, 1, 1]) == [0, 1, 1]


def test_the_same_units_and_weights_give_the_same_split_in_any_order():
    rng = random.Random(7)
    weights = [rng.paretovariate(1.2) for _ in range(500)]
    names = [f"t{number:04d}" for number in range(500)]
    first = dict(zip(names, split(weights, names, 8)))
    order = list(range(500))
    rng.shuffle(order)
    second = dict(zip([names[i] for i in order],
                      split([weights[i] for i in order], [names[i] for i in order], 8)))
    assert first == second


def test_balancing_by_history_beats_counting_when_durations_are_skewed():
    root = tree()
    units = shard_units(root)
    slow = {unit.leaf_paths[0] for unit in units if "PlainCase" in unit.name}
    seconds = {path: (30.0 if path in slow and path.endswith(("_00", "_01")) else 1.0)
               for path in paths(root)}

    def worst(weights, assigned):
        totals = [0.0, 0.0, 0.0]
        for weight, shard in zip(weights, assigned):
            totals[shard] += weight
        return max(totals) / (sum(totals) / 3)

    timed, by_time = weights_of(units, seconds)
    counted = [float(len(unit.leaf_paths)) for unit in units]
    names = [unit.name for unit in units]
    assert by_time
    balanced = worst(timed, split(timed, names, 3))
    by_count = worst(timed, split(counted, names, 3))
    assert balanced < by_count and balanced < 1.2


def test_weights_fall_back_to_the_mean_then_to_counts():
    units = shard_units(tree("PlainCase"))
    first, second = units[0].leaf_paths[0], units[1].leaf_paths[0]
    weights, by_time = weights_of(units, {first: 4.0, second: 2.0})
    assert by_time and weights[:2] == [4.0, 2.0] and set(weights[2:]) == {3.0}
    weights, by_time = weights_of(units, {"some/other/test": 9.0})
    assert not by_time and set(weights) == {1.0}


def test_the_fingerprint_names_the_tests_and_their_units():
    assert fingerprint(shard_units(tree())) == fingerprint(shard_units(tree()))
    assert fingerprint(shard_units(tree())) != fingerprint(
        shard_units(tree("not PlainCase")))
