"""Runs for the file reports' tests: a test re-run in the same run, probes
that open a report mid-run, and many generated trivial tests."""
from __future__ import annotations

import unittest
from pathlib import Path

from rotest_reports import record
from rotest_core import TestCase

#: How many times each FlakyCase test ran, by method name.
ATTEMPTS: dict[str, int] = {}
#: What the probes saw: report file name -> its bytes, or None if absent.
SEEN: dict[str, bytes | None] = {}


class FlakyCase(TestCase):
    """Run twice in one run (listed twice), as ``--delta`` re-runs do."""

    def _attempt(self) -> int:
        name = self._testMethodName
        ATTEMPTS[name] = ATTEMPTS.get(name, 0) + 1
        return ATTEMPTS[name]

    def test_fails_then_passes(self):
        self.assertGreater(self._attempt(), 1, "first attempt fails")

    def test_errors_then_passes(self):
        if self._attempt() == 1:
            raise ConnectionError("the device was not ready")

    def test_always_fails(self):
        self.fail(f"attempt {self._attempt()} fails too")

    def test_passes(self):
        self._attempt()


class FirstCase(TestCase):
    def test_first(self):
        self.assertTrue(True)


class ProbeCase(TestCase):
    """Reads the run's report files while the run goes on."""

    FILES = ("junit.xml", "results.xlsx")

    def test_probe(self):
        for name in self.FILES:
            path = Path(self.context.run_dir) / name
            SEEN[name] = path.read_bytes() if path.exists() else None


def trivial_cases(count: int, per_class: int = 2) -> list[type]:
    """``count`` generated case classes, each with ``per_class`` tests that
    pass, fail or skip in turn."""
    def passes(self):
        pass

    def fails(self):
        self.fail("generated failure")

    def skips(self):
        self.skipTest("generated skip")

    bodies = (passes, fails, skips)
    return [type(f"Generated{index:05d}", (TestCase,),
                 {f"test_{number}": bodies[(index + number) % 3]
                  for number in range(per_class)} | {"__module__": __name__})
            for index in range(count)]


class FormulaCase(TestCase):
    """=HYPERLINK("http://example.invalid", "click")"""

    @unittest.skip('=1+1')
    def test_formula_reason(self):
        pass


def one_test_run(text: str, outcome: str) -> record.RunRecord:
    """A run of one test whose name, traceback, info and host are ``text``."""
    moment = record.now()
    root = record.TestRecord(name="run", kind="suite", classname="")
    test = record.TestRecord(name=f"Case.{text}", kind="case", classname="module.Case",
                      parent=root, start=moment, end=moment, own_outcome=outcome,
                      details=[(outcome, text)], infos=[text])
    root.children.append(test)
    return record.RunRecord(name=text, root=root, start=moment, end=moment,
                     environment={"host": text})
