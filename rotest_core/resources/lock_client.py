"""What the runtime asks of a lock client, and the parts both clients share.

Two clients implement it: :class:`~.embedded.EmbeddedLockClient` calls the
lock engine on a local database; :class:`~.remote.RemoteLockClient` calls the
server's JSON API. Both hold one lock session for their lifetime.
"""
from __future__ import annotations

import abc
import logging
import threading
from typing import Any, Iterator

from .errors import LockClientError, SessionLostError

log = logging.getLogger(__name__)

Descriptor = dict[str, Any]
ResourceDict = dict[str, Any]


def descriptor(type_name: str, **filters: Any) -> Descriptor:
    """``descriptor("DeviceData", name="dev1")`` -> a descriptor for the API."""
    return {"type": type_name, "properties": filters}


class LockClient(abc.ABC):
    """Lock and release resources within one lock session.

    The session's life is the same for every client: :meth:`open` starts it
    and a heartbeat thread renews its lease every third of it; :meth:`close`
    ends it. Subclasses supply the calls (``_open_session``, ``_renew``,
    ``_close_session`` and the queue's ``submit``, ``poll``, ``cancel``).
    """

    #: The lease asked for when :meth:`open` is given none.
    DEFAULT_LEASE = 60.0

    session_id: str | None = None

    def open(self, *, lease_seconds: float | None = None, description: str = "") -> None:
        """Start the session and keep its lease alive until :meth:`close`."""
        self._lease = lease_seconds or self.DEFAULT_LEASE
        self.session_id = self._open_session(self._lease, description)
        self._stop = threading.Event()
        threading.Thread(target=self._beat, args=(self._stop,), daemon=True,
                         name="rotest-heartbeat").start()

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self._lease / 3):
            try:
                self._renew()
            except SessionLostError:
                if not stop.is_set():  # not just closed by close()
                    log.error("the lock session expired: its resources were released")
                return
            except Exception as error:  # noqa: BLE001 - try again at the next beat
                # Were this thread to end, the lease would run out mid-run.
                log.warning("heartbeat failed: %s", error)

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
            self.session_id = None
        self._dispose()

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
        from .waiting import lock_and_wait
        return lock_and_wait(self, descriptors, timeout, priority)

    # --- what each client implements --------------------------------------

    @abc.abstractmethod
    def _open_session(self, lease_seconds: float, description: str) -> str:
        """Open a lock session; its id."""

    @abc.abstractmethod
    def _renew(self) -> None:
        """Renew the session's lease (the heartbeat)."""

    @abc.abstractmethod
    def _close_session(self) -> None:
        """Close the session."""

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
        """Give resources back; ``dirty`` says they were left in an unknown state."""

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

    def __enter__(self) -> "LockClient":
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
