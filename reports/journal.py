"""The run's journal: every test that ended, on disk as it ends.

``journal.jsonl`` in the run's directory is append-only, one JSON object a
line, flushed as each test ends, so a run that is killed (kill -9, a CI
timeout, a crash) leaves every result it reached:

- ``{"run": {...}, "local": {...}}`` first: the run as the history's API
  takes it (with a ``uid`` the client chose), and what only this machine
  needs (the report names asked for, the process id);
- ``{"records": [...]}`` as each test ends: its record and those of its
  suites not yet written, parents first (a record written again replaces
  the earlier one: a composite's end, a ``--delta`` re-run);
- ``{"finish": {...}}`` last, when the run ended.

The history handler sends the journal to the history (and so can send it
later, from another process: :mod:`rotest_reports.history`); the file reports can
be rebuilt from it (:func:`rebuild_reports`, ``rotest report rebuild``). A
run whose journal has no finish line is listed in ``<workdir>/unfinished/``
until its reports are rebuilt.
"""
from __future__ import annotations

import io
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, TextIO

from rotest_core.outbox import entries, process_alive
from rotest_core.result import HandlerNotAvailable, handler_class

from .record import Attempt, RecordingHandler, RunRecord, TestRecord
from .text import cap, clean

__all__ = ["JOURNAL_NAME", "Journal", "JournalHandler", "NotAFileReport", "process_alive",
           "read_journal", "rebuild_reports", "record_json", "run_record",
           "unfinished_runs", "write_file_reports"]

JOURNAL_NAME = "journal.jsonl"
#: The journal's format: 2 records each test's lock wait and set-up time.
JOURNAL_FORMAT = 2
#: Longest traceback, log and info kept per test (the server keeps at most 64 KB).
TEXT_LIMIT = 32 * 1024
#: The file reports a journal can rebuild, by handler name.
REBUILT = ("junit", "xml", "excel", "html")


class JournalHandler(RecordingHandler):
    """Writes the run's journal; the runner adds it when a file report is on."""

    NAME = "journal"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = Path(self.work_dir or ".") / JOURNAL_NAME
        self.uid = uuid.uuid4().hex
        self._written: set[int] = set()  # ids of the records written at least once
        self._file: Any = None
        self._failed = False

    # --- the run -----------------------------------------------------------

    def start_test_run(self) -> None:
        super().start_test_run()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as error:
            self._fail(error)
            return
        self._rebuild_unfinished()
        self._write({"run": self.run_fields(), "local": {
            "format": JOURNAL_FORMAT,
            "classname": self.run.root.classname, "pid": os.getpid(),
            "outputs": list(getattr(self.main_test, "outputs", ()) or ())}})
        _mark_unfinished(self.config, self.path)

    def _rebuild_unfinished(self) -> None:
        """Give the reports of killed runs from this work directory their
        final shape, from their journals."""
        workdir = getattr(self.config, "workdir", None)
        for journal in unfinished_runs(workdir) if workdir else ():
            try:
                written = rebuild_reports(journal.parent, self.config)
            except Exception as error:  # noqa: BLE001 - never stops this run
                print(f"rotest: the reports of the unfinished run {journal.parent} "
                      f"could not be rebuilt: {type(error).__name__}: {error}",
                      file=sys.stderr)
            else:
                print(f"rotest: rebuilt {len(written)} report(s) of the unfinished run "
                      f"{journal.parent} from its journal", file=sys.stderr)
            forget_unfinished(workdir, journal)

    def run_fields(self) -> dict[str, Any]:
        """The run's start, as the history's API takes it."""
        base = getattr(self.main_test, "delta_base", None)
        main = self.main_test
        return {"uid": self.uid, "name": self.run.name,
                "host": self.run.environment.get("host", ""), "start": iso(self.run.start),
                "settings": self.run.settings,
                "environment": {k: clean(v) for k, v in self.run.environment.items()},
                "run_dir": str(self.run.run_dir or ""),
                "planned": main.countTestCases() if main is not None else 0,
                **({"base": base} if base is not None else {}),
                **_shard_fields(main)}

    def stop_test_run(self) -> None:
        super().stop_test_run()
        for top in self.run.root.children:  # a composite the run never closed
            if id(top) not in self._written:
                self._journal(top)
        artifact = self.run.artifact
        self._write({"finish": {"end": iso(self.run.end),
                                "status": "interrupted" if self.interrupted else None,
                                "artifact_path": str(artifact) if artifact else None}})
        if self._file is not None:
            self._file.close()
            self._file = None
        _mark_finished(self.config, self.path)

    # --- the tests ---------------------------------------------------------

    def record_ended(self, record: TestRecord) -> None:
        self._journal(record)

    def stop_composite(self, test: Any) -> None:
        super().stop_composite(test)
        self._journal(self.record_of(test))

    def _journal(self, record: TestRecord) -> None:
        """Write ``record``, after those of its suites not written yet."""
        chain, node = [], record
        while node is not None and node.parent is not None:  # not the run's root
            if node is record or id(node) not in self._written:
                chain.append(node)
            node = node.parent
        root = self.run.root
        self._write({"records": [record_json(node, root) for node in reversed(chain)]})
        self._written.update(id(node) for node in chain)

    def _write(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()
        except (OSError, ValueError) as error:
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        if not self._failed:
            self._failed = True
            print(f"rotest: the run's journal {self.path} could not be written: "
                  f"{type(error).__name__}: {error}; a killed run may lose results",
                  file=sys.stderr)
        self._file = None


def record_json(record: TestRecord, root: TestRecord) -> dict[str, Any]:
    """One record as the history's API takes it (texts cleaned and capped)."""
    return {
        "path": record.path,
        "parent": record.parent.path if record.parent not in (None, root) else None,
        "name": clean(record.name), "kind": record.kind,
        "classname": clean(record.classname), "outcome": record.outcome,
        "start": iso(record.start), "end": iso(record.end),
        "duration": record.duration, "description": clean(record.description),
        "note": clean(record.note), "tags": [clean(tag) for tag in record.tags],
        "resources": {clean(k): clean(v) for k, v in record.resources.items()},
        "details": _details(record.details),
        "infos": [cap(clean(info), TEXT_LIMIT) for info in record.infos],
        "reruns": [{"outcome": attempt.outcome, "details": _details(attempt.details),
                    "duration": (attempt.end - attempt.start).total_seconds()
                    if attempt.start and attempt.end else None}
                   for attempt in record.reruns],
        "signatures": [{clean(k): clean(v) for k, v in signature.items()}
                       for signature in record.signatures],
        "log": clean(record.log_text(TEXT_LIMIT)),
        "stdout": clean(record.stdout), "stderr": clean(record.stderr),
        # Only when known: a server older than these fields refuses only
        # the records of tests that locked something, not every record.
        **{name: value for name, value in (("lock_wait", record.lock_wait),
                                           ("setup_time", record.setup_time))
           if value is not None},
    }


def _details(details: list[tuple[str, str]]) -> list[list[str]]:
    return [[outcome, cap(clean(text), TEXT_LIMIT)] for outcome, text in details]


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# --------------------------------------------------------------------------
# Reading a journal back

@dataclass
class Journal:
    """What a journal file says: the run, its records (the last version of
    each, by path, in the order first written) and its finish, if any."""

    path: Path
    run: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    finish: dict[str, Any] | None = None


def read_journal(path: Path) -> Journal:
    """The journal at ``path`` (a file, or the run directory holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / JOURNAL_NAME
    journal = Journal(path)
    for _offset, entry in entries(path):
        if "run" in entry:
            journal.run, journal.local = entry["run"], entry.get("local", {})
        for record in entry.get("records", ()):
            journal.records[record["path"]] = record
        if "finish" in entry:
            journal.finish = entry["finish"]
    if not journal.run:
        raise ValueError(f"{path} is not a run's journal (no run line)")
    return journal


def run_record(journal: Journal) -> RunRecord:
    """The run as the file reports read it, made from its journal."""
    meta = journal.run
    root = TestRecord(name=meta["name"], kind="suite",
                      classname=journal.local.get("classname", ""))
    finish = journal.finish or {}
    run = RunRecord(name=meta["name"], root=root, start=_time(meta.get("start")),
                    end=_time(finish.get("end")),
                    run_dir=Path(meta["run_dir"]) if meta.get("run_dir") else None,
                    environment=dict(meta.get("environment", {})),
                    settings=dict(meta.get("settings", {})),
                    artifact=finish.get("artifact_path"))
    root.start, root.end = run.start, run.end
    nodes: dict[str, TestRecord] = {}
    for path, data in journal.records.items():
        parent = nodes.get(data.get("parent") or "", root)
        node = nodes[path] = _node(data, parent)
        parent.children.append(node)
    return run


def _node(data: dict[str, Any], parent: TestRecord) -> TestRecord:
    return TestRecord(
        name=data["name"], kind=data["kind"], classname=data.get("classname", ""),
        key=data["path"].rsplit("/", 1)[-1],
        description=data.get("description", ""), tags=list(data.get("tags", ())),
        parent=parent, start=_time(data.get("start")), end=_time(data.get("end")),
        own_outcome=data.get("outcome"), note=data.get("note", ""),
        details=[(outcome, text) for outcome, text in data.get("details", ())],
        infos=list(data.get("infos", ())), resources=dict(data.get("resources", {})),
        reruns=[Attempt(rerun["outcome"], [tuple(d) for d in rerun.get("details", ())],
                        None, None) for rerun in data.get("reruns", ())],
        signatures=list(data.get("signatures", ())), log=data.get("log", ""),
        stdout=data.get("stdout", ""), stderr=data.get("stderr", ""),
        lock_wait=data.get("lock_wait"), setup_time=data.get("setup_time"))


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def rebuild_reports(run_dir: Path, config: Any, names: list[str] | None = None
                    ) -> list[Path]:
    """Write the file reports of the run in ``run_dir`` from its journal:
    ``names`` (default: those the run asked for) among junit, excel and html,
    where the run's settings put them. Returns the files written."""
    journal = read_journal(run_dir)
    wanted = [name for name in (names or journal.local.get("outputs") or REBUILT)
              if name in REBUILT]
    # The handlers say where they wrote on their stream; the callers say it.
    return write_file_reports(run_record(journal), Path(run_dir), wanted, config=config,
                              stream=io.StringIO())


class NotAFileReport(ValueError):
    """A handler name that names no report written from a run's record."""


def write_file_reports(run: RunRecord, work_dir: Path, names: Iterable[str], *,
                       config: Any = None, stream: TextIO | None = None) -> list[Path]:
    """Have the file report handlers ``names`` write ``run``, as each does at
    the end of a run (``stop_test_run`` on the whole record), into
    ``work_dir`` or where ``config`` puts them; returns the files written.
    Raises NotAFileReport, before writing anything, for a name that is not one."""
    classes = [_file_report(name) for name in dict.fromkeys(names)]  # all, or none
    written = []
    for cls in classes:
        handler = cls(None, stream=stream if stream is not None else sys.stdout,
                      config=config, work_dir=work_dir)
        handler.run = run
        handler.run_started, handler.run_stopped = run.start, run.end
        handler.stop_test_run()
        path = getattr(handler, "path", None)
        if path is not None:
            written.append(Path(path))
    return written


def _file_report(name: str) -> type[RecordingHandler]:
    """The handler class ``name``, if it writes a file report from the
    record of a run (the journal and the history do not)."""
    try:
        cls = handler_class(name)
    except HandlerNotAvailable as error:
        raise NotAFileReport(str(error)) from None
    if (not isinstance(cls, type) or not issubclass(cls, RecordingHandler)
            or getattr(cls, "KEEPS_JOURNAL", False) or name == "journal"):
        raise NotAFileReport(f"{name!r} is not a file report written from a run's "
                             f"record; choose from junit, excel, html")
    return cls


# --------------------------------------------------------------------------
# Runs that did not finish, by work directory

def _marker(config: Any, journal: Path) -> Path | None:
    workdir = getattr(config, "workdir", None)
    if not workdir:
        return None
    return Path(workdir).expanduser() / "unfinished" / f"{journal.parent.name}.json"


def _mark_unfinished(config: Any, journal: Path) -> None:
    marker = _marker(config, journal)
    if marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"journal": str(journal), "pid": os.getpid()}))
        except OSError:
            pass  # the journal itself still holds everything


def _mark_finished(config: Any, journal: Path) -> None:
    marker = _marker(config, journal)
    if marker is not None:
        marker.unlink(missing_ok=True)


def unfinished_runs(workdir: Path) -> list[Path]:
    """Journals of runs in ``workdir`` that ended without finishing (their
    process is gone), oldest first."""
    found = []
    for marker in sorted((Path(workdir).expanduser() / "unfinished").glob("*.json")):
        try:
            mark = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        if not process_alive(mark.get("pid")):
            found.append(Path(mark["journal"]))
    return found


def forget_unfinished(workdir: Path, journal: Path) -> None:
    (Path(workdir).expanduser() / "unfinished" / f"{journal.parent.name}.json"
     ).unlink(missing_ok=True)




def _shard_fields(main: Any) -> dict[str, Any]:
    """``--run-id`` and ``--shard K/N`` of the run, as the history takes them."""
    fields: dict[str, Any] = {}
    run_group, shard = getattr(main, "run_group", None), getattr(main, "shard", None)
    if run_group is not None:
        fields["run_group"] = run_group
    if shard is not None:
        fields.update(shard=shard.index, shards=shard.count)
    return fields
