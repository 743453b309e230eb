"""A small tree split into shards by tags (``-f a``, ``-f b``) for
``rotest report merge``: every outcome, a suite, a flow that locks a device
for its blocks, and a class whose setUpClass fails in both shards.

``ROTEST_HOLD`` (seconds, default 0) is how long the device tests hold dev1:
two runs of them at once make one wait for the other.
"""
import os
import time
import unittest

from rotest_core import TestBlock, TestCase, TestFlow, TestSuite

from runtime_samples.lab import Device

HOLD = float(os.environ.get("ROTEST_HOLD", "0"))


class OutcomesA(TestCase):
    TAGS = ["a"]

    def test_passes(self):
        self.assertTrue(True)

    def test_fails(self):
        self.assertEqual(1, 2, "one is not two")

    def test_errs(self):
        raise RuntimeError("erred on purpose")


class OutcomesB(TestCase):
    TAGS = ["b"]

    def test_skips(self):
        self.skipTest("not today")

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertEqual(1, 2)

    def test_passes_too(self):
        self.assertTrue(True)


class DeviceCase(TestCase):
    """Holds dev1 for ROTEST_HOLD seconds."""

    TAGS = ["b", "device"]
    dev = Device.request(name="dev1")

    def test_holds_the_device(self):
        time.sleep(HOLD)


class DeviceCaseA(TestCase):
    """Holds dev1 for ROTEST_HOLD seconds, in the other shard."""

    TAGS = ["a", "device"]
    dev = Device.request(name="dev1")

    def test_holds_the_device_too(self):
        time.sleep(HOLD)


class BrokenFixture(TestCase):
    """setUpClass fails: each shard with one of its tests meets it."""

    @classmethod
    def setUpClass(cls):
        raise RuntimeError("the class fixture broke")

    def test_in_a(self):
        """Tagged a (by its method's name)."""

    def test_in_b(self):
        """Tagged b."""


class Nightly(TestSuite):
    components = [OutcomesA, OutcomesB]


class PassBlock(TestBlock):
    def test_method(self):
        self.assertTrue(self.dev.name)


class DeviceFlow(TestFlow):
    """Locks dev2 once, for both blocks."""

    TAGS = ["a", "device"]
    dev = Device.request(name="dev2")
    blocks = [PassBlock, PassBlock]
