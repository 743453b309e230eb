"""Sample tests for parallel runs (``-p``): tests on lab devices, free tests,
and every way a worker can go wrong. Each test that runs notes which process
ran it in ``ROTEST_SAMPLE_DIR`` (when set), as ``<Class>.<method>`` = pid."""
from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import time
from pathlib import Path

from rotest_core import TestCase, TestSuite

from runtime_samples.lab import Device


def note(test: TestCase) -> None:
    folder = os.environ.get("ROTEST_SAMPLE_DIR")
    if folder:
        (Path(folder) / test.get_name(test._testMethodName)).write_text(str(os.getpid()))


class NotingCase(TestCase):
    """Notes itself, then does its part."""

    def setUp(self):
        note(self)


class Dev1Case(NotingCase):
    dev = Device.request(name="dev1")

    def test_one(self):
        time.sleep(0.1)

    def test_two(self):
        self.success(f"on {self.dev.name}")

    def test_three(self):
        time.sleep(0.1)


class Dev2Case(NotingCase):
    dev = Device.request(name="dev2")

    def test_one(self):
        time.sleep(0.1)

    def test_fails(self):
        self.assertEqual(self.dev.name, "dev1")


class FreeCase(NotingCase):
    def test_a(self):
        time.sleep(0.1)

    def test_b(self):
        time.sleep(0.1)

    def test_c(self):
        time.sleep(0.1)

    def test_d(self):
        time.sleep(0.1)


class LabSuite(TestSuite):
    components = [Dev1Case, Dev2Case]


class HangsCase(NotingCase):
    TIMEOUT = 0.5
    dev = Device.request(name="dev1")

    def test_hangs(self):
        time.sleep(60)


class ExitsCase(NotingCase):
    dev = Device.request(name="dev2")

    def test_exits(self):
        os._exit(7)


class SegfaultCase(NotingCase):
    dev = Device.request(name="dev1")

    def test_segfault(self):
        faulthandler.disable()  # pytest's would print every thread's stack
        ctypes.string_at(0)  # reads address 0: SIGSEGV


class KilledCase(NotingCase):
    dev = Device.request(name="dev2")

    def test_killed(self):
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer does


class FailsFirstCase(NotingCase):
    def test_fails_first(self):
        self.fail("the first failure")


class SleepsOnDev1Case(NotingCase):
    """For Ctrl-C: holds a device and sleeps until interrupted."""

    dev = Device.request(name="dev1")

    def test_sleeps(self):
        Path(os.environ["ROTEST_SAMPLE_DIR"], "started-dev1").write_text("yes")
        time.sleep(60)


class SleepsOnDev2Case(SleepsOnDev1Case):
    dev = Device.request(name="dev2")

    def test_sleeps(self):
        Path(os.environ["ROTEST_SAMPLE_DIR"], "started-dev2").write_text("yes")
        time.sleep(60)


class NeverReachedCase(NotingCase):
    def test_never_reached(self):
        pass


class BadClassSetUpCase(NotingCase):
    """Its setUpClass fails: reported once, its tests not run (as serially)."""

    @classmethod
    def setUpClass(cls):
        raise RuntimeError("no bench today")

    def test_1(self):
        pass

    def test_2(self):
        pass

    def test_3(self):
        pass


class ClassFixtureCase(NotingCase):
    """Its class fixture runs once: its tests share one worker."""

    set_ups = 0

    @classmethod
    def setUpClass(cls):
        cls.set_ups += 1

    @classmethod
    def tearDownClass(cls):
        raise ValueError(f"torn down after {cls.set_ups} set-up")

    def test_1(self):
        time.sleep(0.05)

    def test_2(self):
        time.sleep(0.05)

    def test_3(self):
        time.sleep(0.05)


class DeafCase(NotingCase):
    """Overruns and ignores SIGTERM (as a test stuck in C code would)."""

    TIMEOUT = 0.5
    dev = Device.request(name="dev2")

    def test_deaf(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        time.sleep(60)


class AnyDeviceCase(NotingCase):
    """Wants any device: as many at once as the lab has free devices."""

    dev = Device.request()

    def tearDown(self):
        folder = os.environ.get("ROTEST_SAMPLE_DIR")
        if folder:
            with open(Path(folder) / "devices.log", "a", encoding="utf-8") as log:
                log.write(f"{os.getpid()} {self.dev.name}\n")

    def test_1(self):
        time.sleep(0.2)

    def test_2(self):
        time.sleep(0.2)

    def test_3(self):
        time.sleep(0.2)

    def test_4(self):
        time.sleep(0.2)


class WholeSuite(TestSuite):
    """Runs whole in one worker, as a flow does (``RUN_AS_UNIT``)."""

    RUN_AS_UNIT = True
    components = [FreeCase, Dev2Case]


class WholeCrashingSuite(TestSuite):
    """Runs whole; its worker dies in its second case."""

    RUN_AS_UNIT = True
    components = [Dev1Case, ExitsCase, FreeCase]
