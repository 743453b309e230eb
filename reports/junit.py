"""The ``junit`` handler (also ``xml``): the run as JUnit XML, for Jenkins.

One file per run (``junit_path``; default ``junit.xml`` in the run's
directory), valid at every moment: while the run goes, each test that ends
is appended in place as a ``<testsuite>`` of its own, before the closing tag,
in one write; when the run ends the file is rewritten atomically in its
final shape below. A run killed at any point (kill -9) leaves a valid file
with every test that ended; ``rotest report rebuild`` gives it its final
shape from the run's journal.

The shape is what both Jenkins's schema and Maven Surefire's accept: one
``<testsuites>`` holding a flat ``<testsuite>`` per suite with tests of its
own (Jenkins's schema allows no nesting; the suite's name is its path, e.g.
``Nightly/Inner``), each ``<testcase>`` with ``classname`` the dotted
``module.Class`` (Jenkins builds its package/class tree from it).

Outcomes: an error is ``<error>``; a failure and an unexpected success are
``<failure>``; a skip is ``<skipped>`` (its reason as text: Jenkins's schema
allows no attribute there); an expected failure passes, with a note in
``<system-out>``. A test that locked resources says first in its
``<system-out>`` how long it waited for their locks (``rotest.lock_wait:
1.234 s``: neither schema allows properties on a testcase), and each suite's
``<properties>`` hold its tests' total wait (``rotest.lock_wait``, a flow's
own wait included). Earlier attempts of a re-run test (``--delta``) are
Surefire's ``flakyFailure``/``flakyError`` when the test passed in the end,
else ``rerunFailure``/``rerunError``. Jenkins's schema predates those
elements, so only a file with re-runs in it fails that schema; Jenkins itself
ignores elements it does not know.
"""
from __future__ import annotations

import copy
import re
from collections import Counter
from datetime import datetime
from typing import Any

from lxml import etree

from .files import report_path, write_atomically
from .record import (Attempt, RecordingHandler, RunRecord, TestRecord, shown_children,
                     shown_walk)
from .text import cap, clean

__all__ = ["JUnitHandler", "build_document"]

#: Characters kept of a test's system-out (its log) and system-err, of a
#: traceback, of a message.
LOG_LIMIT = 64 * 1024
TRACEBACK_LIMIT = 64 * 1024
MESSAGE_LIMIT = 1024
#: How a testcase's system-out starts when the test locked resources.
WAIT_PREFIX = "rotest.lock_wait:"
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
_CLASS_FIXTURE = re.compile(r"^(\w+) \((.+)\)$")  # "setUpClass (module.Class)"


class JUnitHandler(RecordingHandler):
    """Writes the run's JUnit XML to :attr:`path`."""

    NAME = "junit"
    NEEDS_JOURNAL = True
    _TAIL = b"</testsuites>\n"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = report_path(getattr(self.config, "junit_path", None), "junit.xml",
                                self.work_dir)
        self._live: Any = None  # the file, open while the run goes
        self._end = 0           # where the closing tag starts
        self._seen: Counter = Counter()  # (classname, name) pairs written live

    def start_test_run(self) -> None:
        super().start_test_run()
        head = (b"<?xml version='1.0' encoding='UTF-8'?>\n"
                + etree.tostring(etree.Element("testsuites", name=clean(self.run.name)))
                [:-2] + b">\n")  # <testsuites name="..."/> opened, not closed
        write_atomically(self.path, lambda stream: stream.write(head + self._TAIL))
        self._live = open(self.path, "r+b")
        self._end = len(head)

    def record_ended(self, record: TestRecord) -> None:
        self._append(record)

    def _append(self, record: TestRecord) -> None:
        """Add the test that ended, with the closing tag, in one write."""
        if self._live is None or record.outcome is None:
            return
        suite = record.parent.path if record.parent is not None else ""
        chunk = etree.tostring(_suite(self.run, suite or self.run.name, record.start,
                                      [record], None, self._seen), encoding="UTF-8",
                               pretty_print=True)
        self._live.seek(self._end)
        self._live.write(chunk + self._TAIL)
        self._live.flush()
        self._end += len(chunk)

    def stop_test_run(self) -> None:
        super().stop_test_run()
        if self._live is not None:
            self._live.close()
            self._live = None
        self.write()

    def write(self) -> None:
        """Write the file, in its final shape, for the run as recorded so far."""
        document = build_document(self.run)
        write_atomically(self.path, lambda stream: document.write(
            stream, encoding="UTF-8", xml_declaration=True, pretty_print=True))


# --------------------------------------------------------------------------
# The document

def build_document(run: RunRecord) -> etree._ElementTree:
    """The ``<testsuites>`` document of the tests of ``run`` that ended."""
    groups = _groups(run)
    tests = [test for _name, _start, group in groups for test in group]
    counts = _counts(tests)
    root = etree.Element("testsuites", name=clean(run.name), tests=str(len(tests)),
                         failures=str(counts["failures"]), errors=str(counts["errors"]),
                         time=_seconds(run.duration if run.end else _total(tests)))
    properties, seen = _properties(run), Counter()
    for name, start, group in groups:
        root.append(_suite(run, name, start, group, properties, seen))
    return etree.ElementTree(root)


def _groups(run: RunRecord) -> list[tuple[str, datetime | None, list[TestRecord]]]:
    """(name, start, ended tests) of every suite with tests of its own, in
    the order their first tests ran (the run's own tests are a group too)."""
    groups = []
    for node, _depth in shown_walk(run.root):
        tests = [child for child in shown_children(node)
                 if not child.is_composite and child.outcome is not None]
        if node.is_composite and tests:
            groups.append((node.path or run.name, tests[0].start or run.start, tests))
    return sorted(groups, key=lambda group: group[1])


def _counts(tests: list[TestRecord]) -> Counter[str]:
    outcomes = Counter(test.outcome for test in tests)
    return Counter(failures=outcomes["failure"] + outcomes["unexpected_success"],
                   errors=outcomes["error"], skipped=outcomes["skip"])


def _total(tests: list[TestRecord]) -> float:
    return sum(test.duration or 0.0 for test in tests)


def _seconds(seconds: float | None) -> str:
    return f"{max(seconds or 0.0, 0.0):.3f}"


def _properties(run: RunRecord) -> etree._Element:
    properties = etree.Element("properties")
    items = [("run", run.name), ("start", run.start.isoformat(timespec="seconds")),
             *((f"environment.{key}", value) for key, value in run.environment.items()),
             *((f"config.{key}", value) for key, value in run.settings.items())]
    for name, value in items:
        etree.SubElement(properties, "property", name=clean(name), value=clean(value))
    return properties


def _suite(run: RunRecord, name: str, start: datetime | None, tests: list[TestRecord],
           properties: etree._Element | None, seen: Counter) -> etree._Element:
    counts = _counts(tests)
    suite = etree.Element("testsuite", name=clean(name), tests=str(len(tests)),
                          failures=str(counts["failures"]), errors=str(counts["errors"]),
                          skipped=str(counts["skipped"]), time=_seconds(_total(tests)),
                          timestamp=(start or run.start).isoformat(timespec="seconds"),
                          hostname=clean(run.environment.get("host", "")))
    if properties is not None:
        own = copy.deepcopy(properties)
        wait = _suite_wait(tests)
        if wait is not None:
            etree.SubElement(own, "property", name="rotest.lock_wait", value=f"{wait:.3f}")
        suite.append(own)
    for test in tests:
        suite.append(_case(test, seen))
    return suite


def _suite_wait(tests: list[TestRecord]) -> float | None:
    """Seconds a suite's tests waited for locks, with its flow's own wait
    (a flow locks once for all its blocks); None when none locked anything."""
    parent = tests[0].parent if tests else None
    waits = [test.lock_wait for test in tests if test.lock_wait is not None]
    if parent is not None and parent.kind == "flow" and parent.lock_wait is not None:
        waits.append(parent.lock_wait)
    return sum(waits) if waits else None


# --------------------------------------------------------------------------
# One test

def _case(record: TestRecord, seen: Counter) -> etree._Element:
    """The testcase of ``record``; ``seen`` counts the (classname, name) pairs
    written so far: a pair seen again (one flow class run twice) is numbered."""
    classname, name = _identity(record)
    seen[classname, name] += 1
    if seen[classname, name] > 1:
        name = f"{name} ({seen[classname, name]})"
    case = etree.Element("testcase", name=clean(name), classname=clean(classname),
                         time=_seconds(record.duration))
    # Jenkins's schema wants this order: skipped, errors, failures, output.
    skip = next((text for kind, text in record.details if kind == "skip"), None)
    if skip is not None:
        etree.SubElement(case, "skipped").text = clean(cap(skip, MESSAGE_LIMIT))
    for kind in ("error", "failure"):
        for detail, text in record.details:
            if detail == kind:
                case.append(_problem(kind, text))
    for element in _missing_problem(record):
        case.append(element)
    for attempt in record.reruns:
        element = _rerun(attempt, record.passed)
        if element is not None:
            case.append(element)
    output = _output(record)
    if output:
        etree.SubElement(case, "system-out").text = output
    if record.stderr:
        etree.SubElement(case, "system-err").text = clean(cap(record.stderr, LOG_LIMIT))
    return case


def _identity(record: TestRecord) -> tuple[str, str]:
    """(classname, name): ``module.Class`` and the method; an error outside
    tests (``setUpClass (module.Class)``) goes under its class."""
    if record.kind == "error":
        match = _CLASS_FIXTURE.match(record.name)
        if match:
            return match.group(2), match.group(1)
        return record.parent.classname if record.parent else "", record.name
    return _class_path(record), record.name.rpartition(".")[2] or record.name


def _class_path(record: TestRecord) -> str:
    """``module.Class``; inside a flow, the flow's class path and then the
    class (``module.Flow.CalculateBlock``): two flows' blocks of one class
    stay two tests in Jenkins, which merges equal (classname, name) pairs."""
    parent = record.parent
    if parent is not None and parent.kind == "flow":
        return f"{_class_path(parent)}.{record.classname.rpartition('.')[2]}"
    return record.classname


def _problem(kind: str, text: str) -> etree._Element:
    message, exception = _summary(text, kind)
    element = etree.Element(kind, message=message, type=exception)
    element.text = clean(cap(text, TRACEBACK_LIMIT, keep="start"))
    return element


def _missing_problem(record: TestRecord) -> list[etree._Element]:
    """The element a test's outcome needs when no traceback says it: an
    unexpected success, or a test that ended with no outcome (interrupted)."""
    kinds = {kind for kind, _text in record.details}
    if record.outcome == "unexpected_success":
        return [etree.Element("failure", type="UnexpectedSuccess",
                              message="marked expectedFailure, but it passed")]
    if record.outcome in ("error", "failure") and record.outcome not in kinds:
        return [etree.Element(record.outcome, type="NoOutcome",
                              message="the test ended with no outcome (interrupted?)")]
    return []


def _rerun(attempt: Attempt, passed: bool) -> etree._Element | None:
    """An earlier attempt that did not pass, as Surefire writes it."""
    if attempt.outcome not in ("error", "failure", "unexpected_success"):
        return None
    kind = "Error" if attempt.outcome == "error" else "Failure"
    text = next((text for detail, text in attempt.details
                 if detail in ("error", "failure")), attempt.outcome)
    message, exception = _summary(text, attempt.outcome)
    element = etree.Element(("flaky" if passed else "rerun") + kind, message=message,
                            type=exception)
    etree.SubElement(element, "stackTrace").text = clean(
        cap(text, TRACEBACK_LIMIT, keep="start"))
    return element


def _summary(text: str, kind: str) -> tuple[str, str]:
    """(message, exception type) of a traceback: its last line, and the
    exception's name there when it names one."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else kind
    match = _EXCEPTION.match(last)
    return clean(cap(last, MESSAGE_LIMIT, keep="start")), match.group(1) if match else kind


def wait_line(record: TestRecord) -> str:
    """``rotest.lock_wait: 1.234 s (set-up: 0.100 s)``: the first line of a
    testcase's system-out when it locked resources (merge and tools read it)."""
    line = f"{WAIT_PREFIX} {record.lock_wait:.3f} s"
    if record.setup_time is not None:
        line += f" (set-up: {record.setup_time:.3f} s)"
    return line


def _output(record: TestRecord) -> str:
    """system-out: the wait for its resources (neither schema allows a
    testcase properties), success messages, an expected failure's traceback,
    what the test printed, the log."""
    parts = [wait_line(record)] if record.lock_wait is not None else []
    parts += [f"success: {info}" for info in record.infos]
    parts += [f"expected failure (counted as a pass):\n{text}"
              for kind, text in record.details if kind == "expected_failure"]
    if record.stdout:
        parts.append(f"stdout:\n{record.stdout}")
    log = record.log_text(LOG_LIMIT)
    if log:
        parts.append(log)
    return clean(cap("\n".join(parts), LOG_LIMIT))
