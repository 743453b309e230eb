"""Blocks and flows for the flow tests: each block notes its run in ``RAN``."""
import time

from rotest_core import (MODE_FINALLY, MODE_OPTIONAL, BlockInput, BlockOutput, Pipe,
                         TestBlock, TestFlow, create_flow, request)

from runtime_samples.lab import Device

#: (block name, values it saw), in running order.
RAN: list[tuple[str, dict]] = []


class PassBlock(TestBlock):
    def test_method(self):
        RAN.append((self.name, {}))


class FailBlock(TestBlock):
    def test_method(self):
        RAN.append((self.name, {}))
        self.fail("failed on purpose")


class ErrorBlock(TestBlock):
    def test_method(self):
        RAN.append((self.name, {}))
        raise RuntimeError("erred on purpose")


BEHAVIOUR = {"success": PassBlock, "failure": FailBlock, "error": ErrorBlock}


class AddBlock(TestBlock):
    """total = a + b."""

    a = BlockInput()
    b = BlockInput(default=1)
    total = BlockOutput()

    def test_method(self):
        RAN.append((self.name, {"a": self.a, "b": self.b}))
        self.total = self.a + self.b


class ReadBlock(TestBlock):
    """Notes what it got."""

    value = BlockInput()

    def test_method(self):
        RAN.append((self.name, {"value": self.value}))


class ArithmeticFlow(TestFlow):
    """Pipes with and without formulas, outputs renamed by a pipe."""

    TAGS = ["arith"]
    common = {"a": 1}
    blocks = [AddBlock,                                                   # 1 + 1 = 2
              ReadBlock.params(value=Pipe("total")),                       # 2
              AddBlock.params(a=Pipe("total", formula=lambda t: t * 10)),  # 20 + 1 = 21
              ReadBlock.params(value=Pipe("total", formula=str)),          # "21"
              AddBlock.params(b=5, total=Pipe("other", formula=lambda t: -t)),  # 1+5 -> other=-6
              ReadBlock.params(value=Pipe("other")),                       # -6
              ReadBlock.params(value=Pipe("total"))]                       # still 21


class DeviceBlock(TestBlock):
    """Uses the flow's device."""

    dev = BlockInput()

    def test_method(self):
        RAN.append((self.name, {"dev": self.dev.name}))


class LockForSiblingsBlock(TestBlock):
    """Locks a device for the blocks after it, through its flow."""

    def test_method(self):
        got = self.parent.request_resources([request("spare", Device, name="dev2")])
        RAN.append((self.name, {"spare": got["spare"].name}))


class SpareBlock(TestBlock):
    def test_method(self):
        RAN.append((self.name, {"spare": self.spare.name}))


class OwnDeviceBlock(TestBlock):
    """Locks a device of its own (its siblings do not get it)."""

    mine = Device.request(name="dev2")

    def test_method(self):
        RAN.append((self.name, {"mine": self.mine.name}))


class SeesNoOwnDevice(TestBlock):
    def test_method(self):
        RAN.append((self.name, {"mine": hasattr(self, "mine")}))


class DeviceFlow(TestFlow):
    dev = Device.request(name="dev1")
    blocks = [DeviceBlock, OwnDeviceBlock, SeesNoOwnDevice, LockForSiblingsBlock,
              SpareBlock, DeviceBlock]


class FailingDeviceFlow(TestFlow):
    dev = Device.request(name="dev1")
    blocks = [DeviceBlock, FailBlock]


class NestedFlow(TestFlow):
    """Sub-flows (optional), as in Rotest's documentation."""

    common = {"value": "outer"}
    blocks = [create_flow([FailBlock, PassBlock], name="First", mode=MODE_OPTIONAL),
              create_flow([PassBlock, ReadBlock], name="Second", mode=MODE_OPTIONAL,
                          common={"value": "inner"}),
              ReadBlock,
              ReadBlock.params(value="own", mode=MODE_FINALLY)]


class HangBlock(TestBlock):
    def test_method(self):
        time.sleep(60)


class HangingFlow(TestFlow):
    """Overruns its TIMEOUT: under ``-p`` the runner stops it."""

    TIMEOUT = 0.5
    blocks = [PassBlock, HangBlock]
