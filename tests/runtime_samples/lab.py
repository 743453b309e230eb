"""Resources the sample tests use: lab_plugin's devices, counting each step.

Steps go to ``STEPS`` (in process) and, when ``ROTEST_SAMPLE_DIR`` is set, as
lines to ``steps.log`` in that folder (from a ``rotest run`` subprocess).
"""
from __future__ import annotations

import os
from pathlib import Path

from lab_plugin import DeviceData
from rotest_core import BaseResource

STEPS: list[tuple[str, str]] = []


def record(step: str, name: str) -> None:
    STEPS.append((step, name))
    folder = os.environ.get("ROTEST_SAMPLE_DIR")
    if folder:
        with open(Path(folder) / "steps.log", "a", encoding="utf-8") as log:
            log.write(f"{step} {name}\n")


def count(step: str, name: str | None = None) -> int:
    return sum(1 for s, n in STEPS if s == step and name in (None, n))


class Device(BaseResource):
    """A lab_plugin device that records connect, initialize, finalize and
    store_state."""

    DATA_CLASS = DeviceData

    def connect(self) -> None:
        super().connect()
        record("connect", self.name)

    def initialize(self) -> None:
        super().initialize()
        record("initialize", self.name)

    def finalize(self) -> None:
        super().finalize()
        record("finalize", self.name)

    def store_state(self, state_dir) -> None:
        super().store_state(state_dir)
        (Path(state_dir) / "device.txt").write_text(f"{self.name} was here\n")
        record("store_state", self.name)


class Pinger(BaseResource):
    """A service: built from its request's arguments, never locked."""

    def connect(self) -> None:
        super().connect()
        record("connect", "pinger")
