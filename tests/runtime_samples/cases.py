"""Sample cases run in process by tests/test_case.py, one class at a time."""
from __future__ import annotations

import unittest

from rotest_core import TestCase, TestSuite, request

from .lab import Device, Pinger, record

#: What the cases saw, for the tests to read: (label, value).
SEEN: list[tuple[str, object]] = []


class ExpectCase(TestCase):
    def test_expectations(self):
        self.expectEqual(1, 2)
        self.expectIn("x", "abc", msg="no x")
        self.expectTrue(True)
        self.expect(0, "zero is false")
        SEEN.append(("reached the end", True))


class ExpectThenErrorCase(TestCase):
    def test_expectation_then_error(self):
        self.expectEqual("a", "b")
        raise RuntimeError("boom")


class ExpectRaisesCase(TestCase):
    def test_callable_forms(self):
        self.expectRaises(ValueError, int, "x")   # passes
        self.expectRaises(ValueError, int, "1")   # fails: nothing raised
        self.expectRaisesRegex(ValueError, "invalid", int, "y")  # passes


class PassingExpectationsCase(TestCase):
    def test_all_pass(self):
        self.assertTrue(self.expectEqual(2, 2) and self.expectLess(1, 2))


class SuccessCase(TestCase):
    def test_messages(self):
        self.success("the device answered")
        self.assertEqual(2, 2, success_msg="two is two")
        self.expectIn(1, [1, 2], success_msg="one is in")
        self.assertRaises(ValueError, int, "x", success_msg="int refused x")
        self.assertTrue(False or True)  # no message without success_msg


class DeviceCase(TestCase):
    TAGS = ["lab"]
    dev = Device.request(name="dev1")
    pinger = Pinger.request(ip_address="10.9.9.9")

    def test_uses_device(self):
        SEEN.append(("dev", self.dev))
        self.assertEqual(self.dev.name, "dev1")
        self.assertEqual(self.dev.data.ip_address, "10.0.0.1")
        self.assertEqual(self.pinger.ip_address, "10.9.9.9")
        self.assertEqual(set(self.locked_resources), {"dev", "pinger"})
        self.assertIs(self.dev.logger, self.logger)
        self.logger.info("using %s", self.dev.name)


class OldStyleCase(TestCase):
    resources = [request("dev", Device, name="dev2")]

    def test_old_style(self):
        self.assertEqual(self.dev.name, "dev2")


class SetUpErrorCase(TestCase):
    dev = Device.request(name="dev1")

    def setUp(self):
        raise RuntimeError("setUp broke")

    def test_never_runs(self):
        SEEN.append(("ran", True))


class TearDownErrorCase(TestCase):
    dev = Device.request(name="dev1")

    def test_passes(self):
        pass

    def tearDown(self):
        raise RuntimeError("tearDown broke")


class FailingDeviceCase(TestCase):
    dev = Device.request(name="dev1")

    def test_fails(self):
        self.fail("the device said no")


class InTestRequestCase(TestCase):
    def test_request_and_release(self):
        got = self.request_resources([request("extra", Device, name="dev2")])
        SEEN.append(("extra", got["extra"]))
        self.assertIs(self.extra, got["extra"])
        SEEN.append(("held while testing", set(self.locked_resources)))
        self.release_resources(["extra"])
        SEEN.append(("held after release", set(self.locked_resources)))
        with self.assertRaises(KeyError):
            self.release_resources(["nothing"])


class ReuseCase(TestCase):
    """Methods run in name order: a and b pass, c fails, d passes."""

    dev = Device.request(name="dev1")

    def test_a_first(self):
        SEEN.append(("a", self.dev))

    def test_b_same_request(self):
        SEEN.append(("b", self.dev))

    def test_c_fails(self):
        SEEN.append(("c", self.dev))
        self.fail("left the device in a mess")

    def test_d_after_failure(self):
        SEEN.append(("d", self.dev))


class SubTestCase(TestCase):
    dev = Device.request(name="dev1")

    def test_subtests(self):
        for number in (1, 2):
            with self.subTest(number=number):
                self.assertEqual(number, 1)


class SkippedCase(TestCase):
    dev = Device.request(name="dev1")

    def test_skips(self):
        self.skipTest("not today")


class NeedsMissingDeviceCase(TestCase):
    dev = Device.request(name="no-such-device")

    def test_never_runs(self):
        SEEN.append(("ran", True))


class LoggingCase(TestCase):
    def test_logs(self):
        record("work_dir", str(self.work_dir))
        self.logger.debug("a debug line")
        self.logger.warning("a warning line")


class StateCase(TestCase):
    dev = Device.request(name="dev1")

    def test_fails(self):
        SEEN.append(("work_dir", self.work_dir))
        raise AssertionError("store my state")


class FirstCase(TestCase):
    TAGS = ["first"]

    def test_one(self):
        pass

    def test_two(self):
        pass


class SecondCase(TestCase):
    TAGS = ["second"]

    def test_three(self):
        self.fail("three failed")


class InnerSuite(TestSuite):
    TAGS = ["inner"]
    components = [SecondCase]


class OuterSuite(TestSuite):
    components = [FirstCase, InnerSuite]


@unittest.skip("the whole class")
class SkippedClassCase(TestCase):
    dev = Device.request(name="dev1")

    def test_skipped(self):
        SEEN.append(("ran", True))


class InterruptCase(TestCase):
    dev = Device.request(name="dev1")

    def test_interrupted(self):
        raise KeyboardInterrupt


class AfterInterruptCase(TestCase):
    def test_never_runs(self):
        SEEN.append(("ran", True))


class BrokenClassSetUpCase(TestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("class set-up broke")

    def test_never_runs(self):
        SEEN.append(("ran", True))
