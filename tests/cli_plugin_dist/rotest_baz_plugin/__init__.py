"""Rotest's CLI plugin example: a --baz option, and an action before the run."""
import os

from rotest_core import AbstractResultHandler
from rotest_core.monitor import AbstractMonitor, skip_if_not_main


def add_baz(parser):
    # Written as Rotest's hooks are (argparse's add_argument).
    parser.add_argument("--baz", action="store_true", help="Print baz before the run.")
    parser.add_option("--qux", default="none", help="A click option.")


def before_run(tests, config):
    if config.baz:
        print(f"baz: {len(tests)} test class(es), qux={config.qux}")
    os.environ["BAZ_SEEN"] = str(config.baz)  # the tests read it back


class CountingHandler(AbstractResultHandler):
    """Counts the tests that passed; says so at the end of the run."""

    NAME = "baz_counter"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def add_success(self, test):
        self.passed += 1

    def stop_test_run(self):
        print(f"baz_counter: {self.passed} passed")


class WatchMonitor(AbstractMonitor):
    """Fails every main test it watches, once."""

    NAME = "baz_watch"
    CYCLE = 0.05

    def run_monitor(self, test):
        self.fail_test(test, "the watch saw something")

    @skip_if_not_main
    def start_test(self, test):
        print(f"baz_watch: watching {test}")
