"""The tests of Rotest's calculator tutorial.

Each TestCase requests a Calculator; the runner locks one (calc1 or calc2),
connects it and its sub-process, and gives it back after the test. Run with
``rotest run tests`` from the example's directory (see its README), or
``python tests/test_calculator.py``.
"""
from rotest_core import TestCase, TestSuite, main

from calculator_resources import Calculator


class AddTest(TestCase):
    """Addition on the remote calculator."""

    calc = Calculator.request()

    def test_add(self):
        result = self.calc.calculate("1 + 2")
        self.assertEqual(result, 3)


class MultiplyTest(TestCase):
    """Multiplication, on the server and in a process of its own."""

    calc = Calculator.request()

    def test_multiply(self):
        result = self.calc.calculate("2 * 3")
        self.assertEqual(result, 6)

    def test_multiply_in_a_sub_process(self):
        self.assertEqual(self.calc.sub_process.run("6 * 7"), "42")


class MathTest(TestCase):
    """initialize() imported math on the server for this connection."""

    calc = Calculator.request(name="calc1")

    def test_square_root(self):
        self.assertEqual(self.calc.calculate("math.sqrt(16)"), 4.0)


class CalculatorSuite(TestSuite):
    """All of the above, as one suite."""

    components = [AddTest, MultiplyTest, MathTest]


if __name__ == "__main__":
    main()
