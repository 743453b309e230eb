"""Journals the run history has not taken yet.

A run writes its journal (``journal.jsonl`` in its run directory, see
:mod:`rotest_reports.journal`) as its tests end. The history is sent from it by a
:class:`JournalSender`, which keeps what the history acknowledged beside the
journal (``journal.sent``), so that any process can go on where another
stopped. A run that sends its history lists its journal in the work
directory's ``outbox/`` until the history has all of it; :func:`push` sends
what is listed there (at the start of the next run, before ``--delta`` reads
the history, and by ``rotest history push``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from .store import StoreClient


__all__ = ["JournalSender", "entries", "outbox_add", "outbox_remove", "process_alive",
           "push", "push_outbox"]

#: Records are sent in requests of about this size (the server's default
#: limit is 1 MB a request).
BATCH_BYTES = 256 * 1024


def entries(path: Path, offset: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """(offset after it, entry) of each whole line from ``offset`` on; a line
    torn by a kill (no newline, or not JSON) ends the reading."""
    with open(path, "rb") as stream:
        stream.seek(offset)
        for line in stream:
            if not line.endswith(b"\n"):
                return
            try:
                entry = json.loads(line)
            except ValueError:
                return
            offset += len(line)
            yield offset, entry


class JournalSender:
    """Sends one run's journal to the history, from where it stopped.

    Its progress (bytes acknowledged, the history's id of the run) is kept in
    ``journal.sent`` beside the journal, so another process can go on.
    """

    def __init__(self, journal: Path, store: StoreClient, *, lease: float | None = None,
                 say: Callable[[str], None] = lambda text: None) -> None:
        self.journal = journal
        self.store = store
        self.lease = lease
        self.say = say
        self.state_path = journal.with_name("journal.sent")
        state = _read_state(self.state_path)
        self.offset: int = state.get("offset", 0)
        self.run_id: int | None = state.get("run_id")
        self.finished: bool = state.get("finished", False)
        self.refused = 0

    def send(self) -> bool:
        """Send what the history has not acknowledged; True when it has all
        of the journal. The history's errors propagate (nothing is lost)."""
        batch: list[dict[str, Any]] = []
        size, batch_end = 0, self.offset
        for end, entry in entries(self.journal, self.offset):
            if "records" not in entry or size > BATCH_BYTES:
                self._send_records(batch, batch_end)
                batch, size = [], 0
            if "run" in entry:
                run = dict(entry["run"])
                if self.lease is not None:
                    run["lease"] = int(self.lease)
                self.run_id = self.store.start_run(**run)["id"]
                self._ack(end)
            elif "records" in entry:
                batch.extend(entry["records"])
                size += sum(len(json.dumps(record)) for record in entry["records"])
                batch_end = end
            elif "finish" in entry:
                self._finish(entry["finish"])
                self._ack(end)
        self._send_records(batch, batch_end)
        return self.offset == self.journal.stat().st_size

    def abort(self) -> None:
        """End the run as aborted: its process died before it could."""
        if not self.finished and self.run_id is not None:
            self._finish({"status": "aborted"})
            self._ack(self.offset)

    def _send_records(self, batch: list[dict[str, Any]], end: int) -> None:
        if not batch:
            return
        if self.run_id is None:
            raise ValueError(f"{self.journal} has records before its run line")
        answer = self.store.add_records(self.run_id, batch) or {}
        refused = answer.get("refused") or []
        if refused:
            self.refused += len(refused)
            first = refused[0]
            self.say(f"the history refused {len(refused)} record(s), e.g. "
                     f"{str(first.get('path', ''))[:200]!r}: {first.get('message')}")
        self._ack(end)

    def _finish(self, finish: dict[str, Any]) -> None:
        self.store.finish_run(self.run_id, end=finish.get("end"),
                              artifact_path=finish.get("artifact_path"),
                              status=finish.get("status"))
        self.finished = True

    def _ack(self, offset: int) -> None:
        self.offset = offset
        _write_state(self.state_path, {"offset": offset, "run_id": self.run_id,
                                       "finished": self.finished})


def process_alive(pid: Any) -> bool:
    """Whether the process ``pid`` still runs (a reused pid counts as alive:
    ``rotest report rebuild`` is there for that)."""
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _outbox(config: Any) -> Path | None:
    workdir = getattr(config, "workdir", None)
    return Path(workdir).expanduser() / "outbox" if workdir else None


def outbox_add(config: Any, journal: Path) -> None:
    folder = _outbox(config)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{journal.parent.name}.json").write_text(
            json.dumps({"journal": str(journal)}))


def outbox_remove(config: Any, journal: Path) -> None:
    folder = _outbox(config)
    if folder is not None:
        (folder / f"{journal.parent.name}.json").unlink(missing_ok=True)


def _outbox_journals(config: Any) -> Iterator[Path]:
    folder = _outbox(config)
    for entry in sorted(folder.glob("*.json")) if folder is not None else ():
        try:
            journal = Path(json.loads(entry.read_text())["journal"])
        except (OSError, ValueError, KeyError):
            continue
        if journal.is_file():
            yield journal
        else:
            entry.unlink(missing_ok=True)  # its run directory is gone


def push(config: Any, store: StoreClient, *, skip: Path | None = None,
         say: Callable[[str], None] = print) -> tuple[int, int]:
    """Send every journal of ``config``'s work directory that the history
    lacks, oldest first, stopping at the first the history does not take.
    A run whose process died unfinished is ended as aborted. Returns
    (journals sent whole, journals left)."""
    journals = [journal for journal in _outbox_journals(config) if journal != skip]
    sent = 0
    for index, journal in enumerate(journals):
        sender = JournalSender(journal, store, say=say)
        try:
            sender.send()
            if _dead_unfinished(journal, sender):
                # Its process is gone, so its journal is whole only now: a run
                # that wrote its finish after the send above (another rotest
                # run in this work directory, e.g. a shard, that just ended)
                # is finished as it said, not aborted.
                sender = JournalSender(journal, store, say=say)
                sender.send()
                if not sender.finished:
                    sender.abort()
        except Exception as error:  # noqa: BLE001 - the rest waits for the next try
            say(f"the run history could not take {journal}: {type(error).__name__}: "
                f"{error}")
            return sent, len(journals) - index
        if sender.finished:
            outbox_remove(config, journal)
            sent += 1
    return sent, len(journals) - sent


def push_outbox(config: Any, store: StoreClient, *, skip: Path | None = None,
                say: Callable[[str], None]) -> None:
    """What earlier runs from this work directory could not send, first."""
    try:
        sent, _left = push(config, store, skip=skip, say=say)
    except Exception:  # noqa: BLE001 - never stops this run
        return
    if sent:
        say(f"sent the history of {sent} earlier run(s) from this work directory")


def _dead_unfinished(journal: Path, sender: JournalSender) -> bool:
    """A journal with no finish line whose process is gone."""
    if sender.finished:
        return False
    try:
        first = next(entries(journal))[1]
    except (StopIteration, OSError):
        return False
    pid = first.get("local", {}).get("pid")
    return pid != os.getpid() and not process_alive(pid)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, path)

