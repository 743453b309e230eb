"""What the runtime and the reports ask of the store: one table of
operations, and the parts both doors share.

Two clients implement it: :class:`~.embedded.EmbeddedClient` calls the engine
in-process on a local database; :class:`~.remote.RemoteClient` calls the
server's JSON API. A client holds at most one lock session at a time.
"""
from __future__ import annotations

import abc
import logging
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from ..resources.errors import LockClientError, SessionLostError
from .waiting import lock_and_wait

log = logging.getLogger(__name__)

Descriptor = dict[str, Any]
ResourceDict = dict[str, Any]


def descriptor(type_name: str, **filters: Any) -> Descriptor:
    """``descriptor("DeviceData", name="dev1")`` -> a descriptor for the API."""
    return {"type": type_name, "properties": filters}


class StoreClient(abc.ABC):
    """The store, as the runtime and the reports use it: lock sessions and
    locks, resource queries, the run history, error signatures and the
    inventory.

    Locks are taken within one lock session.
    The session's life is the same for every client: :meth:`open` starts it
    and a heartbeat thread renews its lease three times a lease; the client's
    *presence* (a connection or a file lock, see the subclasses) lets the
    engine end the session at once if the process dies; :meth:`close` ends it.
    A session can be lost while the process lives (frozen past its lease):
    then :meth:`check_session` raises :class:`SessionLostError` and the next
    :meth:`lock` opens a new session. Subclasses supply the calls
    (``_open_session``, ``_renew``, ``_close_session``, the queue's
    ``submit``, ``poll``, ``cancel``) and their presence (``_attend``,
    ``_leave``).
    """

    #: Where the store is, in words, for messages.
    where: str = "the store"
    #: The lease asked for when :meth:`open` is given none (None: the server's).
    DEFAULT_LEASE: float | None = 10.0
    #: Heartbeats per lease: two may fail (a blip) before the lease runs out.
    HEARTBEATS_PER_LEASE = 3

    session_id: str | None = None
    _lease = 10.0
    #: When (time.monotonic()) a renewal last began that the server confirmed.
    _confirmed = 0.0
    _lost: SessionLostError | None = None

    def open(self, *, lease_seconds: float | None = None, description: str = "") -> None:
        """Start the session and keep its lease alive until :meth:`close`."""
        self._description = description
        started = time.monotonic()
        session = self._open_session(lease_seconds or self.DEFAULT_LEASE, description)
        self.session_id, self._lease = session["id"], float(session["lease_seconds"])
        self._lost, self._confirmed = None, started
        self._stop = threading.Event()
        threading.Thread(target=self._beat, args=(self._stop, self._lease), daemon=True,
                         name="rotest-heartbeat").start()
        self._attend()

    def _beat(self, stop: threading.Event, lease: float) -> None:
        # A beat is due an interval after the last renewal, a heartbeat's or
        # a lock request's (the server renews the lease with each request),
        # or after the last try: a client that locks often sends none.
        interval = lease / self.HEARTBEATS_PER_LEASE
        tried = time.monotonic()
        while not stop.wait(max(0.0, max(self._confirmed, tried) + interval
                                - time.monotonic())):
            started = time.monotonic()
            if started < self._confirmed + interval:
                continue  # a lock request renewed the lease meanwhile
            tried = started
            try:
                self._renew()
            except SessionLostError as error:
                if not stop.is_set():  # not just closed by close()
                    self._session_lost(error)
                return
            except Exception as error:  # noqa: BLE001 - try again at the next beat
                # Were this thread to end, the lease would run out mid-run.
                log.warning("heartbeat failed: %s", error)
            else:
                self._confirmed = max(self._confirmed, started)

    def _session_lost(self, error: SessionLostError) -> None:
        """The engine said the session ended: remember it for
        :meth:`check_session` (said once, in the log too)."""
        if self._lost is None:
            self._lost = error
            log.error("the lock session was lost: %s", error)

    def check_session(self) -> None:
        """Raise :class:`SessionLostError` if the session ended under this
        client (its lease ran out while the process was frozen; the engine
        took it for dead). When the lease may have run out since the last
        renewal, the server is asked; otherwise nothing is sent."""
        if self._lost is not None:
            raise self._lost
        if self.session_id is None:
            return
        started = time.monotonic()
        # The server counts the lease from when it got the renewal, later than
        # ``_confirmed``; a margin covers the clocks' small drift.
        if started - self._confirmed < self._lease * 0.8:
            return
        try:
            self._renew()
        except SessionLostError as error:
            self._session_lost(error)
            raise
        except LockClientError as error:  # unreachable: the release will say so
            log.warning("could not check the lock session: %s", error)
            return
        self._confirmed = max(self._confirmed, started)

    def close(self) -> None:
        """End the session: whatever it still holds is released."""
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
        if self.session_id is not None:
            try:
                self._close_session()
            except LockClientError as error:
                log.debug("closing the lock session: %s", error)  # expired: holds nothing
            self._leave()
            self.session_id = None
        self._dispose()

    def _reopen(self) -> None:
        """A new session in place of a lost one (what it held is gone)."""
        lost = self.session_id
        self._stop.set()
        self._leave()
        self.session_id = None
        self.open(lease_seconds=self._lease, description=self._description)
        log.warning("opened lock session %s in place of the lost %s", self.session_id,
                    lost)

    def end_session(self, session_id: str) -> None:
        """End another session of this client's user (a parallel run's worker
        that died): whatever it holds is released. One already ended is no error."""
        own, self.session_id = self.session_id, session_id
        try:
            self._close_session()
        except LockClientError as error:
            log.debug("ending lock session %s: %s", session_id, error)
        finally:
            self.session_id = own

    def lock(self, descriptors: list[Descriptor], *, timeout: float = 0.0,
             priority: int = 0) -> list[ResourceDict]:
        """All the described resources, one per descriptor, in order; waits up
        to ``timeout`` seconds in the server's fair queue. Raises
        ResourceUnavailableError when they are not free in time."""
        if self._lost is not None and self.session_id is not None:
            self._reopen()
        started = time.monotonic()
        granted = lock_and_wait(self, descriptors, timeout, priority)
        # Its request renewed the lease when it arrived: the heartbeat may wait.
        self._confirmed = max(self._confirmed, started)
        return granted

    # --- what each client implements --------------------------------------

    @abc.abstractmethod
    def _open_session(self, lease_seconds: float | None, description: str
                      ) -> dict[str, Any]:
        """Open a lock session (``lease_seconds`` None: the engine's default);
        the session as the engine describes it (its ``id``, ``lease_seconds``)."""

    @abc.abstractmethod
    def _renew(self) -> None:
        """Renew the session's lease (the heartbeat)."""

    @abc.abstractmethod
    def _close_session(self) -> None:
        """Close the session."""

    def _attend(self) -> None:
        """Start showing the engine that this process lives (presence)."""

    def _leave(self) -> None:
        """Stop showing it; called once the session is closed."""

    def _dispose(self) -> None:
        """Free the client's connections once the session is closed."""

    @abc.abstractmethod
    def submit(self, descriptors: list[Descriptor], timeout: float,
               priority: int) -> dict[str, Any]:
        """Put a lock request to the queue; the request as the engine describes it."""

    @abc.abstractmethod
    def poll(self, request_id: int, wait: float) -> dict[str, Any]:
        """The request, once it leaves the queue or after ``wait`` seconds."""

    @abc.abstractmethod
    def cancel(self, request_id: int) -> dict[str, Any]:
        """Withdraw the request (giving back what it was granted meanwhile)."""

    @abc.abstractmethod
    def release(self, names: list[str], *, dirty: bool = False,
                force: bool = False) -> list[str]:
        """Give resources back; ``dirty`` says they were left in an unknown state.

        With a session open, only what this session holds (an ended session
        raises SessionLostError and releases nothing); with none (the CLI's
        ``rotest resources release``, a parallel run's main process), what any
        session of the user holds."""

    def query(self, type_name: str, **filters: Any) -> list[ResourceDict]:
        """Every resource of a type matching the filters, locked or not (all
        pages of the answer)."""
        return list(self.iter_query(type_name, filters))

    def iter_query(self, type_name: str, filters: dict[str, Any] | None = None, *,
                   page_size: int | None = None) -> Iterator[ResourceDict]:
        """The resources of :meth:`query`, read a page at a time as they are
        consumed: stop early and the pages after are never asked for."""
        cursor: str | None = None
        while True:
            page = self.query_page(type_name, filters or {}, cursor=cursor,
                                   page_size=page_size)
            yield from page["resources"]
            if not page.get("more"):  # (a server from before pages sends no "more")
                return
            cursor = page["next_cursor"]

    @abc.abstractmethod
    def query_page(self, type_name: str, filters: dict[str, Any], *,
                   cursor: str | None = None,
                   page_size: int | None = None) -> dict[str, Any]:
        """One page of :meth:`query` after ``cursor``: ``resources``, ``more``
        and ``next_cursor`` (the server's page size when ``page_size`` is None)."""

    @abc.abstractmethod
    def update_fields(self, type_name: str, filters: dict[str, Any],
                      values: dict[str, Any]) -> list[ResourceDict]:
        """Set fields on the resources matching ``filters`` (held by us, or admin)."""

    # --- the run history ------------------------------------------------

    @abc.abstractmethod
    def start_run(self, **run: Any) -> dict[str, Any]:
        """Start a run (name, host, start, settings, environment, run_dir,
        base, uid, planned, lease); a start sent again with the same ``uid``
        returns the stored run."""

    @abc.abstractmethod
    def add_records(self, run_id: int, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Store records (and renew the run's lease); the answer says which
        were ``refused`` and why (``index``, ``path``, ``message``)."""

    def renew_run(self, run_id: int) -> dict[str, Any]:
        """Renew the run's lease: records, none of them."""
        return self.add_records(run_id, [])

    @abc.abstractmethod
    def finish_run(self, run_id: int, *, end: str, artifact_path: str | None,
                   status: str | None = None) -> dict[str, Any]:
        """End the run; ``status`` ``interrupted`` or ``aborted``, or None
        for the tests to decide."""

    @abc.abstractmethod
    def latest_results(self, name: str) -> dict[str, Any]:
        """The last result of each test of the runs named ``name``."""

    @abc.abstractmethod
    def past_durations(self, name: str | None) -> dict[str, float]:
        """Each test's recent duration, by path."""

    @abc.abstractmethod
    def recent_durations(self, name: str | None) -> dict[str, float]:
        """Each test's recent duration with the set-up before it, by path,
        the shards of one run id counting as one run (``--shard``'s weights)."""

    @abc.abstractmethod
    def claim_shard_plan(self, **plan: Any) -> dict[str, Any]:
        """Store the split of a run id's shards (run_group, name, shards,
        fingerprint, plan) unless one is stored: returns the stored one."""

    @abc.abstractmethod
    def shard_plan(self, run_group: str) -> dict[str, Any] | None:
        """The plan stored under ``run_group``, or None while none is."""

    @abc.abstractmethod
    def group_results(self, name: str, run_group: str | None = None,
                      exclude_group: str | None = None) -> dict[str, Any]:
        """What passed in a run and its shards, for ``--delta`` (see
        :func:`rotest_app.engine.history.group_results`)."""

    # --- error signatures -----------------------------------------------

    @abc.abstractmethod
    def signatures(self) -> list[dict[str, Any]]:
        """Every known error signature (id, name, pattern, ...)."""

    @abc.abstractmethod
    def add_signature(self, name: str, pattern: str) -> dict[str, Any]:
        """Record a new signature; one with the same pattern is returned as is."""

    @abc.abstractmethod
    def count_hit(self, signature_id: int) -> None:
        """Count one more failure that matched the signature."""

    # --- the inventory --------------------------------------------------

    @abc.abstractmethod
    def import_inventory(self, path: Path, *, keep_changes: bool = False,
                         progress: Callable[[int, int], None] | None = None) -> Any:
        """Create or update the resources of the YAML file at ``path``, all
        or none; an :class:`~rotest_app.engine.importer.ImportResult`-like
        answer (``created``, ``updated``, ``unchanged``, ``changes``)."""

    @abc.abstractmethod
    def export_inventory(self, out: IO[str], type_name: str = "ResourceData", *,
                         progress: Callable[[int, int], None] | None = None) -> int:
        """Write the resources of ``type_name`` to ``out`` as an import file;
        how many were written."""

    def __enter__(self) -> "StoreClient":
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
