"""Ordering in real runs: the optimiser on by default in ``rotest run`` (and
``--keep-order``), ``-O`` priorities, testresources managers held by rotest's
suites, and the make/reset/clean counts of the summary; in a subprocess and
with the runner in process."""
from __future__ import annotations

import subprocess
import unittest

import pytest

from rotest_core.arrange import arrange, order_rank, parse_order
from rotest_core.config import load_config
from rotest_core.filters import FilterSyntaxError
from rotest_core.runner import RunOptions, build_tree, filter_names, run
from rotest_core.suite import TestSuite, iter_cases
from runtime_samples import lab as lab_module, ordering_samples as samples
from runtime_samples.fixtures import ROTEST, SAMPLES, cli_env, workdir  # noqa: F401
from runtime_samples.handlers import Recorder

SAMPLE = str(SAMPLES / "ordering_samples.py")
DECLARED = ["AlphaOne", "BetaOne", "AlphaTwo", "BetaTwo", "AlphaThree", "BetaThree"]


@pytest.fixture
def rotest(workdir, tmp_path):
    """``rotest run SAMPLE ARGS`` in a subprocess: (process, recorded steps)."""
    def invoke(*args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        log = tmp_path / "steps.log"
        log.unlink(missing_ok=True)
        process = subprocess.run([*ROTEST, "run", SAMPLE, *args],
                                 env=cli_env(workdir, tmp_path, **env), cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120)
        return process, log.read_text().splitlines() if log.exists() else []
    return invoke


def ran(steps: list[str]) -> list[str]:
    return [step.split(" ", 1)[1] for step in steps if step.startswith("ran ")]


def set_ups(steps: list[str]) -> int:
    return sum(step.startswith("setup ") for step in steps)


# ---------------------------------------------------------------------------
# rotest resources: the smart client shares equal requests
# ---------------------------------------------------------------------------

def test_the_optimiser_cuts_the_set_ups_of_a_badly_declared_run(rotest):
    process, steps = rotest("-f", "ProbeSuite")
    assert process.returncode == 0, process.stdout + process.stderr
    order = ran(steps)
    assert sorted(order) == sorted(DECLARED)
    kinds = [name.startswith("Alpha") for name in order]
    assert kinds in ([True] * 3 + [False] * 3, [False] * 3 + [True] * 3)  # grouped
    # Stable inside a group: each kind keeps its declared order.
    assert [n for n in order if n.startswith("Alpha")] == ["AlphaOne", "AlphaTwo", "AlphaThree"]
    assert set_ups(steps) == 2
    assert "resources: 2 made, 0 reset, 2 cleaned" in process.stdout


def test_keep_order_runs_the_declared_order(rotest):
    process, steps = rotest("-f", "ProbeSuite", "--keep-order")
    assert process.returncode == 0, process.stdout + process.stderr
    assert ran(steps) == DECLARED
    assert set_ups(steps) == 6
    assert "resources: 6 made, 0 reset, 6 cleaned" in process.stdout


def test_order_runs_the_matching_tests_first_and_nothing_crosses_a_priority(rotest):
    process, steps = rotest("-f", "ProbeSuite", "-O", "first")
    assert process.returncode == 0, process.stdout + process.stderr
    order = ran(steps)
    assert set(order[:2]) == {"AlphaOne", "BetaOne"}
    # Without the barrier two set-ups would do; across it the optimiser may
    # not merge AlphaOne with the other Alphas.
    assert set_ups(steps) == 3

    process, steps = rotest("-f", "ProbeSuite", "-O", "BetaThree, first", "--keep-order")
    assert ran(steps) == ["BetaThree", "AlphaOne", "BetaOne", "AlphaTwo", "BetaTwo",
                          "AlphaThree"]


@pytest.mark.parametrize("order, words", [
    ("first and", ["bad -O/--order", "dangling 'and'", "first and"]),
    ("first,,BetaOne", ["bad -O/--order", "priority 2", "is empty", "'smoke, calc'"]),
])
def test_a_bad_order_exits_2_and_says_why(rotest, order, words):
    process, steps = rotest("-O", order)
    assert process.returncode == 2, process.stdout + process.stderr
    assert process.stderr.startswith("Error: ") and "Traceback" not in process.stderr
    assert all(word in process.stderr for word in words), process.stderr
    assert steps == []


def test_the_order_is_the_same_in_two_processes_with_other_hash_seeds(rotest):
    listings = [rotest("-l", "-O", "BetaTwo", PYTHONHASHSEED=seed)[0].stdout
                for seed in ("1", "2")]
    assert listings[0] == listings[1]
    lines = [line.strip() for line in listings[0].splitlines()]
    probes = [line.split(".")[0] for line in lines if line.split(".")[0] in DECLARED]
    assert probes[0] == "BetaTwo" and sorted(probes) == sorted(DECLARED)
    kinds = [name.startswith("Alpha") for name in probes[1:]]
    assert sum(a != b for a, b in zip(kinds, kinds[1:])) == 1  # optimised: grouped


# ---------------------------------------------------------------------------
# testresources managers in rotest's suites
# ---------------------------------------------------------------------------

MANAGED_STEPS = [
    "make broken",                               # the first test errors with it
    "make database", "make server",              # dependency first
    "ran ReaderOne.test_reads", "ran ReaderOne.test_reads_again",  # shared while clean
    "ran Writer.test_writes",
    "reset server",                              # dirtied: reset before its next use
    "ran ReaderTwo.test_reads",
    "clean server", "clean database",            # at the end of the suite, dependency last
]


def test_managers_share_reset_and_clean_in_a_rotest_run(rotest):
    process, steps = rotest("-f", "ManagedSuite")
    assert process.returncode == 1, process.stdout + process.stderr
    assert steps == MANAGED_STEPS
    assert "Broken.test_never_runs ... ERROR" in process.stdout
    assert "the broken resource cannot be made" in process.stdout
    assert "ReaderTwo.test_reads ... OK" in process.stdout
    assert "resources: 3 made, 1 reset, 2 cleaned" in process.stdout


def test_managers_in_process_count_and_leak_nothing(workdir):
    Recorder.events = []
    report = run([samples.ManagedSuite], load_config(), RunOptions(outputs=[Recorder]))
    assert report.exit_code == 1
    steps = [f"{step} {name}" for step, name in lab_module.STEPS]
    assert steps == MANAGED_STEPS
    assert report.resource_counts == {"make": 3, "reset": 1, "clean": 2}
    assert [(test, extra) for event, test, extra in Recorder.events
            if event == "add_error"][0][0] == "Broken.test_never_runs"
    database = dict(samples.SERVER.resources)["database"]
    for manager in (samples.SERVER, database, samples.BROKEN):
        assert manager._uses == 0 and manager._currentResource is None
    # The second run starts from nothing: every make happens again.
    lab_module.STEPS.clear()
    assert run([samples.ManagedSuite], load_config(),
               RunOptions(outputs=[])).resource_counts["make"] == 3


def test_rotest_resources_in_process_counted_with_and_without_the_optimiser(workdir):
    optimised = run([samples.ProbeSuite], load_config(), RunOptions(outputs=[]))
    declared = run([samples.ProbeSuite], load_config(),
                   RunOptions(outputs=[], optimise=False))
    assert optimised.resource_counts == {"make": 2, "clean": 2}
    assert declared.resource_counts == {"make": 6, "clean": 6}
    assert [type(case).__name__ for case in iter_cases(declared.main_test)] == DECLARED


# ---------------------------------------------------------------------------
# What may move: suites keep their structure, class fixtures their blocks
# ---------------------------------------------------------------------------

class FixtureCounted(samples.AlphaOne):
    """Alpha's request, with a class fixture: its cases move as one block."""

    __test__ = False  # run by the tests below, not collected by pytest
    set_ups = 0

    @classmethod
    def setUpClass(cls):
        cls.set_ups += 1

    def test_second(self):
        pass


class Nested(TestSuite):
    components = [samples.BetaThree, samples.AlphaThree]


class Outer(TestSuite):
    components = [samples.AlphaOne, samples.BetaOne, Nested, FixtureCounted,
                  samples.BetaTwo, samples.AlphaTwo]


def names(suite: TestSuite) -> list[str]:
    return [child.name if isinstance(child, TestSuite)
            else f"{type(child).__name__}.{child._testMethodName}" for child in suite]


def test_a_nested_suite_is_a_fixed_point_and_a_class_fixture_a_block():
    root = build_tree([Outer])
    arrange(root)
    outer = list(root)[0]
    order = names(outer)
    # The stretches on each side of the nested suite are ordered on their own.
    assert order.index("Nested") == 2
    assert set(order[:2]) == {"AlphaOne.test_it", "BetaOne.test_it"}
    fixture = [order.index("FixtureCounted.test_it"), order.index("FixtureCounted.test_second")]
    assert fixture[1] == fixture[0] + 1
    assert order[3:] in (
        ["BetaTwo.test_it", "FixtureCounted.test_it", "FixtureCounted.test_second",
         "AlphaTwo.test_it"],
        ["FixtureCounted.test_it", "FixtureCounted.test_second", "AlphaTwo.test_it",
         "BetaTwo.test_it"],
    )
    assert order[3:] != ["FixtureCounted.test_it", "FixtureCounted.test_second",
                         "BetaTwo.test_it", "AlphaTwo.test_it"]  # the declared, dearer
    # Inside the nested suite too, nothing to gain: the declared order stays.
    assert names(list(outer)[2]) == ["BetaThree.test_it", "AlphaThree.test_it"]


def test_order_moves_a_nested_suite_as_a_unit_by_its_best_test():
    root = build_tree([Outer])
    arrange(root, order_rank(parse_order("AlphaThree"), filter_names), optimise=False)
    outer = list(root)[0]
    assert names(outer)[0] == "Nested"
    assert names(list(outer)[0]) == ["AlphaThree.test_it", "BetaThree.test_it"]
    assert names(outer)[1:] == ["AlphaOne.test_it", "BetaOne.test_it",
                                "FixtureCounted.test_it", "FixtureCounted.test_second",
                                "BetaTwo.test_it", "AlphaTwo.test_it"]


def test_a_class_fixture_runs_once_in_an_optimised_run(workdir):
    FixtureCounted.set_ups = 0
    report = run([Outer], load_config(), RunOptions(outputs=[]))
    assert report.exit_code == 0 and report.result.testsRun == 8
    assert FixtureCounted.set_ups == 1


def test_parse_order_splits_on_commas_outside_quotes():
    expressions = parse_order("smoke, 'a,b' or calc , not slow")
    assert [str(e) for e in expressions] == [str(e) for e in (
        parse_order("smoke")[0], parse_order("'a,b' or calc")[0], parse_order("not slow")[0])]
    assert expressions[1].matches(["a,b"])
    with pytest.raises(ValueError, match="priority 2 of 'smoke,' is empty"):
        parse_order("smoke,")
    with pytest.raises(FilterSyntaxError):
        parse_order("smoke, (calc")


def test_plain_unittest_cases_without_resources_keep_their_order():
    class Plain(unittest.TestCase):
        def test_b(self):
            pass

        def test_a(self):
            pass

    root = build_tree([Plain, samples.BetaOne, samples.AlphaOne])
    before = [case.id() for case in iter_cases(root)]
    arrange(root)
    assert [case.id() for case in iter_cases(root)] == before
