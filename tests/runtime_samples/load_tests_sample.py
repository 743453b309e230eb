"""unittest's load_tests protocol: the module chooses its tests and order."""
import unittest


class Chosen(unittest.TestCase):
    def test_a(self):
        pass

    def test_b(self):
        pass

    def test_left_out(self):
        raise AssertionError("load_tests leaves this one out")


def load_tests(loader, tests, pattern):
    assert isinstance(loader, unittest.TestLoader)
    assert tests.countTestCases() == 3  # the module's standard tests
    return unittest.TestSuite([Chosen("test_b"), unittest.TestSuite([Chosen("test_a")])])
