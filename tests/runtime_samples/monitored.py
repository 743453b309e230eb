"""Sample tests and monitors for tests/test_monitors.py."""
from __future__ import annotations

import threading
import time

from rotest_core import AbstractMonitor, AbstractResourceMonitor, TestCase, TestSuite
from rotest_core.result import describe

from runtime_samples.lab import Pinger
from runtime_samples.outcomes import HOSTILE

#: (monitor, test name, the test's phase, thread name) of every check.
CHECKS: list[tuple[str, str, str, str]] = []


class PhasedCase(TestCase):
    """Notes its phase, so a check can tell when it ran."""

    phase = "new"

    def setUp(self):
        self.phase = "setup"
        time.sleep(0.12)  # a monitor started too early would see this phase
        self.phase = "running"

    def tearDown(self):
        self.phase = "teardown"
        time.sleep(0.12)  # a monitor stopped too late would see this phase


class SlowCase(PhasedCase):
    def test_slow(self):
        time.sleep(0.3)


class HotCase(PhasedCase):
    pinger = Pinger.request(ip_address="10.9.9.9")

    def test_overheats(self):
        self.pinger.hot = True
        time.sleep(0.3)
        self.logger.info("still running after the monitor's failure")


class ColdCase(PhasedCase):
    pinger = Pinger.request(ip_address="10.9.9.9")

    def test_stays_cool(self):
        time.sleep(0.2)


class Suite(TestSuite):
    components = [SlowCase, HotCase]


TESTS = [Suite, ColdCase]


class Counting(AbstractMonitor):
    NAME = "counting"
    CYCLE = 0.05

    def run_monitor(self, test):
        CHECKS.append(("counting", describe(test), test.phase,
                       threading.current_thread().name))


class Heat(AbstractResourceMonitor):
    NAME = "heat"
    RESOURCE_NAME = "pinger"
    CYCLE = 0.05

    def run_monitor(self, test):
        CHECKS.append(("heat", describe(test), test.phase, type(self.resource).__name__))
        if getattr(self.resource, "hot", False):
            self.fail_test(test, f"the pinger overheated {HOSTILE}")


class Broken(AbstractMonitor):
    NAME = "broken-monitor"
    CYCLE = 0.05

    def run_monitor(self, test):
        CHECKS.append(("broken", describe(test), test.phase, ""))
        raise RuntimeError("the monitor fell over")


class NoCycle(AbstractMonitor):
    def run_monitor(self, test):
        pass
