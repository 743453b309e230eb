"""A plain unittest module, as a team has it before moving to rotest: no
import of rotest at all. ``rotest run`` runs it with its runner and reports."""
import unittest

FIXTURES = []


def setUpModule():
    FIXTURES.append("module")


class ArithmeticTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        FIXTURES.append("class")

    def test_add(self):
        self.assertEqual(1 + 1, 2)

    def test_subtract(self):
        self.assertEqual(FIXTURES, ["module", "class"])  # each fixture ran once

    def test_wrong(self):
        self.assertEqual(2 * 2, 5, "two times two")

    @unittest.skip("not on this lab")
    def test_skipped(self):
        pass

    @unittest.expectedFailure
    def test_known_bug(self):
        self.assertTrue(False)


class NotATest:
    def test_nothing(self):
        raise AssertionError("not a TestCase: never collected")
