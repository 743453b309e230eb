"""Result handlers for the runtime's tests: one records every event, one breaks."""
from __future__ import annotations

from rotest_core.result import AbstractResultHandler, describe

EVENTS = ("start_test_run", "start_composite", "start_test", "update_resources",
          "setup_finished", "start_teardown", "add_success", "add_info", "add_skip",
          "add_failure", "add_error", "add_expected_failure", "add_unexpected_success",
          "stop_test", "stop_composite", "stop_test_run")


class Recorder(AbstractResultHandler):
    """Keeps (event, test name, extra) for every event, in ``Recorder.events``."""

    NAME = "recorder"
    events: list[tuple] = []

    def __getattribute__(self, name):
        if name in EVENTS:
            def record(*args):
                test = describe(args[0]) if args else None
                extra = args[1] if len(args) > 1 else None
                Recorder.events.append((name, test, extra))
            return record
        return super().__getattribute__(name)


class Broken(AbstractResultHandler):
    """Fails on the first test that starts."""

    NAME = "broken"
    calls = 0

    def start_test(self, test):
        Broken.calls += 1
        raise RuntimeError("the report broke")
