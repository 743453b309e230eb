"""Failures whose ~10 KB tracebacks make backtracking patterns run for ever:
``(.*,){14}X`` on a line of commas, ``(\\s|\\s)*X`` on a run of blanks. The
``_then_x`` cases end with the X those patterns look for."""
from __future__ import annotations

from rotest_core import TestCase

#: Lines before the error's own, so the traceback is about 10 KB.
FRAMES = "".join(f'  File "lab/step_{i}.py", line {i}, in step_{i}\n    run_{i}()\n'
                 for i in range(160))
COMMAS = "device answered " + "a," * 40
BLANKS = "device answered" + " \t" * 2000


class CommaCase(TestCase):
    def test_commas(self):
        self.fail(FRAMES + COMMAS)

    def test_commas_then_x(self):
        self.fail(FRAMES + COMMAS + "X")


class BlankCase(TestCase):
    def test_blanks(self):
        self.fail(FRAMES + BLANKS + ".")

    def test_blanks_then_x(self):
        self.fail(FRAMES + BLANKS + "X")
