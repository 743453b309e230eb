"""The tests of Rotest's calculator tutorial, as plain pytest tests.

Run ``pytest`` from the example's directory (``bash scripts/example.sh`` does,
after ``rotest run tests``); ``-m calc1`` runs the tests that use calc1.
"""
from calculator_resources import Calculator


def test_add(calc):
    assert calc.calculate("1 + 2") == 3


def test_multiply(calc):
    assert calc.calculate("2 * 3") == 6


def test_multiply_in_a_sub_process(calc):
    assert calc.sub_process.run("6 * 7") == "42"


class TestMath:
    """initialize() imported math on the server, once for the class."""

    def test_square_root(self, calc1):
        assert calc1.calculate("math.sqrt(16)") == 4.0

    def test_power(self, calc1):
        assert calc1.calculate("math.pow(2, 10)") == 1024.0


def test_both_calculators(rotest_lock):
    """Both at once, locked together inside the test."""
    both = rotest_lock(left=Calculator.request(), right=Calculator.request())
    assert {both.left.name, both.right.name} == {"calc1", "calc2"}
    assert both.left.calculate("7 - 2") == both.right.calculate("10 / 2")
