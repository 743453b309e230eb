"""The console report handlers, each printing as the run goes:

- ``tree`` (the default), ``dots`` and ``full``: unittest's and Rotest's
  console outputs;
- ``loginfo`` and ``logdebug``: the tests' log records (INFO and up, or
  everything) as the run goes, between lines that mark where each test
  starts and ends;
- ``pretty``: Rotest's pretty output, suites in boxes and cases indented
  under them with their outcome;
- ``progress``: for long runs, one line of done/total, failures so far,
  elapsed time and an estimate of the time left.

All of them end as unittest does: the failures and errors with their
tracebacks and a summary line (:class:`StreamHandler`). Colour only on a
terminal. Test output is hostile: the handlers beyond the first three clean
every text of ANSI codes and control characters before it reaches the stream.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, TextIO

from rotest_app.engine.outcomes import OUTCOMES
from rotest_core.case import LOG_FORMAT, TEST_LOG
from rotest_core.result import AbstractResultHandler, describe, printable, test_path

from .text import clean

__all__ = ["DotsHandler", "FullHandler", "LogDebugHandler", "LogInfoHandler", "PrettyHandler",
           "ProgressHandler", "StreamHandler", "TreeHandler"]


WORDS = {"error": "ERROR", "failure": "FAIL", "unexpected_success": "UNEXPECTED SUCCESS",
         "expected_failure": "EXPECTED FAILURE", "skip": "SKIP", "success": "OK"}
COLOURS = {"error": 31, "failure": 31, "unexpected_success": 31,
           "expected_failure": 33, "skip": 33, "success": 32}
RANK = {kind: rank for rank, kind in enumerate(OUTCOMES)}  # 0: the worst


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

    def add_outcome(self, test: Any, kind: str, text: str | None = None) -> None:
        """Called for every outcome event; ``text`` is a traceback or a reason."""
        key = id(test)
        current = self.outcomes.get(key)
        if current is None or RANK[kind] < RANK[current]:
            self.outcomes[key] = kind
        if kind == "error" or kind == "failure":
            self.problems.append((kind, test, text or ""))
        if not hasattr(test, "_testMethodName"):  # setUpClass's: no stop_test counts it
            self.counts[kind] += 1


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

    def add_outcome(self, test: Any, kind: str, text: str | None = None) -> None:
        super().add_outcome(test, kind, text)
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


# --------------------------------------------------------------------------
# the cleaning handlers

def safe(text: object) -> str:
    """Text a terminal shows as it is: no escape codes, no control characters
    (but tab and newline), no lone surrogates."""
    return clean(text)


class CleanStreamHandler(StreamHandler):
    """rotest_core's stream handler; the tracebacks it prints at the end are
    cleaned (colour codes of our own are added after cleaning, by paint())."""

    def stop_test_run(self) -> None:
        self.problems = [(kind, test, safe(text)) for kind, test, text in self.problems]
        super().stop_test_run()


# --------------------------------------------------------------------------
# loginfo, logdebug

class _Records(logging.Handler):
    """Writes log records to a report's stream, cleaned."""

    def __init__(self, stream: TextIO, level: int) -> None:
        super().__init__(level)
        self.stream = stream
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = safe(self.format(record))
            self.stream.write(text + "\n")
            self.stream.flush()
        except Exception:  # noqa: BLE001 - logging's own way: report, go on
            self.handleError(record)


class LogInfoHandler(CleanStreamHandler):
    """The tests' log records at INFO and above, as the run goes."""

    NAME = "loginfo"
    LEVEL = logging.INFO

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._records = _Records(self.stream, self.LEVEL)

    def start_test_run(self) -> None:
        super().start_test_run()
        TEST_LOG.addHandler(self._records)

    def stop_test_run(self) -> None:
        TEST_LOG.removeHandler(self._records)
        super().stop_test_run()

    def start_composite(self, test: Any) -> None:
        self.write(f"{_indent(test)}>>> {safe(describe(test))}")

    def start_test(self, test: Any) -> None:
        self.write(f"{'-' * 20} {safe(describe(test))} started {'-' * 20}")

    def stop_test(self, test: Any) -> None:
        super().stop_test(test)
        kind = self.outcomes.get(id(test), "error")
        self.write(f"{'-' * 20} {safe(describe(test))}: "
                   f"{self.paint(WORDS[kind], kind)} {'-' * 20}")


class LogDebugHandler(LogInfoHandler):
    """Every one of the tests' log records, DEBUG included, as the run goes."""

    NAME = "logdebug"
    LEVEL = logging.DEBUG


# --------------------------------------------------------------------------
# pretty

class PrettyHandler(CleanStreamHandler):
    """Rotest's pretty output: every suite in a box, its cases indented
    under it, each with its outcome; the outcome words coloured on a terminal."""

    NAME = "pretty"
    MARKS = {"success": "+", "failure": "x", "error": "!", "skip": "-",
             "expected_failure": "~", "unexpected_success": "?"}

    def start_test_run(self) -> None:
        super().start_test_run()
        self._box("Tests Run Started", "")

    def start_composite(self, test: Any) -> None:
        if getattr(test, "parent", None) is None:
            return  # the run itself: its box is the run's
        self._box(safe(describe(test)), _indent(test))

    def stop_composite(self, test: Any) -> None:
        if getattr(test, "parent", None) is not None:
            self.write(f"{_indent(test)}'-- end of {safe(describe(test))}")

    def stop_test(self, test: Any) -> None:
        super().stop_test(test)
        self._line(test, self.outcomes.get(id(test), "error"))

    def add_error(self, test: Any, exception_string: str) -> None:
        super().add_error(test, exception_string)
        if not _is_case(test):  # setUpClass and the like: no stop_test
            self._line(test, "error")

    def stop_test_run(self) -> None:
        self._box("Tests Run Finished", "")
        super().stop_test_run()

    def _line(self, test: Any, kind: str) -> None:
        name = safe(describe(test))
        word = WORDS[kind]
        dots = "." * max(3, 60 - len(_indent(test)) - len(name) - len(word))
        self.write(f"{_indent(test)}{self.MARKS[kind]} {name} {dots} "
                   f"{self.paint(word, kind)}")

    def _box(self, title: str, indent: str) -> None:
        border = f"{indent}+{'-' * (len(title) + 2)}+"
        self.write(border)
        self.write(f"{indent}| {title} |")
        self.write(border)


# --------------------------------------------------------------------------
# progress

class ProgressHandler(CleanStreamHandler):
    """One line for long runs: done/total, failures so far, elapsed, and the
    time left, from past durations where history has them.

    On a terminal the line is redrawn in place; elsewhere (CI logs) a line is
    written every :attr:`EVERY_TESTS` tests or :attr:`EVERY_SECONDS` seconds.
    """

    NAME = "progress"
    EVERY_TESTS = 50
    EVERY_SECONDS = 10.0
    REDRAW_SECONDS = 0.1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.total = 0
        self.done = 0
        self.failed = 0
        self.past: dict[str, float] = {}
        self._remaining: dict[str, int] = {}
        self._started: dict[int, float] = {}
        self._spent = 0.0  # seconds taken by the tests done
        self._shown_at = 0.0
        self._shown_done = 0
        self._width = 0

    def start_test_run(self) -> None:
        super().start_test_run()
        cases = list(_cases(self.main_test))
        self.total = len(cases)
        for case in cases:
            path = test_path(case)
            self._remaining[path] = self._remaining.get(path, 0) + 1
        self.past = _past_durations(self.config, getattr(self.main_test, "name", None))
        self._shown_at = time.monotonic()

    def start_test(self, test: Any) -> None:
        self._started[id(test)] = time.monotonic()

    def stop_test(self, test: Any) -> None:
        super().stop_test(test)
        self.done += 1
        if self.outcomes.get(id(test), "error") in ("failure", "error",
                                                    "unexpected_success"):
            self.failed += 1
        started = self._started.pop(id(test), None)
        if started is not None:
            self._spent += time.monotonic() - started
        path = test_path(test)
        if self._remaining.get(path, 0) > 0:
            self._remaining[path] -= 1
        self._show()

    def stop_test_run(self) -> None:
        self._show(final=True)
        if self.colour:
            self.write()
        super().stop_test_run()

    # --- the line ----------------------------------------------------------

    def line(self) -> str:
        """What the progress line says now."""
        elapsed = time.monotonic() - self.started
        text = (f"[{self.done}/{self.total}] {self.failed} failed, "
                f"elapsed {_clock(elapsed)}")
        left = self.eta()
        if left is not None and self.done < self.total:
            text += f", about {_clock(left)} left"
        return text

    def eta(self) -> float | None:
        """Seconds left: the past durations of the tests to come where history
        has them, the mean duration of this run's tests for the others."""
        unknown, known = 0, 0.0
        for path, count in self._remaining.items():
            if path in self.past:
                known += self.past[path] * count
            else:
                unknown += count
        if not unknown:
            return known
        if self.done:
            mean = self._spent / self.done
        elif self.past:
            mean = sum(self.past.values()) / len(self.past)
        else:
            return None  # nothing to go by yet
        return known + unknown * mean

    def _show(self, final: bool = False) -> None:
        now = time.monotonic()
        if self.colour:
            if final or now - self._shown_at >= self.REDRAW_SECONDS \
                    or self.done == self.total:
                text = self.line()
                padding = " " * max(0, self._width - len(text))
                self._width = len(text)
                self.write("\r" + text + padding, end="")
                self._shown_at = now
            return
        due = (self.done - self._shown_done >= self.EVERY_TESTS
               or now - self._shown_at >= self.EVERY_SECONDS)
        if (final and self.done != self._shown_done) or (not final and due):
            self.write(self.line())
            self._shown_at, self._shown_done = now, self.done


def _cases(suite: Any):
    """Every test case under ``suite`` (what countTestCases counts)."""
    if suite is None:
        return
    for test in suite:
        if _is_case(test):
            yield test
        else:
            yield from _cases(test)


def _past_durations(config: Any, run_name: str | None) -> dict[str, float]:
    """Durations of the tests in earlier runs of the same name, from history
    when it is installed and reachable; {} otherwise (the estimate then uses
    this run's mean)."""
    try:
        # Lazy: the store's client only when a progress estimate is asked for.
        from rotest_reports.history import past_durations
    except ImportError:
        return {}
    try:
        found = past_durations(config, run_name)
        return {str(path): float(seconds) for path, seconds in dict(found).items()
                if seconds is not None}
    except Exception:  # noqa: BLE001 - an estimate is not worth a broken run
        return {}


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
