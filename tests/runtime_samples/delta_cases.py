"""Tests for ``--delta``: some always pass, some always fail, some fail a
given number of times first (flaky); a setUpClass that fails while told to.

``FAILS_LEFT`` says how many more times each flaky test fails; ``RAN`` lists
the paths of the tests that ran, in order. :func:`reset` sets them up.
"""
from __future__ import annotations

from rotest_core import TestCase, TestSuite

RAN: list[str] = []
FAILS_LEFT: dict[str, int] = {}
SETUP_CLASS_FAILS = {"left": 0}


def reset(**fails_left: int) -> None:
    RAN.clear()
    FAILS_LEFT.clear()
    FAILS_LEFT.update(fails_left)
    SETUP_CLASS_FAILS["left"] = 0


class Recorded(TestCase):
    def setUp(self):
        super().setUp()
        from rotest_core.delta import test_path
        RAN.append(test_path(self))

    def flaky(self, name: str) -> None:
        if FAILS_LEFT.get(name, 0) > 0:
            FAILS_LEFT[name] -= 1
            self.fail(f"{name} fails {FAILS_LEFT[name]} more time(s)")


class OuterCase(Recorded):
    def test_passes(self):
        pass

    def test_always_fails(self):
        self.fail("always")

    def test_flaky(self):
        self.flaky("outer")


class InnerCase(Recorded):
    def test_passes(self):
        pass

    def test_errors_while_told(self):
        if FAILS_LEFT.get("inner", 0) > 0:
            FAILS_LEFT["inner"] -= 1
            raise RuntimeError("inner error")


class InnerSuite(TestSuite):
    components = [InnerCase]


class OuterSuite(TestSuite):
    components = [OuterCase, InnerSuite]


class TopCase(Recorded):
    def test_flaky(self):
        self.flaky("top")


class SetUpClassCase(Recorded):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if SETUP_CLASS_FAILS["left"] > 0:
            SETUP_CLASS_FAILS["left"] -= 1
            raise RuntimeError("setUpClass failed")

    def test_one(self):
        pass

    def test_two(self):
        pass


class SetUpSuite(TestSuite):
    components = [SetUpClassCase]


TESTS = [OuterSuite, TopCase, SetUpSuite]
M = __name__  # tests are known by module-qualified paths
ALL = [f"OuterSuite/{M}.OuterCase.test_always_fails",
       f"OuterSuite/{M}.OuterCase.test_flaky",
       f"OuterSuite/{M}.OuterCase.test_passes",
       f"OuterSuite/InnerSuite/{M}.InnerCase.test_errors_while_told",
       f"OuterSuite/InnerSuite/{M}.InnerCase.test_passes",
       f"{M}.TopCase.test_flaky",
       f"SetUpSuite/{M}.SetUpClassCase.test_one",
       f"SetUpSuite/{M}.SetUpClassCase.test_two"]
