"""The ``history`` report handler (also ``db`` and ``remote``, Rotest's names):
the run and every test in the database, which ``--delta`` and the server's
run pages read.

With no ``host`` configured the run goes into the embedded database;
otherwise to the server over the API, with the run's token. The run is
started before the first test; the records of the top-level tests are sent
as they end, at most once a second (a crash loses at most the last second's
tests; a request per test would make a long run of short tests slow), and
the run is finished at the end. A history that cannot be written is said once on
stderr; the run goes on.
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any, Iterator

from rotest_core.config import RunConfig, load_config
from rotest_core.history import HistoryStore, history_for

from .record import RecordingHandler, TestRecord
from .text import cap, clean

__all__ = ["HistoryHandler", "past_durations", "record_json"]

#: Longest traceback and log sent per test (the server keeps at most 64 KB).
TEXT_LIMIT = 32 * 1024
#: Records are sent in requests of about this size (the server's default
#: limit is 1 MB a request).
BATCH_BYTES = 256 * 1024
#: Seconds between two sends while the run goes.
SEND_EVERY = 1.0


def past_durations(config: RunConfig, run_name: str | None) -> dict[str, float]:
    """Seconds per test path, averaged over recent finished runs (of
    ``run_name``, or of any name); empty when there is no history or it cannot
    be read (estimates are a nicety: they never stop a run)."""
    store = None
    try:
        store = history_for(config, retry_seconds=0.0)
        return store.past_durations(run_name)
    except Exception:  # noqa: BLE001 - no estimate rather than no run
        return {}
    finally:
        if store is not None:
            store.close()


class HistoryHandler(RecordingHandler):
    """Records the run, as it goes, in the embedded database or on the server."""

    NAME = "history"
    #: How long the run's start waits for a server that cannot be reached.
    RETRY_SECONDS = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store: HistoryStore | None = None
        self.run_id: int | None = None
        #: Top-level records changed since they were last sent.
        self._pending: dict[int, TestRecord] = {}
        self._off = False          # the run could not be started: nothing to do
        self._deferred = False     # a send failed: try once more at the end
        self._said = False
        self._sent_at = 0.0        # time.monotonic() of the last send

    # --- the run -----------------------------------------------------------

    def start_test_run(self) -> None:
        super().start_test_run()
        try:
            self.store = history_for(self.config if self.config is not None
                                     else load_config(), retry_seconds=self.RETRY_SECONDS)
            self.run_id = self.store.start_run(
                name=self.run.name, host=self.run.environment.get("host", ""),
                start=_iso(self.run.start), settings=self.run.settings,
                environment={k: clean(v) for k, v in self.run.environment.items()},
                run_dir=str(self.run.run_dir or ""), **self._base())["id"]
        except Exception as error:  # noqa: BLE001 - a report never breaks the run
            self._off = True
            self._say(error)

    def stop_test_run(self) -> None:
        super().stop_test_run()
        if self._off or self.store is None:
            return
        try:
            self._deferred = False
            self._flush()
            if not self._deferred:
                self.store.finish_run(self.run_id, end=_iso(self.run.end),
                                      artifact_path=self._artifact_path())
        except Exception as error:  # noqa: BLE001
            self._say(error)
        finally:
            self.store.close()

    def _base(self) -> dict[str, int]:
        # The runner sets it on the main test when --delta has a base run.
        base = getattr(self.main_test, "delta_base", None)
        return {"base": base} if base is not None else {}

    def _artifact_path(self) -> str | None:
        # The artifact handler sets it on the main test when the run starts.
        path = getattr(self.main_test, "artifact_path", None)
        return str(path) if path else None

    # --- the tests ---------------------------------------------------------

    def record_of(self, test: Any) -> TestRecord:
        record = super().record_of(test)
        top = _top_level(record)
        if top is not None:
            self._pending[id(top)] = top
        return record

    def stop_test(self, test: Any) -> None:
        super().stop_test(test)
        self._top_level_ended(test)

    def stop_composite(self, test: Any) -> None:
        super().stop_composite(test)
        self._top_level_ended(test)

    def _top_level_ended(self, test: Any) -> None:
        record = self.record_of(test)
        if (record.parent is self.run.root and not (self._off or self._deferred)
                and time.monotonic() - self._sent_at >= SEND_EVERY):
            self._flush()

    def _flush(self) -> None:
        """Send the pending top-level records and their subtrees."""
        if self.store is None or self.run_id is None:
            return
        pending, self._pending = list(self._pending.values()), {}
        self._sent_at = time.monotonic()
        try:
            for batch in _batches(record_json(record, self.run.root)
                                  for top in pending for record in top.walk()):
                self.store.add_records(self.run_id, batch)
        except Exception as error:  # noqa: BLE001 - keep them for one more try
            for top in pending:
                self._pending.setdefault(id(top), top)
            self._deferred = True
            self._say(error)

    def _say(self, error: Exception) -> None:
        if self._said:
            return
        self._said = True
        where = getattr(self.store, "where", "the history")
        print(f"rotest: the run history could not be written to {where}: "
              f"{type(error).__name__}: {error}; the tests go on without it",
              file=sys.stderr)


def record_json(record: TestRecord, root: TestRecord) -> dict[str, Any]:
    """One record as the history's API takes it (texts cleaned and capped)."""
    return {
        "path": record.path,
        "parent": record.parent.path if record.parent not in (None, root) else None,
        "name": clean(record.name), "kind": record.kind,
        "classname": clean(record.classname), "outcome": record.outcome,
        "start": _iso(record.start), "end": _iso(record.end),
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
    }


def _details(details: list[tuple[str, str]]) -> list[list[str]]:
    return [[outcome, cap(clean(text), TEXT_LIMIT)] for outcome, text in details]


def _top_level(record: TestRecord) -> TestRecord | None:
    """The ancestor of ``record`` just under the run's root (None for the root)."""
    if record.parent is None:
        return None
    while record.parent.parent is not None:
        record = record.parent
    return record


def _batches(records: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch, size = [], 0
    for record in records:
        length = len(json.dumps(record))
        if batch and size + length > BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += length
    if batch:
        yield batch


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
