"""Rotest's tutorial ("Using Resources") and README examples, ported by
changing the imports only: resources declared as ``calc = Calculator()`` in
the body of a test, a block and a flow, with a sub-resource and a service.

The models are lab_plugin's (the Django models rewritten for SQLAlchemy):
a device (Rotest's calculator) wired to a port (its sub-process).
"""
from lab_plugin import DeviceData, PortData
from rotest_core import BaseResource, TestBlock, TestCase, TestFlow

from .lab import record


class SubProcess(BaseResource):
    DATA_CLASS = PortData

    def connect(self):
        super().connect()
        record("connect", self.name)


class Pinger(BaseResource):
    """A service: no data class, its arguments given in the declaration."""

    def connect(self):
        super().connect()
        self.connected = True


class Calculator(BaseResource):
    DATA_CLASS = DeviceData
    # The tutorial's sub-resource: locked together with the calculator.
    sub_process = SubProcess.request(data=DeviceData.port)

    def connect(self):
        super().connect()
        self._rpyc = f"session to {self.data.ip_address}"
        record("connect", self.name)

    def calculate(self, expression):
        return eval(expression, {})  # the tutorial asks an RPyC server

    def finalize(self):
        super().finalize()
        self._rpyc = None
        record("finalize", self.name)


class AddTest(TestCase):
    calc = Calculator()

    def test_add(self):
        result = self.calc.calculate("1 + 1")
        self.assertEqual(result, 2)
        self.assertEqual(self.calc._rpyc, "session to 10.0.0.1")
        self.assertEqual(self.calc.sub_process.name, "port1")


class NamedCalcTest(TestCase):
    """Keyword arguments are the request's filters; a service's are its parameters."""

    calc = Calculator(name="calc2")
    pinger = Pinger(address="10.0.0.9")

    def test_named(self):
        self.assertEqual(self.calc.name, "calc2")
        self.assertIsNone(self.calc.sub_process)  # calc2 has no port
        self.assertTrue(self.pinger.connected)
        self.assertEqual(self.pinger.data.address, "10.0.0.9")


class CalculateBlock(TestBlock):
    """Uses the calculator its flow locked."""

    def test_method(self):
        self.assertEqual(self.calc.calculate("2 * 3"), 6)
        self.assertEqual(self.calc.name, "calc1")


class OwnCalculatorBlock(TestBlock):
    """Locks a calculator of its own."""

    other = Calculator(name="calc2")

    def test_method(self):
        self.assertEqual(self.other.name, "calc2")


class CalculateFlow(TestFlow):
    calc = Calculator(name="calc1")
    blocks = [CalculateBlock, OwnCalculatorBlock]
