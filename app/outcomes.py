"""The outcomes a test can end with: one vocabulary for the server, the
runtime and the reports (the lowest layer every other one may import)."""
from __future__ import annotations

__all__ = ["OUTCOMES", "PASSING"]

#: Worst first: a test with several (a failure, then an error in tearDown)
#: keeps the worst, and a suite or flow takes its worst test's.
OUTCOMES = ("error", "failure", "unexpected_success", "expected_failure", "skip",
            "success")
#: Outcomes that count as passing (the exit code, the pass rate, ``--delta``).
PASSING = frozenset({"success", "skip", "expected_failure"})
