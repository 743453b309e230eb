"""Examples of Rotest's docs/ (more on testing, complex resources, monitors),
ported by changing the imports only:

    rotest.core -> rotest_core, rotest.management -> rotest_core.resources,
    rotest.core.result.monitor -> rotest_core.monitor
"""
from lab_plugin import DeviceData, PortData
from rotest_core import (AbstractResultHandler, BaseResource, BlockInput, TestBlock, TestCase,
                         TestFlow)
from rotest_core.monitor import (require_attr, skip_if_block, skip_if_case, skip_if_flow,
                                 skip_if_not_main)
from rotest_core.resources import DataPointer

from .lab import record


# --- more on testing: success messages ---------------------------------------

class SuccessTest(TestCase):
    def test_add(self):
        self.addSuccess("1 + 1 is 2")
        self.success("2 + 2 is 4")
        self.assertEqual(3 + 3, 6, success_msg="3 + 3 is 6")


# --- complex resources: DataPointer, services, unpack -----------------------

class Port(BaseResource):
    DATA_CLASS = PortData


class Pinger(BaseResource):
    """A service pointed at its parent's data."""

    def connect(self):
        super().connect()
        record("ping", self.data.address)


class PortProbe(BaseResource):
    """A service whose parameter is a field of a field (a chained pointer)."""

    def connect(self):
        super().connect()
        record("probe", str(self.data.number))


class Calculator(BaseResource):
    DATA_CLASS = DeviceData
    port = Port.request(data=DeviceData.port)
    pinger = Pinger.request(address=DataPointer("ip_address"))
    probe = PortProbe.request(number=DataPointer("port").number)


class MoreOnTestingTest(TestCase):
    """The page's test event methods, on the tutorial's calculator."""

    calc = Calculator(name="calc1")

    def test_add(self):
        self.success("One way to register success")
        # Or
        self.addSuccess("Another way to register success")

        value = int(self.calc.data.ip_address.split(".")[-1]) + 1  # the calculator's 1 + 1
        self.expectEqual(value, 2,
                         msg="Expected value 2, got %r" % value,
                         success_msg="Value is %r, as expected" % value)
        # Or
        self.assertEqual(value, 2,
                         msg="Expected value 2, got %r" % value,
                         success_msg="Value is %r, as expected" % value)

    def test_skipped(self):
        self.skip("no calculator today")


class Shell(BaseResource):
    def connect(self):
        super().connect()
        record("shell", str(self.data.pid))


class Leaf(BaseResource):
    pass


class SubProcess(BaseResource):
    """A service with a parameter, and a service of its own pointing at it."""

    shell = Shell.request(pid=DataPointer("process_id"))
    leaf = Leaf.request()


class ProcessOwner(BaseResource):
    process = SubProcess.request(process_id=DataPointer("process_id"))


class PointerTest(TestCase):
    calc = Calculator.request(name="calc1")
    owner = ProcessOwner.request(process_id=7)

    def test_pointers(self):
        self.assertEqual(self.calc.pinger.data.address, "10.0.0.1")
        self.assertEqual(self.calc.probe.data.number, 1)
        self.assertEqual(self.owner.process.shell.data.pid, 7)
        self.assertFalse(hasattr(self, "pinger"))  # not unpacked


class UnpackTest(TestCase):
    calc = Calculator.request(name="calc1").unpack()
    owner = ProcessOwner.request(process_id=8).unpack(recursive=True)

    def test_unpacked(self):
        self.assertIs(self.port, self.calc.port)
        self.assertIs(self.pinger, self.calc.pinger)
        self.assertIs(self.process, self.owner.process)
        self.assertIs(self.shell, self.owner.process.shell)  # recursive
        self.assertIs(self.leaf, self.owner.process.leaf)


class UnpackBlock(TestBlock):
    def test_method(self):
        self.assertEqual(self.port.name, "port1")


class UnpackFlow(TestFlow):
    calc = Calculator.request(name="calc1").unpack()
    blocks = [UnpackBlock]


# --- monitors: decorators of a handler's methods ----------------------------

class KindsHandler(AbstractResultHandler):
    """Notes which tests each decorated method was called for."""

    NAME = "kinds"
    calls = []

    @skip_if_case
    def start_test(self, test):
        KindsHandler.calls.append(("not a case", type(test).__name__))

    @skip_if_block
    def stop_test(self, test):
        KindsHandler.calls.append(("not a block", type(test).__name__))

    @skip_if_flow
    def start_composite(self, test):
        KindsHandler.calls.append(("not a flow", type(test).__name__))

    @skip_if_not_main
    def start_teardown(self, test):
        KindsHandler.calls.append(("main", type(test).__name__))

    @skip_if_not_main
    def stop_composite(self, test):
        KindsHandler.calls.append(("main", type(test).__name__))

    @require_attr("calc")
    def setup_finished(self, test):
        KindsHandler.calls.append(("has calc", type(test).__name__))


class MonitoredBlock(TestBlock):
    def test_method(self):
        pass


class MonitoredFlow(TestFlow):
    blocks = [MonitoredBlock]


class MonitoredCase(TestCase):
    calc = Calculator.request(name="calc1")

    def test_it(self):
        pass


# --- more on testing: the shell's examples ------------------------------------

class ResourceBlock(TestBlock):
    resource = BlockInput()
    parameter = BlockInput()

    def test_method(self):
        print(f"block: {self.resource.name} {self.parameter}")


class SomeTestCase(TestCase):
    def test_it(self):
        print("some test case ran")
