"""A run every report writes, for the tests that the reports agree: every
outcome that counts in a pass rate, a failure whose message holds a bidi
control, and two flows that share a block class."""
import unittest

from rotest_core import TestBlock, TestCase, TestFlow

#: A right-to-left override: shown raw, the rest of its line reads reversed.
RLO = "\u202e"


class Mixed(TestCase):
    def test_passes(self):
        import sys
        print("said on stdout")
        print("said on stderr", file=sys.stderr)

    def test_skips(self):
        self.skipTest("not today")

    @unittest.expectedFailure
    def test_expected(self):
        self.fail("known")

    def test_fails(self):
        self.fail(f"reversed{RLO}txet")


class CalculateBlock(TestBlock):
    def test_method(self):
        pass


class FirstFlow(TestFlow):
    blocks = [CalculateBlock, CalculateBlock]


class SecondFlow(TestFlow):
    blocks = [CalculateBlock]


TESTS = [Mixed, FirstFlow, SecondFlow]
