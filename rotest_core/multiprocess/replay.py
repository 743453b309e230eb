"""The main process's side of a worker's events: replayed on the run's
Result with the main process's own test objects, so every report handler
sees the tree it would see after a serial run."""
from __future__ import annotations

import unittest.suite
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..result import Result

__all__ = ["Replayer", "ResourceInfo"]

OUTCOMES = frozenset({"add_success", "add_skip", "add_failure", "add_error",
                      "add_expected_failure", "add_unexpected_success"})
CALLS = {"start_test": "startTest", "setup_finished": "setupFinished",
         "start_teardown": "startTeardown", "add_info": "addInfo"}


@dataclass(frozen=True)
class ResourceInfo:
    """A resource a test got in a worker, as the main process knows it."""

    name: str
    type_name: str
    #: Locked through the engine (not a service).
    locked: bool

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ReplayedOutput:
    """What a test wrote to stdout and stderr in a worker."""

    stdout: str
    stderr: str


class Replayer:
    """Applies events to ``result``; an error outside any test (a setUpClass)
    is one ``_ErrorHolder`` per description, as the serial run makes it."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self._holders: dict[str, Any] = {}

    def holder(self, description: str) -> Any:
        if description not in self._holders:
            self._holders[description] = unittest.suite._ErrorHolder(description)
        return self._holders[description]

    def apply(self, event: str, test: Any, args: tuple[Any, ...]) -> None:
        """One event of a worker, on the main process's ``test``."""
        if event in OUTCOMES:
            self.result.record_outcome(event, test, *args)
        elif event in CALLS:
            getattr(self.result, CALLS[event])(test, *args)
        elif event == "update_resources":
            (resources,) = args
            self.result.updateResources(test, {
                name: ResourceInfo(*info) for name, info in resources.items()})
        elif event == "stop_test":
            work_dir, output, timing = args
            if work_dir is not None and hasattr(test, "_testMethodName"):
                test.work_dir = Path(work_dir)
            if output is not None:
                test.output = ReplayedOutput(*output)
            test.lock_wait, test.setup_time = timing
            self.result.stopTest(test)
        elif event == "start_composite":
            (work_dir,) = args
            if work_dir is not None:
                test.work_dir = Path(work_dir)
            self.result.startComposite(test)
        elif event == "stop_composite":
            (timing,) = args
            test.lock_wait, test.setup_time = timing
            self.result.stopComposite(test)

    def start(self, test: Any) -> None:
        if isinstance(test, unittest.TestSuite):
            self.result.startComposite(test)
        else:
            self.result.startTest(test)

    def stop(self, test: Any) -> None:
        if isinstance(test, unittest.TestSuite):
            self.result.stopComposite(test)
        else:
            self.result.stopTest(test)

    def error(self, opened: list[Any], unit: Any, text: str, unit_started: bool) -> None:
        """An error the main process decided (a timeout, a dead worker).
        ``opened``: the unit's tests started and not stopped, outermost first.
        The innermost gets the error (the unit itself, started now if it had
        not, when none is open); then each stops, innermost first."""
        if not opened:
            if not unit_started:
                self.start(unit)
            opened = [unit]
        self.result.record_outcome("add_error", opened[-1], text)
        for test in reversed(opened):
            self.stop(test)
