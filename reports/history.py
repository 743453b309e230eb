"""The ``history`` report handler (also ``db`` and ``remote``, Rotest's names):
the run and every test in the database, which ``--delta`` and the server's
run pages read.

With no ``host`` configured the run goes into the embedded database;
otherwise to the server over the API, with the run's token. Nothing is sent
that is not first in the run's journal (:mod:`reports.journal`), and what is
sent is read back from it: a :class:`JournalSender` sends the journal from
where the history last acknowledged it, so a server that is away loses
nothing. What could not be sent is sent between tests (backing off while the
server does not answer), at the end (waiting up to ``history_wait``), by the
next run from the same work directory, or by ``rotest history push``. The
server takes it idempotently: the run by its client-chosen ``uid``, records
by their path, so a resend never doubles anything.

While the run goes its lease on the server is renewed; if the client dies,
the server ends the run as aborted when the lease runs out.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from rotest_core.config import RunConfig, load_config
from rotest_core.history import HistoryStore, history_for
from rotest_core.resources.errors import ServerBusy, ServerUnreachable

from .journal import JournalHandler, entries, process_alive, record_json

__all__ = ["HistoryHandler", "JournalSender", "past_durations", "push", "record_json"]

#: Records are sent in requests of about this size (the server's default
#: limit is 1 MB a request).
BATCH_BYTES = 256 * 1024
#: Seconds between two sends while the run goes, and the longest back-off
#: while the history does not answer.
SEND_EVERY = 1.0
MAX_BACKOFF = 30.0


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


class JournalSender:
    """Sends one run's journal to the history, from where it stopped.

    Its progress (bytes acknowledged, the history's id of the run) is kept in
    ``journal.sent`` beside the journal, so another process can go on.
    """

    def __init__(self, journal: Path, store: HistoryStore, *, lease: float | None = None,
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


class HistoryHandler(JournalHandler):
    """Records the run, as it goes, in the embedded database or on the server."""

    NAME = "history"
    KEEPS_JOURNAL = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store: HistoryStore | None = None
        self.sender: JournalSender | None = None
        self._lock = threading.Lock()     # the store, between the run and the heartbeat
        self._beat = threading.Event()    # set: the heartbeat stops
        self._next_try = 0.0              # time.monotonic() of the next send
        self._backoff = 0.0
        self._unreachable = False         # the last send found no server
        self._said: set[str] = set()

    # --- the run -----------------------------------------------------------

    def start_test_run(self) -> None:
        super().start_test_run()
        config = self.config if self.config is not None else load_config()
        try:
            self.store = history_for(config, retry_seconds=0.0)
        except Exception as error:  # noqa: BLE001 - a report never breaks the run
            self._say(f"the run history cannot be written: {type(error).__name__}: "
                      f"{error}; the tests go on without it")
            return
        _outbox_add(config, self.path)
        push_outbox(config, self.store, skip=self.path, say=self._say)
        self.sender = JournalSender(self.path, self.store,
                                    lease=getattr(config, "history_lease", None),
                                    say=self._say)
        self._send()
        self._next_try = 0.0  # the first test's records go at once
        threading.Thread(target=self._heartbeat, name="rotest-history-lease",
                         daemon=True).start()

    def stop_test_run(self) -> None:
        super().stop_test_run()  # the journal's finish line
        self._beat.set()
        if self.sender is None:
            return
        wait = float(getattr(self.config, "history_wait", 30.0) or 0.0)
        deadline = time.monotonic() + wait
        # Wait for a server that does not answer, not for one that says no.
        while (not self._send(force=True) and self._unreachable
               and time.monotonic() < deadline):
            time.sleep(min(self._backoff or 1.0, max(deadline - time.monotonic(), 0.0)))
        if self.sender.finished:
            _outbox_remove(self.config, self.path)
        else:
            waited = f"waited {wait:g} s" if self._unreachable else "it refused"
            print(f"rotest: {self.store.where} did not take the whole run ({waited}): "
                  f"the rest waits in {self.path}; the next run from this work "
                  f"directory sends it, or `rotest history push`", file=sys.stderr)
        self.store.close()

    # --- the tests ---------------------------------------------------------

    def stop_test(self, test: Any) -> None:
        super().stop_test(test)
        self._send()

    def stop_composite(self, test: Any) -> None:
        super().stop_composite(test)
        self._send()

    # --- sending -----------------------------------------------------------

    def _send(self, force: bool = False) -> bool:
        """Send the journal if it is time; True when the history has it all."""
        if self.sender is None:
            return False
        now = time.monotonic()
        if not force and now < self._next_try:
            return False
        with self._lock:
            try:
                done = self.sender.send()
            except Exception as error:  # noqa: BLE001 - kept in the journal, tried again
                self._unreachable = isinstance(error, (ServerUnreachable, ServerBusy))
                self._backoff = min(max(self._backoff * 2, 2.0), MAX_BACKOFF)
                self._next_try = time.monotonic() + self._backoff
                self._say(f"the run history could not be written to {self.store.where}: "
                          f"{type(error).__name__}: {error}; the results are kept in "
                          f"{self.path} and sent when it answers")
                return False
        self._backoff = 0.0
        self._next_try = now + SEND_EVERY
        return done

    def _heartbeat(self) -> None:
        """Renew the run's lease while a long test sends nothing."""
        every = max(float(getattr(self.config, "history_lease", 300.0) or 300.0) / 3, 1.0)
        while not self._beat.wait(every):
            sender = self.sender
            if sender is None or sender.run_id is None:
                continue
            with self._lock:
                try:
                    self.store.heartbeat(sender.run_id)
                except Exception:  # noqa: BLE001 - the next send says it
                    pass

    def _say(self, text: str) -> None:
        key = text.split(":", 1)[0]
        if key not in self._said:  # each kind of trouble once
            self._said.add(key)
            print(f"rotest: {text}", file=sys.stderr)


# --------------------------------------------------------------------------
# Journals not yet sent, by work directory

def _outbox(config: Any) -> Path | None:
    workdir = getattr(config, "workdir", None)
    return Path(workdir).expanduser() / "outbox" if workdir else None


def _outbox_add(config: Any, journal: Path) -> None:
    folder = _outbox(config)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{journal.parent.name}.json").write_text(
            json.dumps({"journal": str(journal)}))


def _outbox_remove(config: Any, journal: Path) -> None:
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


def push(config: Any, store: HistoryStore, *, skip: Path | None = None,
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
                sender.abort()
        except Exception as error:  # noqa: BLE001 - the rest waits for the next try
            say(f"the run history could not take {journal}: {type(error).__name__}: "
                f"{error}")
            return sent, len(journals) - index
        if sender.finished:
            _outbox_remove(config, journal)
            sent += 1
    return sent, len(journals) - sent


def push_outbox(config: Any, store: HistoryStore, *, skip: Path,
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

