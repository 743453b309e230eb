"""Cases and a suite with tags and no resources: listing, filters, failfast."""
from rotest_core import TestCase, TestSuite


class AddCase(TestCase):
    TAGS = ["smoke", "calc"]

    def test_add(self):
        self.assertEqual(1 + 1, 2)

    def test_add_negative(self):
        self.assertEqual(-1 + -1, -2)


class DivideCase(TestCase):
    TAGS = ["calc"]

    def test_divide(self):
        self.assertEqual(4 / 2, 2)

    def test_divide_by_zero(self):
        self.assertEqual(1 / 1, 0, "one over one is not zero")


class CalcSuite(TestSuite):
    TAGS = ["nightly"]
    components = [AddCase, DivideCase]


class SlowCase(TestCase):
    TAGS = ["slow"]

    def test_slow(self):
        self.skipTest("too slow today")


class HelperBase(TestCase):
    """No test methods: a base, not a test."""

    def check(self):
        return True


class NotCollected(TestCase):
    __test__ = False

    def test_not_collected(self):
        raise AssertionError("must not run")
