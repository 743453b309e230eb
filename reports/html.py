"""The html report: one self-contained file a person opens in a browser.

:func:`view_of` turns the run's records into the *run view*, the plain dict
(JSON-serialisable, texts cleaned and capped) that :func:`rotest_templates.render_report`
renders; the server's run pages build the same dict from the database, so a
run looks the same in the file and on the server. :class:`HtmlHandler` writes
the file into the run's work directory when the run ends.
"""
from __future__ import annotations

import itertools
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from rotest_templates import render_report

from .files import report_path, write_atomically
from .record import PASSING, RecordingHandler, RunRecord, TestRecord, shown_children
from .text import cap, clean

__all__ = ["DEFAULT_PATH", "DETAIL_LIMIT", "LOG_LIMIT", "TEXT_BUDGET", "HtmlHandler",
           "view_of"]

#: Characters kept of each traceback or skip reason, and of each test's log:
#: the report stays light with thousands of failures, and the cut is said.
DETAIL_LIMIT = 64 * 1024
LOG_LIMIT = 64 * 1024
#: Characters of tracebacks and logs one report holds in all; once spent,
#: each text still gets TEXT_FLOOR (its start and its end), so a run of
#: thousands of huge tracebacks or logs still gives a file a browser opens.
TEXT_BUDGET = 32 * 1024 * 1024
TEXT_FLOOR = 2 * 1024
#: Where the report goes, relative to the run's work directory (``html_path``).
DEFAULT_PATH = "report.html"


def view_of(run: RunRecord, *, text_budget: int = TEXT_BUDGET,
            links_from: Path | None = None) -> dict[str, Any]:
    """The run view (see ``rotest_templates``) of a recorded run; its tracebacks
    and logs hold at most about ``text_budget`` characters, and its links to
    files are relative to ``links_from`` (the report's folder; else the run's)."""
    counts = run.counts()
    builder = _ViewBuilder(text_budget, links_from or run.run_dir)
    tree = builder.node(run.root)
    builder.add_logs()
    return {
        "name": clean(run.name),
        "start": _iso(run.start),
        "end": _iso(run.end),
        "duration": run.duration,
        "status": _status(run, counts),
        "counts": counts,
        "environment": _texts(run.environment),
        "settings": _texts(run.settings),
        "artifact": _artifact(run.artifact, links_from or run.run_dir),
        "tree": tree,
    }


def _status(run: RunRecord, counts: dict[str, int]) -> str:
    if run.end is None:
        return "running"
    failing = sum(n for outcome, n in counts.items() if outcome not in PASSING)
    return "failed" if failing else "passed"


class _ViewBuilder:
    """Makes the nodes of one view: their ids (in running order, parents
    first) and each traceback's and log's share of the text budget."""

    def __init__(self, text_budget: int, links_from: Path | None) -> None:
        self.ids = itertools.count()
        self.left = text_budget
        self.links_from = links_from
        self.made: list[tuple[TestRecord, dict[str, Any]]] = []

    def node(self, record: TestRecord) -> dict[str, Any]:
        node = {
            "id": next(self.ids),
            "name": clean(record.name),
            "kind": record.kind,
            "classname": clean(record.classname),
            "outcome": record.outcome,
            "start": _iso(record.start),
            "end": _iso(record.end),
            "duration": record.duration,
            "lock_wait": record.lock_wait,
            "setup_time": record.setup_time,
            "description": clean(record.description),
            "tags": [clean(tag) for tag in record.tags],
            "note": clean(record.note),
            "resources": _texts(record.resources),
            "infos": [clean(info) for info in record.infos],
            "details": self.details(record.details),
            "log": "",  # add_logs, once every traceback has had its share
            "stdout": "", "stderr": "",
            "work_dir": self.link(record.work_dir),
            "log_file": self.link(record.log_path),
            "reruns": [{"outcome": attempt.outcome,
                        "details": self.details(attempt.details),
                        "duration": _seconds(attempt.start, attempt.end)}
                       for attempt in record.reruns],
            "signatures": [{key: clean(signature.get(key, "")) for key in
                            ("name", "pattern", "link")} for signature in record.signatures],
        }
        self.made.append((record, node))
        node["children"] = [self.node(child) for child in shown_children(record)]
        return node

    def link(self, path: Path | None) -> str | None:
        """A relative link from the report to ``path``; "./" first, so that no
        folder name can read as a URL scheme (``javascript:``)."""
        if path is None or self.links_from is None:
            return None
        return clean("./" + Path(os.path.relpath(path, self.links_from)).as_posix())

    def details(self, details: list[tuple[str, str]]) -> list[list[str]]:
        return [[outcome, self.fit(clean(text), DETAIL_LIMIT, keep="middle")]
                for outcome, text in details]

    def add_logs(self) -> None:
        """The logs and printed output, those of tests that did not pass
        first: if the budget runs out, it is on texts nobody needs to read."""
        for record, node in sorted(self.made, key=lambda made: made[0].passed):
            node["log"] = self.fit(clean(record.log_text(LOG_LIMIT)), LOG_LIMIT, keep="end")
            for stream in ("stdout", "stderr"):
                node[stream] = self.fit(clean(getattr(record, stream)), LOG_LIMIT, keep="end")

    def fit(self, text: str, limit: int, *, keep: str) -> str:
        """``text`` cut to ``limit`` or to what the budget has left."""
        limit = max(min(limit, self.left), TEXT_FLOOR)
        if len(text) > limit:
            text = _cap_middle(text, limit) if keep == "middle" else cap(text, limit, keep=keep)
        self.left -= len(text)
        return text


def _cap_middle(text: str, limit: int) -> str:
    """``text`` cut in the middle to about ``limit`` characters, saying how much
    was cut: a traceback's start says where it happened, its end what was
    raised (the last of a chain), and a huge message leaves both in sight."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


def _texts(mapping: dict[str, Any]) -> dict[str, str]:
    return {clean(key): clean(value) for key, value in mapping.items()}


def _artifact(artifact: str | None, folder: Path | None) -> dict[str, Any] | None:
    """The run's archive (``-o artifact``), linked from the report by a path
    relative to the report's folder, so the link holds when both move together."""
    if not artifact:
        return None
    url = os.path.relpath(artifact, folder) if folder is not None else artifact
    return {"path": clean(artifact), "url": clean(Path(url).as_posix())}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


class HtmlHandler(RecordingHandler):
    """Writes ``report.html`` (the ``html_path`` setting; relative: to the run's
    work directory) when the run ends: one file, nothing fetched from the network."""

    NAME = "html"
    NEEDS_JOURNAL = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = report_path(getattr(self.config, "html_path", None), DEFAULT_PATH,
                                self.work_dir)

    def stop_test_run(self) -> None:
        super().stop_test_run()
        page = render_report(view_of(self.run, links_from=self.path.parent)).encode("utf-8")
        write_atomically(self.path, lambda stream: stream.write(page))
        print(f"html report: {self.path}", file=self.stream)
