"""The tests of Rotest's calculator tutorial.

Each TestCase requests a Calculator; the runner locks one (calc1 or calc2),
connects it and its sub-process, and gives it back after the test. The flow
locks one for its three blocks. Run with
``rotest run tests`` from the example's directory (see its README), or
``python tests/test_calculator.py``.
"""
from rotest_core import (BlockInput, BlockOutput, Pipe, TestBlock, TestCase, TestFlow,
                         TestSuite, main)

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


class CalculateBlock(TestBlock):
    """Evaluates an expression on the flow's calculator."""

    calc = BlockInput()
    expression = BlockInput()
    value = BlockOutput()

    def test_method(self):
        self.value = self.calc.calculate(self.expression)


class CheckBlock(TestBlock):
    """Compares a value with the one expected."""

    actual = BlockInput()
    expected = BlockInput()

    def test_method(self):
        self.assertEqual(self.actual, self.expected)


class CalculationFlow(TestFlow):
    """Rotest's blocks: the flow locks one calculator for all its blocks, and
    each calculation's result feeds the next one through a pipe."""

    calc = Calculator.request()
    blocks = [CalculateBlock.params(expression="2 + 3"),
              CalculateBlock.params(expression=Pipe("value", formula=lambda v: f"{v} * 10")),
              CheckBlock.params(actual=Pipe("value"), expected=50)]


if __name__ == "__main__":
    main()
