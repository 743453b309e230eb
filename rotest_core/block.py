"""TestBlock: one step of a TestFlow, as in Rotest's ``rotest.core.block``::

    class AddBlock(TestBlock):
        calc = BlockInput()
        a = BlockInput()
        b = BlockInput(default=1)
        total = BlockOutput()

        def test_method(self):
            self.total = self.calc.calculate(f"{self.a} + {self.b}")

A block is a TestCase with a single test method: it sends the events of a
case (it is a row in every report, under its flow) and may lock resources of
its own. Its inputs are set as attributes before ``setUp``; its outputs are
shared with its flow when its test method ends well.
"""
from __future__ import annotations

import unittest
from typing import Any

from .case import TestCase
from .flow_component import (MODE_CRITICAL, MODE_FINALLY, MODE_OPTIONAL, BlockInput,
                             BlockOutput, FlowComponent, FlowDefinitionError, Pipe)

# unittest leaves this module's frames out of failure tracebacks, as its own.
__unittest = True

__all__ = ["BlockInput", "BlockOutput", "MODE_CRITICAL", "MODE_FINALLY", "MODE_OPTIONAL",
           "Pipe", "TestBlock"]


class TestBlock(FlowComponent, TestCase):
    """A block: one test method (any name unittest finds, as in Rotest;
    ``test_method`` by convention).

    Attributes:
        name: its name in reports, unique among its siblings.
        parent: the flow it is part of.
    """

    REPORT_KIND = "block"
    __test__ = False  # not a pytest test class; discovery never takes blocks alone

    def __init__(self, methodName: str | None = None, *, parent: Any = None) -> None:
        super().__init__(methodName or self.get_test_method_name())
        self.parent = parent
        self.name = type(self).get_name()
        self._init_component()

    @classmethod
    def get_test_method_name(cls) -> str:
        names = unittest.TestLoader().getTestCaseNames(cls)
        if len(names) != 1:
            raise FlowDefinitionError(
                f"block {cls.__name__} must have exactly one test method "
                f"(Rotest calls it test_method); it has {len(names)}: "
                f"{', '.join(names) or 'none'}")
        return names[0]

    @classmethod
    def _discoverable(cls) -> bool:
        return False  # a block runs in a flow only

    @classmethod
    def get_name(cls, method_name: str | None = None) -> str:
        """The block's name: its class name (``params(name=...)`` renames it)."""
        return cls.__name__

    def _set_up_with_resources(self) -> None:
        # TestCase's, with the inputs resolved once the block's own resources are in.
        self.request_resources([r for r in self.get_resource_requests()
                                if r.name not in self._parameters], use_previous=True)
        self._resolve_inputs()
        unittest.TestCase._callSetUp(self)

    def _resolve_inputs(self) -> None:
        """Defaults of the optional inputs not given, then the pipes."""
        for name, declared in self.get_inputs().items():
            if name in self._pipes:
                pipe = self._pipes[name]
                if not hasattr(self, pipe.parameter_name):
                    raise AttributeError(f"{self.name}: input {name!r} is piped from "
                                         f"{pipe.parameter_name!r}, which nothing set")
                setattr(self, name, pipe.get_value(getattr(self, pipe.parameter_name)))
            elif name not in self._parameters and name not in self.locked_resources:
                if not declared.is_optional():
                    raise AttributeError(f"{self.name}: input {name!r} was not given")
                setattr(self, name, declared.default)

    def _callTestMethod(self, method: Any) -> None:
        super()._callTestMethod(method)
        # Reached only when the method (and its expectations) passed.
        self.share_data(**self._outputs_to_share())
