"""Rotest's "Blocks code architecture" page, its examples ported by changing
the imports only (rotest.core.* -> rotest_core.*): inputs and outputs as
tuples and as BlockInput/BlockOutput, parametrize/params, common, modes,
share_data, sub-flows, create_flow, optional inputs as class fields, and a
flow's resources given to its blocks."""
from rotest_core import (MODE_CRITICAL, MODE_FINALLY, MODE_OPTIONAL, BaseResource, BlockInput,
                         BlockOutput, Pipe, TestBlock, TestFlow, request)
from rotest_core.flow import create_flow

from .lab import record


class SomeResourceClass(BaseResource):
    """A service standing for the page's resource."""

    def do_something(self, value, optional):
        record("do_something", f"{value}:{optional}")


LIMITATION = "lab-a"
INPUT_VALUE = 2


class DemoBlock1(TestBlock):
    def test_method(self):
        record("demo1", self.mode_name())

    def mode_name(self):
        return {MODE_CRITICAL: "critical", MODE_FINALLY: "finally",
                MODE_OPTIONAL: "optional"}[self.mode]


class DemoBlock2(TestBlock):
    """Shares a value with the blocks after it (the tuple form)."""

    outputs = ("shared_value",)

    def test_method(self):
        self.share_data(shared_value=10)


class DoSomethingBlock(TestBlock):
    """A block that does something."""

    mode = MODE_CRITICAL
    inputs = ("resource1", "input2")

    optional3 = 0

    def test_method(self):
        self.logger.info("Doing something")
        self.resource1.do_something(self.input2, self.optional3)


class DemoFlow(TestFlow):
    """Demo test-flow."""

    resources = (request("resource1", SomeResourceClass, some_limitation=LIMITATION),)

    common = {"input2": INPUT_VALUE}

    blocks = (DemoBlock1,
              DemoBlock2,
              DemoBlock1,
              DoSomethingBlock.params(optional3=5),
              DoSomethingBlock,
              DemoBlock1.params(mode=MODE_FINALLY))


class FailingBlock(TestBlock):
    def test_method(self):
        self.fail("this block fails")


class CreatedFlows(TestFlow):
    """create_flow's sub-flows, optional: a failure in one does not stop the other."""

    resources = (request("resource1", SomeResourceClass, some_limitation=LIMITATION),)

    blocks = (DemoBlock1,
              create_flow(name="TestSomethingFlow",
                          common={"input2": "value1"},
                          mode=MODE_OPTIONAL,
                          blocks=[FailingBlock,
                                  DoSomethingBlock.params(optional3=5)]),
              create_flow(name="TestSomethingFlow2",
                          common={"input2": "value2"},
                          mode=MODE_OPTIONAL,
                          blocks=[DoSomethingBlock,
                                  DoSomethingBlock.params(optional3=5)]),
              DemoBlock1.params(mode=MODE_FINALLY))


class ArgumentsBlock(TestBlock):
    """Optional inputs: default values as class fields."""

    mode = MODE_CRITICAL
    inputs = ("argument1", "argument2", "argument3")

    argument2 = 0  # Setting default value to 0
    argument3 = 1  # Setting default value to 1

    def test_method(self):
        record("arguments", f"{self.argument1},{self.argument2},{self.argument3}")


class AddBlock(TestBlock):
    """The newer form: BlockInput and BlockOutput, with a pipe."""

    a = BlockInput()
    b = BlockInput(default=1)
    total = BlockOutput()

    def test_method(self):
        self.total = self.a + self.b


class PrintBlock(TestBlock):
    value = BlockInput()

    def test_method(self):
        record("value", str(self.value))


class ArgumentsFlow(TestFlow):
    blocks = (ArgumentsBlock.params(argument1=5),
              ArgumentsBlock.params(argument1=5, argument2=3),
              ArgumentsBlock.params(argument1=5, argument3=4),
              ArgumentsBlock.parametrize(argument1=5, argument2=3, argument3=6),
              AddBlock.params(a=2),
              PrintBlock.params(value=Pipe("total")),
              AddBlock.params(a=Pipe("total", formula=lambda total: total * 10),
                              total=Pipe("bigger")),
              PrintBlock.params(value=Pipe("bigger")))


class SubFlow1(TestFlow):
    blocks = (FailingBlock, DemoBlock1)  # B runs only if A passed


class SubFlow2(TestFlow):
    blocks = (DemoBlock1, DemoBlock1.params(mode=MODE_OPTIONAL))


class SubFlowsFlow(TestFlow):
    blocks = (SubFlow1.params(mode=MODE_OPTIONAL),
              SubFlow2.params(mode=MODE_OPTIONAL))
