"""The html report: one self-contained file a person opens in a browser.

:func:`view_of` turns the run's records into the *run view*, the plain dict
(JSON-serialisable, texts cleaned and capped) that :func:`app.web.report.render_report`
renders; the server's run pages build the same dict from the database, so a
run looks the same in the file and on the server. :class:`HtmlHandler` writes
the file into the run's work directory when the run ends.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from app.web.report import render_report

from .record import PASSING, RecordingHandler, RunRecord, TestRecord
from .text import cap, clean

__all__ = ["DEFAULT_PATH", "DETAIL_LIMIT", "LOG_LIMIT", "HtmlHandler", "view_of"]

#: Characters kept of each traceback or skip reason, and of each test's log:
#: the report stays light with thousands of failures, and the cut is said.
DETAIL_LIMIT = 64 * 1024
LOG_LIMIT = 64 * 1024
#: Where the report goes, relative to the run's work directory (``html_path``).
DEFAULT_PATH = "report.html"


def view_of(run: RunRecord) -> dict[str, Any]:
    """The run view (see ``app.web.report``) of a recorded run."""
    counts = run.counts()
    return {
        "name": clean(run.name),
        "start": _iso(run.start),
        "end": _iso(run.end),
        "duration": run.duration,
        "status": _status(run, counts),
        "counts": counts,
        "environment": _texts(run.environment),
        "settings": _texts(run.settings),
        "artifact": _artifact(getattr(run, "artifact", None)),
        "tree": _node(run.root, _ids()),
    }


def _status(run: RunRecord, counts: dict[str, int]) -> str:
    if run.end is None:
        return "running"
    failing = sum(n for outcome, n in counts.items() if outcome not in PASSING)
    return "failed" if failing else "passed"


def _node(record: TestRecord, ids: Iterator[int]) -> dict[str, Any]:
    # The node takes its id before its children: ids follow the running order.
    node = {
        "id": next(ids),
        "name": clean(record.name),
        "kind": record.kind,
        "classname": clean(record.classname),
        "outcome": record.outcome,
        "start": _iso(record.start),
        "end": _iso(record.end),
        "duration": record.duration,
        "description": clean(record.description),
        "tags": [clean(tag) for tag in record.tags],
        "note": clean(record.note),
        "resources": _texts(record.resources),
        "infos": [clean(info) for info in record.infos],
        "details": _details(record.details),
        "log": clean(record.log_text(LOG_LIMIT)),
        "reruns": [{"outcome": attempt.outcome,
                    "details": _details(attempt.details),
                    "duration": _seconds(attempt.start, attempt.end)}
                   for attempt in record.reruns],
        "signatures": [{key: clean(signature.get(key, "")) for key in
                        ("name", "pattern", "link")} for signature in record.signatures],
        "children": [],
    }
    node["children"] = [_node(child, ids) for child in record.children]
    return node


def _ids() -> Iterator[int]:
    number = 0
    while True:
        yield number
        number += 1


def _details(details: list[tuple[str, str]]) -> list[list[str]]:
    return [[outcome, _cap_middle(clean(text), DETAIL_LIMIT)] for outcome, text in details]


def _cap_middle(text: str, limit: int) -> str:
    """``text`` cut in the middle to ``limit`` characters, saying how much was
    cut: a traceback's start says where it happened, its end what was raised
    (the last of a chain), and a huge message leaves both in sight."""
    if len(text) <= limit:
        return text
    head = cap(text, limit // 4, keep="start")
    return head + "\n" + text[-(limit - limit // 4):]


def _texts(mapping: dict[str, Any]) -> dict[str, str]:
    return {clean(key): clean(value) for key, value in mapping.items()}


def _artifact(artifact: Any) -> dict[str, Any] | None:
    """The run's archive, if the artifact handler recorded one before this one
    writes (a path, or a dict with its path and URL)."""
    if not artifact:
        return None
    if isinstance(artifact, dict):
        url = artifact.get("url")
        return {"path": clean(artifact.get("path", "")), "url": clean(url) if url else None}
    return {"path": clean(artifact), "url": None}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


class HtmlHandler(RecordingHandler):
    """Writes ``report.html`` (the ``html_path`` setting, relative to the run's
    work directory) when the run ends: one file, nothing fetched from the network."""

    NAME = "html"

    @property
    def path(self) -> Path:
        """Where the report goes."""
        relative = getattr(self.config, "html_path", None) or DEFAULT_PATH
        return Path(self.work_dir or ".") / Path(relative).expanduser()

    def stop_test_run(self) -> None:
        super().stop_test_run()
        path = self.path
        write_atomically(path, render_report(view_of(self.run)))
        print(f"html report: {path}", file=self.stream)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder,
    so a reader never sees half a report (and an old one stays if this fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Named here rather than by mkstemp: open() gives the usual permissions
    # (mkstemp's are owner-only), and a report is for people to read.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
