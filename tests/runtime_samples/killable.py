"""A run to kill part-way: eight tests end (three of them failing), then the
ninth says so in ``ROTEST_SAMPLE_DIR/reached`` and waits until killed, or
until ``ROTEST_SAMPLE_DIR/release`` appears (then it passes and the run goes
on to its tenth and failing eleventh test); with ``ROTEST_SAMPLE_DIR/no-hang``
it passes at once."""
from __future__ import annotations

import os
import time
from pathlib import Path

from rotest_core import TestCase


def _sample(name: str) -> Path:
    return Path(os.environ["ROTEST_SAMPLE_DIR"]) / name


class Steps(TestCase):
    def test_01(self):
        pass

    def test_02_fails(self):
        self.fail("two fails")

    def test_03(self):
        pass

    def test_04_fails(self):
        self.fail("four fails")

    def test_05(self):
        pass

    def test_06(self):
        pass

    def test_07_fails(self):
        self.fail("seven fails")

    def test_08(self):
        pass

    def test_09_hangs(self):
        if _sample("no-hang").exists():
            return
        _sample("reached").touch()
        deadline = time.monotonic() + 60
        while not _sample("release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def test_10(self):
        pass

    def test_11_fails(self):
        self.fail("eleven fails")
