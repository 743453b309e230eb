"""A test that holds dev1 and sleeps until it is interrupted."""
import os
import time
from pathlib import Path

from rotest_core import TestCase

from runtime_samples.lab import Device


class SleepyTest(TestCase):
    dev = Device.request(name="dev1")

    def test_sleeps(self):
        (Path(os.environ["ROTEST_SAMPLE_DIR"]) / "started").write_text("yes")
        time.sleep(60)


class NeverReachedTest(TestCase):
    def test_never(self):
        (Path(os.environ["ROTEST_SAMPLE_DIR"]) / "reached").write_text("yes")
