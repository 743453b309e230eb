"""A run with every kind of outcome, nested suites and hostile strings: the
sample every report handler is tested on."""
from __future__ import annotations

import logging
import unittest

from rotest_core import TestCase, TestSuite

#: Text no report format takes as it is: NUL and other control characters,
#: ANSI colour codes, a CDATA end, markup, a lone surrogate, non-ASCII.
HOSTILE = "nul\x00 bell\x07 esc\x1b[31mred\x1b[0m ]]> <b>&amp; \ud800 שלום ✓ 日本"


class PassingCase(TestCase):
    """Cases that pass, one with success messages."""

    TAGS = ["smoke"]

    def test_passes(self):
        """Adds two numbers."""
        self.assertEqual(1 + 1, 2)

    def test_with_messages(self):
        self.logger.info("a line in the test's log")
        self.success("the answer was right")


class ProblemCase(TestCase):
    """Every way a test can end badly."""

    def test_fails(self):
        self.assertEqual(1, 2, "one is not two")

    def test_errors(self):
        raise RuntimeError("the device fell over")

    @unittest.skip("not on this bench")
    def test_skipped(self):
        pass

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertTrue(False)

    @unittest.expectedFailure
    def test_unexpected_success(self):
        pass


class HostileCase(TestCase):
    """Strings that break naive reports."""

    def test_hostile_failure(self):
        logging.getLogger("rotest.test").info("x")
        self.logger.info("log: %s", HOSTILE)
        self.fail(HOSTILE)

    def test_huge_traceback(self):
        raise ValueError("x" * (1024 * 1024))

    def test_ünïcödé_name(self):
        self.logger.info("ok: %s", HOSTILE)


class InnerSuite(TestSuite):
    components = [ProblemCase]


class OuterSuite(TestSuite):
    TAGS = ["nightly"]
    components = [PassingCase, InnerSuite]


#: The run's top-level tests: run([*TESTS], ...).
TESTS = [OuterSuite, HostileCase]

#: What each test ends with, by "Class.method".
EXPECTED = {
    "PassingCase.test_passes": "success",
    "PassingCase.test_with_messages": "success",
    "ProblemCase.test_fails": "failure",
    "ProblemCase.test_errors": "error",
    "ProblemCase.test_skipped": "skip",
    "ProblemCase.test_expected_failure": "expected_failure",
    "ProblemCase.test_unexpected_success": "unexpected_success",
    "HostileCase.test_hostile_failure": "failure",
    "HostileCase.test_huge_traceback": "error",
    "HostileCase.test_ünïcödé_name": "success",
}
