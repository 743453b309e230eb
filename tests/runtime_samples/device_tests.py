"""Cases on lab devices, for -r, -S, -s and the exit status."""
import os
from pathlib import Path

from rotest_core import TestCase

from runtime_samples.lab import Device


def note(name: str, text: str) -> None:
    (Path(os.environ["ROTEST_SAMPLE_DIR"]) / name).write_text(text)


class DeviceTest(TestCase):
    dev = Device.request(name="dev1")

    def test_device(self):
        note("locked.txt", self.dev.name)


class AnyDeviceTest(TestCase):
    dev = Device.request()

    def test_any_device(self):
        note("locked.txt", self.dev.name)


class FailingDeviceTest(TestCase):
    dev = Device.request(name="dev1")

    def test_fails(self):
        note("work_dir.txt", str(self.work_dir))
        self.assertEqual(self.dev.name, "dev2")
