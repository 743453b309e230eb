"""The ``history`` report handler (also ``db`` and ``remote``, Rotest's names):
the run and every test in the database, which ``--delta`` and the server's
run pages read.

With no ``host`` configured the run goes into the embedded database;
otherwise to the server over the API, with the run's token. Nothing is sent
that is not first in the run's journal (:mod:`rotest_reports.journal`), and what is
sent is read back from it: a :class:`rotest_core.outbox.JournalSender` sends it from
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

import sys
import threading
import time
from typing import Any

from rotest_core.config import RunConfig, load_config
from rotest_core.store import StoreClient, client_for
from rotest_core.outbox import JournalSender, outbox_add, outbox_remove, push_outbox
from rotest_core.resources.errors import ServerBusy, ServerUnreachable

from .journal import JournalHandler

__all__ = ["HistoryHandler", "past_durations"]

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
        store = client_for(config, retry_seconds=0.0)
        return store.past_durations(run_name)
    except Exception:  # noqa: BLE001 - no estimate rather than no run
        return {}
    finally:
        if store is not None:
            store.close()


class HistoryHandler(JournalHandler):
    """Records the run, as it goes, in the embedded database or on the server."""

    NAME = "history"
    KEEPS_JOURNAL = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store: StoreClient | None = None
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
            self.store = client_for(config, retry_seconds=0.0)
        except Exception as error:  # noqa: BLE001 - a report never breaks the run
            self._say(f"the run history cannot be written: {type(error).__name__}: "
                      f"{error}; the tests go on without it")
            return
        outbox_add(config, self.path)
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
            outbox_remove(self.config, self.path)
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
                    self.store.renew_run(sender.run_id)
                except Exception:  # noqa: BLE001 - the next send says it
                    pass

    def _say(self, text: str) -> None:
        key = text.split(":", 1)[0]
        if key not in self._said:  # each kind of trouble once
            self._said.add(key)
            print(f"rotest: {text}", file=sys.stderr)


