"""The run as a tree of records: what every file report reads.

:class:`RecordingHandler` listens to the events of a run and keeps one
:class:`TestRecord` per suite, flow, case and block, with its times, outcome,
tracebacks, success messages and resources. File reports (junit, excel, html,
history) subclass it and write the tree out, so they agree on what happened.

A test run again in the same run (``--delta`` re-runs) keeps one record: the
earlier attempts move to :attr:`TestRecord.reruns`.
"""
from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
import unittest
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from rotest_app.engine.grouping import group_as_code
from rotest_app.engine.outcomes import OUTCOMES, PASSING
from rotest_core.result import AbstractResultHandler, describe, identity

__all__ = ["OUTCOMES", "Attempt", "RecordingHandler", "RunRecord", "TestRecord",
           "description_of", "environment", "shown_children", "shown_walk"]



def worst(*outcomes: str | None) -> str | None:
    """The worst of the outcomes given (None ones ignored)."""
    known = [o for o in outcomes if o is not None]
    return min(known, key=OUTCOMES.index) if known else None


@dataclass
class Attempt:
    """An earlier run of a test that was run again (``--delta``)."""

    outcome: str
    details: list[tuple[str, str]]
    start: datetime | None
    end: datetime | None


@dataclass
class TestRecord:
    """One node of the run: a suite, a flow, a case (one test method) or a
    block; or ``"error"``: an error outside any test (setUpClass...).

    Attributes:
        details: (outcome, text) of each failure, error or skip, in order:
            a traceback or a skip reason.
    """

    name: str
    kind: str
    classname: str
    #: Its segment of :attr:`path` (see rotest_core.result.identity); the
    #: name when not given.
    key: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    parent: "TestRecord | None" = None
    children: list["TestRecord"] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    own_outcome: str | None = None
    details: list[tuple[str, str]] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)
    work_dir: Path | None = None
    reruns: list[Attempt] = field(default_factory=list)
    #: Known error patterns its failures matched (the signature handler sets
    #: ``test.error_signatures``): dicts with name, pattern and link.
    signatures: list[dict[str, str]] = field(default_factory=list)
    #: A composite's note on how it ended (a flow: which block stopped it).
    note: str = ""
    #: The log's text when it is known without its file (read from a journal).
    log: str | None = None
    #: What the test wrote to stdout and stderr (the end of each, capped).
    stdout: str = ""
    stderr: str = ""
    #: Seconds it waited for its resources' locks (in the server's queue
    #: too) and spent setting them up; None when it locked nothing. A flow's
    #: are its own request's (for the whole flow), not its blocks'.
    lock_wait: float | None = None
    setup_time: float | None = None

    @property
    def is_composite(self) -> bool:
        return self.kind in ("suite", "flow")

    @property
    def outcome(self) -> str | None:
        """A test's own outcome; a composite's: the worst of its own (an
        error in setUpClass) and its children's."""
        if not self.is_composite:
            return self.own_outcome
        return worst(self.own_outcome, *(child.outcome for child in self.children))

    @property
    def passed(self) -> bool:
        return self.outcome in PASSING

    @property
    def depth(self) -> int:
        depth, node = 0, self.parent
        while node is not None:
            depth, node = depth + 1, node.parent
        return depth

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None if it never ended."""
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()

    @property
    def path(self) -> str:
        """The keys from the run's root down, joined with ``/``: the test's
        identity across runs of the same tests (the history and ``--delta``
        match on it)."""
        names, node = [], self
        while node is not None and node.parent is not None:  # the root is the run
            names.append(node.key or node.name)
            node = node.parent
        return "/".join(reversed(names))

    @property
    def traceback(self) -> str:
        """The failures' and errors' texts, joined."""
        return "\n".join(text for kind, text in self.details if kind in ("failure", "error"))

    @property
    def message(self) -> str:
        """One line: the last line of the first traceback, or the skip reason."""
        for _kind, text in self.details:
            lines = [line for line in text.strip().splitlines() if line.strip()]
            if lines:
                return lines[-1].strip()
        return ""

    @property
    def log_path(self) -> Path | None:
        """The test's log file, if it wrote one."""
        if self.work_dir is None:
            return None
        path = self.work_dir / "test.log"
        return path if path.is_file() else None

    def log_text(self, limit: int = 64 * 1024) -> str:
        """The test's log, its last ``limit`` characters when longer."""
        text = self.log
        if text is None:
            path = self.log_path
            if path is None:
                return ""
            try:
                with open(path, encoding="utf-8", errors="replace") as stream:
                    text = stream.read()
            except OSError:
                return ""
        if len(text) > limit:
            return f"[... {len(text) - limit} characters cut ...]\n" + text[-limit:]
        return text

    def walk(self) -> Iterator["TestRecord"]:
        """This record and everything under it, depth first, in running order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def tests(self) -> Iterator["TestRecord"]:
        """The leaves under this record: cases, blocks and errors outside tests."""
        return (record for record in self.walk() if not record.is_composite)


@dataclass
class RunRecord:
    """The run: its name, times, settings and the tree of records."""

    name: str
    root: TestRecord
    start: datetime
    end: datetime | None = None
    run_dir: Path | None = None
    environment: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    #: Where the run's archive goes (``-o artifact``), known from its start.
    artifact: str | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()

    def counts(self) -> dict[str, int]:
        """How many tests ended with each outcome (every outcome listed)."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for record in self.root.tests():
            if record.outcome is not None:
                counts[record.outcome] += 1
        return counts

    def tests(self) -> Iterator[TestRecord]:
        return self.root.tests()

    def lock_wait(self) -> float:
        """Seconds the run's tests and flows waited for locks, in all."""
        return sum(record.lock_wait or 0.0 for record in self.root.walk())


def shown_children(record: TestRecord) -> list[TestRecord]:
    """A record's children as the reports show them, grouped as the code is
    (:func:`rotest_app.engine.grouping.group_as_code`): groups are records of kind "suite"
    made for the showing; the tests keep their own parents and paths."""
    if record.kind != "suite":
        return record.children

    own = {id(child) for child in record.children}

    def make_group(name: str, members: list[TestRecord]) -> TestRecord:
        starts = [m.start for m in members if m.start is not None]
        ends = [m.end for m in members if m.end is not None]
        group = TestRecord(name=name, kind="suite", classname=name, key=name,
                           parent=record, children=members,
                           start=min(starts, default=None), end=max(ends, default=None))
        for member in members:
            if id(member) not in own:  # a class's group inside its module's
                member.parent = group
        return group

    return group_as_code(record.children,
                         lambda child: child.classname if child.kind == "case" else None,
                         make_group)


def shown_walk(record: TestRecord, depth: int = 0) -> Iterator[tuple[TestRecord, int]]:
    """(record, depth) of ``record`` and everything under it as the reports
    show it (:func:`shown_children`), depth first."""
    yield record, depth
    for child in shown_children(record):
        yield from shown_walk(child, depth + 1)


def now() -> datetime:
    """The current time with the local UTC offset (reports show local times)."""
    return datetime.now(timezone.utc).astimezone()


def description_of(test: Any) -> str:
    """The first paragraph of the test method's docstring, else the class's."""
    method = getattr(test, getattr(test, "_testMethodName", ""), None)
    doc = getattr(method, "__doc__", None) or type(test).__doc__ or ""
    if type(test).__doc__ == doc and doc in (unittest.TestCase.__doc__,):
        return ""
    return doc.strip().split("\n\n")[0].strip()


def environment() -> dict[str, str]:
    """Where the run ran, for the reports' headers."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = ""
    return {"host": socket.gethostname(), "user": user,
            "python": sys.version.split()[0], "platform": platform.platform(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "cwd": os.getcwd()}


def _take_timing(record: TestRecord, test: Any) -> None:
    """The test's ``lock_wait`` and ``setup_time`` (set by the runtime, the
    pytest plugin or a parallel run's replay), when it has them."""
    own = vars(test) if hasattr(test, "__dict__") else {}
    for name in ("lock_wait", "setup_time"):
        value = own.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            setattr(record, name, float(value))


def _kind(test: Any) -> str:
    declared = getattr(test, "REPORT_KIND", None)  # flows and blocks say theirs
    if isinstance(declared, str):
        return declared
    if isinstance(test, unittest.TestCase):
        return "case"
    if isinstance(test, unittest.TestSuite):
        return "suite"
    return "error"


def _classname(test: Any) -> str:
    cls = type(test)
    if _kind(test) == "error":
        return str(test)
    return f"{cls.__module__}.{cls.__qualname__}"


class RecordingHandler(AbstractResultHandler):
    """Builds :attr:`run`, the tree of records, from the run's events.

    Subclasses write it out, as it goes (override the events, calling
    ``super()`` first) or at the end (:meth:`stop_test_run`, after ``super()``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        root = TestRecord(name=self._run_name(), kind="suite",
                          classname=_classname(self.main_test) if self.main_test else "")
        self.run = RunRecord(name=root.name, root=root, start=now(),
                             run_dir=self.work_dir, environment=environment(),
                             settings=self._settings())
        self._records: dict[int, TestRecord] = {}
        #: (parent record's id, kind, key) -> record: a test run again finds
        #: its record at once, however many siblings it has.
        self._by_name: dict[tuple[int, str, str], TestRecord] = {}
        if self.main_test is not None:
            self._records[id(self.main_test)] = root

    def _run_name(self) -> str:
        return getattr(self.main_test, "name", None) or "run"

    def _settings(self) -> dict[str, str]:
        config = self.config
        if config is None:
            return {}
        keys = ("host", "port", "workdir", "resource_request_timeout", "smart_client",
                "artifacts_dir")
        settings = {key: str(getattr(config, key)) for key in keys if hasattr(config, key)}
        # What -o gave (the runner sets it), else the configured default.
        outputs = getattr(self.main_test, "outputs", None) or getattr(config, "outputs", None)
        if outputs is not None:
            settings["outputs"] = str(list(outputs))
        return settings

    # --- finding a test's record -------------------------------------------

    def record_of(self, test: Any) -> TestRecord:
        """The record of ``test``, made (under its parent's) on first sight."""
        record = self._records.get(id(test))
        if record is None:
            parent = self._parent_record(test)
            record = TestRecord(name=describe(test), kind=_kind(test),
                                classname=_classname(test), key=identity(test),
                                description=description_of(test),
                                tags=list(getattr(test, "TAGS", ()) or ()), parent=parent)
            key = (id(parent), record.kind, record.key)
            previous = self._by_name.get(key)
            if previous is not None and (previous.is_composite or previous.end is not None):
                # The same test again (a re-run): one record, the old attempt kept.
                if not previous.is_composite:
                    self._retry(previous)
                record = previous
            else:
                parent.children.append(record)
                self._by_name[key] = record
            self._records[id(test)] = record
        return record

    def _parent_record(self, test: Any) -> TestRecord:
        parent = getattr(test, "parent", None)
        if parent is not None and id(parent) in self._records:
            return self._records[id(parent)]
        if parent is not None:
            return self.record_of(parent)
        return self.run.root

    @staticmethod
    def _retry(record: TestRecord) -> None:
        """``record`` runs again: its last attempt moves to its reruns."""
        record.reruns.append(Attempt(record.own_outcome or "error", record.details,
                                     record.start, record.end))
        record.own_outcome, record.details, record.infos = None, [], []
        record.start = record.end = None

    # --- events ------------------------------------------------------------

    def start_test_run(self) -> None:
        self.run.start = self.run.root.start = self.run_started or now()
        self.run.artifact = getattr(self.main_test, "artifact_path", None)

    def start_composite(self, test: Any) -> None:
        record = self.record_of(test)
        record.start = now()
        record.work_dir = getattr(test, "work_dir", None)

    def stop_composite(self, test: Any) -> None:
        record = self.record_of(test)
        record.end = now()
        record.note = getattr(test, "report_note", "") or record.note
        _take_timing(record, test)

    def start_test(self, test: Any) -> None:
        record = self.record_of(test)
        record.start = now()

    def update_resources(self, test: Any, resources: dict[str, Any]) -> None:
        record = self.record_of(test)
        for name, resource in resources.items():
            record.resources[name] = (getattr(resource, "name", None)
                                      or type(resource).__name__)

    def add_info(self, test: Any, message: str) -> None:
        self.record_of(test).infos.append(message)

    def _outcome(self, test: Any, outcome: str, text: str | None = None) -> TestRecord:
        record = self.record_of(test)
        record.own_outcome = worst(record.own_outcome, outcome)
        if text is not None:
            record.details.append((outcome, text))
        if record.kind == "error":  # no start_test or stop_test will come
            record.start = record.start or now()
            record.end = now()
            self.record_ended(record)
        return record

    def add_outcome(self, test: Any, outcome: str, text: str | None = None) -> None:
        self._outcome(test, outcome, text)

    def stop_test(self, test: Any) -> None:
        record = self.record_of(test)
        record.end = now()
        if record.start is None:
            record.start = record.end
        # A case's directory is made on first use: ask without making it.
        own = vars(test)
        record.work_dir = own["_work_dir"] if "_work_dir" in own else own.get("work_dir")
        record.signatures = list(getattr(test, "error_signatures", None) or ())
        output = own.get("output")
        if output is not None:
            record.stdout, record.stderr = output.stdout, output.stderr
        _take_timing(record, test)
        if record.own_outcome is None:
            record.own_outcome = "error"
        self.record_ended(record)

    def record_ended(self, record: TestRecord) -> None:
        """A test's record is complete: a case or block at its stop_test, an
        error outside any test (setUpClass) at its outcome. For reports that
        write each test as it ends."""

    def stop_test_run(self) -> None:
        self.run.end = self.run.root.end = self.run_stopped or now()
