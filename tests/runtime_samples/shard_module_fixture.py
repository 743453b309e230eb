"""A module with a module fixture: its cases go to one shard together."""
from __future__ import annotations

from rotest_core import TestCase

from runtime_samples.shard_samples import note

READY: list[bool] = []


def setUpModule():
    READY.append(True)


class FirstModuleCase(TestCase):
    def setUp(self):
        note(self.id())

    def test_first(self):
        assert READY


class SecondModuleCase(FirstModuleCase):
    def test_second(self):
        assert READY
