"""The outcomes a test can end with: one vocabulary for the server, the
runtime and the reports (the lowest layer every other one may import)."""
from __future__ import annotations

__all__ = ["OUTCOMES", "PASSING", "pass_rate"]

#: Worst first: a test with several (a failure, then an error in tearDown)
#: keeps the worst, and a suite or flow takes its worst test's.
OUTCOMES = ("error", "failure", "unexpected_success", "expected_failure", "skip",
            "success")
#: Outcomes that count as passing (the exit code, the pass rate, ``--delta``).
PASSING = frozenset({"success", "skip", "expected_failure"})
#: Outcomes that count as passed in the pass rate; skips are left out of it.
PASSED = frozenset({"success", "expected_failure"})


def pass_rate(counts: dict[str, int]) -> float | None:
    """The one pass rate of a run, in every report: tests that passed (success,
    expected failure) out of those that ran, skips left out (they did not run);
    None when none ran."""
    ran = sum(counts.values()) - counts.get("skip", 0)
    return sum(counts.get(outcome, 0) for outcome in PASSED) / ran if ran else None
