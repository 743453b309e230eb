"""Sample tests for ``--shard``: plain cases that split, a class with a class
fixture, a flow, testresources managers shared inside a suite, cases on one
lab device, and a few that fail (``SHARD_FAILS`` names them). Each test that
runs notes itself in ``ROTEST_SAMPLE_DIR`` (when set): a file named after its
id, holding the pid and, for the device's tests, when it held the device."""
from __future__ import annotations

import os
import time
from pathlib import Path

from rotest_core import TestBlock, TestCase, TestFlow, TestSuite
from rotest_core.testresources import ResourcedTestCase, TestResourceManager

from runtime_samples.lab import Device


def note(test_id: str, text: str = "") -> None:
    folder = os.environ.get("ROTEST_SAMPLE_DIR")
    if folder:
        (Path(folder) / test_id).write_text(f"{os.getpid()} {text}".strip())


def fails(name: str) -> bool:
    return name in os.environ.get("SHARD_FAILS", "").split(",")


class NotingCase(TestCase):
    def setUp(self):
        note(self.id())
        if fails(self._testMethodName):
            self.fail(f"{self._testMethodName} is told to fail (SHARD_FAILS)")


def _plain_methods(count: int) -> dict:
    return {f"test_{number:02d}": (lambda self: None) for number in range(count)}


PlainCase = type("PlainCase", (NotingCase,), {**_plain_methods(12),
                                              "__module__": __name__})


class FixtureCase(NotingCase):
    """Its class fixture runs in one shard: its tests stay together."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ready = True

    def test_fixture_a(self):
        assert self.ready

    def test_fixture_b(self):
        assert self.ready

    def test_fixture_c(self):
        assert self.ready


class Counter(TestResourceManager):
    """A testresources manager; its set-up is shared by the cases that need it."""

    setUpCost = 10

    def make(self, dependency_resources):
        return {"made": time.time()}


COUNTER = Counter()


class SharedCase(ResourcedTestCase):
    resources = [("counter", COUNTER)]

    def setUp(self):
        super().setUp()
        note(self.id())

    def test_shared_a(self):
        assert self.counter["made"]

    def test_shared_b(self):
        assert self.counter["made"]


class SharedSuite(TestSuite):
    components = [SharedCase]


class NoteBlock(TestBlock):
    def test_method(self):
        note(f"{type(self.parent).__name__}.{type(self).__name__}")


class SecondBlock(NoteBlock):
    pass


class SampleFlow(TestFlow):
    """A flow: one unit, never split."""

    blocks = [NoteBlock, SecondBlock]


class DeviceCase(TestCase):
    """Cases that hold dev1 a while: shards with them wait for one another."""

    dev = Device.request(name="dev1")
    HOLD = 0.3

    def _hold(self):
        began = time.time()
        time.sleep(self.HOLD)
        note(self.id(), f"{began} {time.time()}")

    def test_dev_a(self):
        self._hold()

    def test_dev_b(self):
        self._hold()

    def test_dev_c(self):
        self._hold()

    def test_dev_d(self):
        self._hold()


TESTS = [PlainCase, FixtureCase, SharedSuite, SampleFlow]
