"""The console report handlers: ``tree`` (the default), ``dots`` and ``full``.

Each prints as the run goes, then the failures and errors with their
tracebacks and a summary line, as unittest does. Colour only on a terminal.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

from rotest_app.engine.outcomes import OUTCOMES

from .result import AbstractResultHandler, describe

WORDS = {"error": "ERROR", "failure": "FAIL", "unexpected_success": "UNEXPECTED SUCCESS",
         "expected_failure": "EXPECTED FAILURE", "skip": "SKIP", "success": "OK"}
COLOURS = {"error": 31, "failure": 31, "unexpected_success": 31,
           "expected_failure": 33, "skip": 33, "success": 32}
RANK = {kind: rank for rank, kind in enumerate(OUTCOMES)}  # 0: the worst


def printable(text: str, stream: Any) -> str:
    """``text`` as ``stream`` can write it: lone surrogates (a test's name may
    hold one) and characters its encoding lacks become backslash escapes."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    return text


class StreamHandler(AbstractResultHandler):
    """Keeps each test's outcome; prints the problems and a summary at the end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.colour = bool(getattr(self.stream, "isatty", lambda: False)())
        self.outcomes: dict[int, str] = {}
        self.counts: Counter[str] = Counter()
        self.problems: list[tuple[str, Any, str]] = []
        self.tests_run = 0
        self.resources: Counter[str] = Counter()  # made, reset, cleaned
        self.started = time.monotonic()

    # --- printing ----------------------------------------------------------

    def write(self, text: str = "", end: str = "\n") -> None:
        self.stream.write(printable(text + end, self.stream))
        self.stream.flush()

    def paint(self, text: str, kind: str) -> str:
        return f"\033[{COLOURS[kind]}m{text}\033[0m" if self.colour else text

    # --- outcomes ----------------------------------------------------------

    def outcome(self, test: Any, kind: str, text: str | None = None) -> None:
        """Called for every outcome event; ``text`` is a traceback or a reason."""
        key = id(test)
        current = self.outcomes.get(key)
        if current is None or RANK[kind] < RANK[current]:
            self.outcomes[key] = kind
        if kind == "error" or kind == "failure":
            self.problems.append((kind, test, text or ""))
        if not hasattr(test, "_testMethodName"):  # setUpClass's: no stop_test counts it
            self.counts[kind] += 1

    def add_success(self, test: Any) -> None:
        self.outcome(test, "success")

    def add_skip(self, test: Any, reason: str) -> None:
        self.outcome(test, "skip", reason)

    def add_failure(self, test: Any, exception_string: str) -> None:
        self.outcome(test, "failure", exception_string)

    def add_error(self, test: Any, exception_string: str) -> None:
        self.outcome(test, "error", exception_string)

    def add_expected_failure(self, test: Any, exception_string: str) -> None:
        self.outcome(test, "expected_failure", exception_string)

    def add_unexpected_success(self, test: Any) -> None:
        self.outcome(test, "unexpected_success")

    def start_test_run(self) -> None:
        self.started = time.monotonic()

    def stop_test(self, test: Any) -> None:
        self.tests_run += 1
        self.counts[self.outcomes.get(id(test), "error")] += 1

    def resource_event(self, action: str, resource: str) -> None:
        self.resources[action] += 1

    # --- the end -----------------------------------------------------------

    def stop_test_run(self) -> None:
        for kind, test, text in self.problems:
            self.write("=" * 70)
            self.write(f"{WORDS[kind]}: {describe(test)}")
            self.write("-" * 70)
            self.write(text.rstrip())
        self.write("-" * 70)
        elapsed = (self.run_stopped - self.run_started).total_seconds() \
            if self.run_started and self.run_stopped else time.monotonic() - self.started
        self.write(f"Ran {self.tests_run} test{'s' * (self.tests_run != 1)} "
                   f"in {elapsed:.3f}s")
        self.write(self.summary())
        if self.resources:
            self.write(self.resource_summary())
        if self.work_dir is not None:
            self.write(f"Work directory: {self.work_dir}")

    def resource_summary(self) -> str:
        """``resources: 3 made, 1 reset, 3 cleaned``."""
        return "resources: " + ", ".join(f"{self.resources[action]} {word}" for action, word
                                          in (("make", "made"), ("reset", "reset"),
                                              ("clean", "cleaned")))

    def summary(self) -> str:
        labels = {"failure": "failures", "error": "errors", "skip": "skipped",
                  "expected_failure": "expected failures",
                  "unexpected_success": "unexpected successes"}
        details = ", ".join(f"{label}={self.counts[kind]}"
                            for kind, label in labels.items() if self.counts[kind])
        bad = any(self.counts[k] for k in ("failure", "error", "unexpected_success"))
        word = self.paint("FAILED", "failure") if bad else self.paint("OK", "success")
        return f"{word} ({details})" if details else word


class TreeHandler(StreamHandler):
    """The suites and cases as a tree, each case with its outcome."""

    NAME = "tree"

    def start_composite(self, test: Any) -> None:
        self.write(f"{_indent(test)}{describe(test)}")

    def stop_test(self, test: Any) -> None:
        super().stop_test(test)
        kind = self.outcomes.get(id(test), "error")
        word = self.paint(WORDS[kind], kind)
        self.write(f"{_indent(test)}{describe(test)} ... {word}")

    def add_error(self, test: Any, exception_string: str) -> None:
        super().add_error(test, exception_string)
        if not _is_case(test):  # setUpClass and the like: no stop_test
            self.write(f"{describe(test)} ... {self.paint('ERROR', 'error')}")


class DotsHandler(StreamHandler):
    """One character per outcome, as unittest prints."""

    NAME = "dots"
    CHARS = {"success": ".", "failure": "F", "error": "E", "skip": "s",
             "expected_failure": "x", "unexpected_success": "u"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marks = {kind: self.paint(char, kind) for kind, char in self.CHARS.items()}

    def outcome(self, test: Any, kind: str, text: str | None = None) -> None:
        super().outcome(test, kind, text)
        # Plain ASCII: no need for write()'s guard against unencodable text.
        self.stream.write(self.marks[kind])
        self.stream.flush()

    def stop_test_run(self) -> None:
        self.write()
        super().stop_test_run()


class FullHandler(StreamHandler):
    """unittest's verbose output: every test by its full id and its outcome,
    then the reason of a skip and the test's success messages."""

    NAME = "full"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes: dict[int, list[str]] = {}

    def add_info(self, test: Any, message: str) -> None:
        self.notes.setdefault(id(test), []).append(f"success: {message}")

    def add_skip(self, test: Any, reason: str) -> None:
        super().add_skip(test, reason)
        self.notes.setdefault(id(test), []).append(f"skipped: {reason}")

    def stop_test(self, test: Any) -> None:
        super().stop_test(test)
        kind = self.outcomes.get(id(test), "error")
        self.write(f"{test.id()} ... {self.paint(WORDS[kind], kind)}")
        for note in self.notes.pop(id(test), []):
            self.write(f"    {note}")


def _is_case(test: Any) -> bool:
    return hasattr(test, "_testMethodName")


def _indent(test: Any) -> str:
    depth, node = 0, getattr(test, "parent", None)
    while node is not None:
        depth += 1
        node = getattr(node, "parent", None)
    return "  " * depth
