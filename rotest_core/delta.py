"""``--delta N``: run again every test that did not pass in the base run (the
newest run of the same name), each up to N times in this run while it keeps
failing.

A test runs again unless the base run recorded it as passing: failed, erred,
skipped by failfast or Ctrl-C, never reached, new since, all run again, so a
delta run is never green by mistake. The base run is read from the history (:mod:`rotest_core.store`), so a
delta run records its own history too: the next ``--delta`` starts from it.
A test's identity across runs is its path, the names from the run down
(``OuterSuite/InnerSuite/Case.test_x``), as the reports record it.

Every attempt of a test is part of one run: the re-run instances hang under
the same root, in suites of the same names, so reports keep one record per
test with the earlier attempts as its reruns.
"""
from __future__ import annotations

import sys
import unittest
from dataclasses import dataclass
from typing import Any, Iterable

from .result import AbstractResultHandler, Result, test_path
from .suite import TestSuite, iter_cases

__all__ = ["DeltaError", "DeltaPlan", "OutcomeTracker", "plan_delta", "run_attempts",
           "test_path"]

#: The handler names that write the history (Rotest's ``db`` and ``remote`` too).
HISTORY_HANDLERS = {"history", "db", "remote"}


class DeltaError(RuntimeError):
    """The history cannot be read for ``--delta``; the message says why."""


@dataclass
class DeltaPlan:
    """What the base run says; ``message`` tells the user which run it is
    and why."""

    message: str
    #: None: no base run, run everything; else the paths that passed in it.
    passed: frozenset[str] | None = None
    base: dict[str, Any] | None = None

    def run_again(self, test: Any) -> bool:
        """Whether ``test`` runs: anything not recorded as passing in the
        base run (failed, erred, skipped by failfast or Ctrl-C, never run,
        new, or unknown). A flow runs whole when one of its blocks does."""
        return self.passed is None or test_path(test) not in self.passed


def plan_delta(config: Any, name: str, named: bool, *, run_group: str | None = None,
               delta_of: str | None = None) -> DeltaPlan:
    """Ask the history for the base run: the runs of run id ``delta_of``
    (``--delta-of``), or else the newest run ``name`` that the store took,
    finished or not, that is not one of this run's own shards (``run_group``),
    with the other shards of its run id: a test passed if it passed in the
    shard that ran it."""
    # Lazy: the store's client only for a --delta run.
    from .store import client_for
    from .outbox import push_outbox
    store = None
    try:
        store = client_for(config)
        # What earlier runs from here could not send may be the newest run.
        push_outbox(config, store, say=lambda text: print(f"rotest: {text}",
                                                           file=sys.stderr))
        found = store.group_results(name, run_group=delta_of, exclude_group=run_group)
        where = store.where
    except Exception as error:  # noqa: BLE001 - said plainly, with where it looked
        raise DeltaError(f"--delta cannot read the run history: {type(error).__name__}: "
                         f"{error}") from None
    finally:
        if store is not None:
            store.close()
    which = f"run {name!r}" + (f" of run id {delta_of!r}" if delta_of else "")
    default = "" if named else " (the default name; name runs with -n)"
    base = found["run"]
    if base is None:
        return DeltaPlan(f"--delta: no {which} in {where}{default}: running every test")
    shards = len(found.get("runs") or ())
    group = (f" with its {shards} shard(s) of run id {base['run_group']!r}"
             if base.get("run_group") else "")
    return DeltaPlan(f"--delta: the base is {which} #{base['id']} of {base['start']}"
                     f"{group}, the newest the history took{default} ({_state(base)}; "
                     f"{len(found['passed'])} test(s) passed, "
                     f"{len(found['not_passed'])} did not)",
                     frozenset(found["passed"]), base)


def _state(run: dict[str, Any]) -> str:
    if run["status"] in ("aborted", "interrupted"):
        return f"it was {run['status']}: the tests it did not record run again"
    if run["end"] is None:
        return "it has not finished: the tests it did not record run again"
    return f"it finished: {run['status']}"


class OutcomeTracker(AbstractResultHandler):
    """How each test ended in its latest attempt, by path (not a report: the
    runner adds it to decide what to run again and the exit code)."""

    NAME = "delta-tracker"

    def __init__(self) -> None:
        super().__init__()
        self.failed: dict[str, bool] = {}
        self.errors_outside_tests = 0

    def start_test(self, test: Any) -> None:
        self.failed[test_path(test)] = False

    def add_failure(self, test: Any, exception_string: str) -> None:
        self._fail(test)

    def add_error(self, test: Any, exception_string: str) -> None:
        self._fail(test)

    def add_unexpected_success(self, test: Any) -> None:
        self._fail(test)

    def _fail(self, test: Any) -> None:
        if isinstance(test, unittest.TestCase):
            self.failed[test_path(test)] = True
        else:  # an error in setUpClass/setUpModule: its tests never started
            self.errors_outside_tests += 1

    def passed(self, path: str) -> bool:
        return self.failed.get(path) is False  # never started: did not pass

    def all_passed(self) -> bool:
        return not self.errors_outside_tests and all(
            not failed for failed in self.failed.values())


def run_attempts(root: TestSuite, result: Result, attempts: int,
                 tracker: OutcomeTracker) -> None:
    """Run ``root``, then again, up to ``attempts`` in all, the tests that did
    not pass, as fresh instances under ``root``."""
    root.run(result)
    last = [test_path(case) for case in iter_cases(root)]
    for _attempt in range(1, attempts):
        again = [path for path in last if not tracker.passed(path)]
        if not again or result.shouldStop:
            return
        tests = fresh_tests(root, again)
        last = [test_path(case) for test in tests for case in _cases(test)]
        unittest.TestSuite(tests).run(result)


def fresh_tests(root: TestSuite, paths: Iterable[str]) -> list[Any]:
    """New instances of the tests at ``paths``, in suites named as before,
    hung under ``root`` (so reports see the same tests again)."""
    wanted = set(paths)
    fresh = type(root)()
    fresh.prune(lambda case: test_path(case) in wanted)
    tests = list(fresh)
    for test in tests:
        test.parent = root
    return tests


def _cases(test: Any) -> Iterable[Any]:
    return iter_cases(test) if isinstance(test, unittest.TestSuite) else [test]
