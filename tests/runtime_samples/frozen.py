"""A test that holds dev1 until ``ROTEST_SAMPLE_DIR/resume`` appears: the test
process is frozen (SIGSTOP) meanwhile, past its lock session's lease."""
import os
import time
from pathlib import Path

from rotest_core import TestCase

from runtime_samples.lab import Device


class FrozenTest(TestCase):
    dev = Device.request(name="dev1")

    def test_holds_dev1(self):
        folder = Path(os.environ["ROTEST_SAMPLE_DIR"])
        (folder / "started").write_text("yes")
        deadline = time.monotonic() + 120
        while not (folder / "resume").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
