"""Wake-ups for waiting lock requests, across threads and processes.

A grant is made in the transaction that frees the resources; the waiter only
needs to learn of it. On PostgreSQL a ``NOTIFY`` in that transaction reaches a
per-process ``LISTEN`` thread; on SQLite a waiter watches ``PRAGMA
data_version``, which changes whenever another connection commits. A NOTIFY
names the requests its transaction changed, so only their waiters wake, and a
waiter reads its own request without the engine's write lock. Either way the
waiter also wakes every ``RECHECK`` seconds, to check its deadline.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "rotest_locks"
RECHECK = 1.0


#: A wake-up for every waiter (a change whose requests are not known).
EVERYONE = "*"


class Notifier:
    """In-process wake-ups, per waited-on request; the base of the
    per-database notifiers.

    A waiter ``watch``-es its request; a commit wakes only the waiters of the
    requests it changed (or everyone, for :data:`EVERYONE`). The others sleep
    on: they run no query for a grant that is not theirs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0  # bumped for EVERYONE
        self._watched: dict[int, _Watch] = {}

    def announce(self, db: Session, requests: set[Any]) -> None:
        """Called inside the transaction that changed ``requests`` (their ids,
        or EVERYONE)."""

    def committed(self, requests: set[Any] | frozenset[Any] = frozenset({EVERYONE})) -> None:
        """Called after that transaction committed: wake their waiters here."""
        with self._lock:
            if EVERYONE in requests:
                self._generation += 1
                watches = list(self._watched.values())
            else:
                watches = [self._watched[i] for i in requests if i in self._watched]
            for watch in watches:
                watch.version += 1
                watch.condition.notify_all()

    @contextmanager
    def watching(self, request_id: int) -> Iterator[None]:
        """Hear of commits that change ``request_id`` while the block runs."""
        with self._lock:
            watch = self._watched.get(request_id)
            if watch is None:
                watch = self._watched[request_id] = _Watch(threading.Condition(self._lock))
            watch.count += 1
        try:
            yield
        finally:
            with self._lock:
                watch.count -= 1
                if not watch.count:
                    del self._watched[request_id]

    def mark(self, request_id: int) -> object:
        """A token to pass to :meth:`wait`; take it *before* checking state,
        inside :meth:`watching`."""
        with self._lock:
            return self._watched[request_id].version

    def close(self) -> None:
        """Stop any background work (a no-op here)."""

    def wait(self, request_id: int, mark: object, timeout: float) -> None:
        """Return when the request changed since ``mark``, or after ``timeout``."""
        with self._lock:
            watch = self._watched[request_id]
            watch.condition.wait_for(lambda: watch.version != mark, timeout)


@dataclass
class _Watch:
    condition: threading.Condition
    count: int = 0
    version: int = 0


class PostgresNotifier(Notifier):
    """NOTIFY with the changed requests' ids in the changing transaction; one
    LISTEN connection per process, which wakes only their waiters."""

    #: PostgreSQL's payload limit is 8000 bytes; past this, wake everyone.
    MAX_PAYLOAD = 7000

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._dsn = dsn
        self._listener: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = threading.Event()
        self._listening = threading.Event()

    def payload(self, requests: set[Any]) -> str:
        """The NOTIFY payload that names ``requests`` (or wakes everyone)."""
        payload = ",".join(sorted(str(i) for i in requests))
        if EVERYONE in requests or len(payload) > self.MAX_PAYLOAD:
            payload = EVERYONE
        return payload

    def announce(self, db: Session, requests: set[Any]) -> None:
        db.execute(text("SELECT pg_notify(:channel, :payload)"),
                   {"channel": CHANNEL, "payload": self.payload(requests)})

    def mark(self, request_id: int) -> object:
        # Listen before the caller checks its state, or a grant committed in
        # between would go unheard until the next recheck.
        self._ensure_listening()
        self._listening.wait(RECHECK)
        return super().mark(request_id)

    def _ensure_listening(self) -> None:
        with self._start_lock:
            if self._listener is None or not self._listener.is_alive():
                self._listener = threading.Thread(target=self._listen, daemon=True,
                                                  name="rotest-lock-listener")
                self._listener.start()

    def _listen(self) -> None:
        # Lazy: psycopg only on PostgreSQL.
        import psycopg
        while not self._closed.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    self.committed()  # anything missed while (re)connecting
                    while not self._closed.is_set():
                        for notice in connection.notifies(timeout=RECHECK):
                            self.committed(_requests(notice.payload))
            except Exception as error:  # noqa: BLE001 - reconnect whatever broke
                self._listening.clear()
                if self._closed.is_set():
                    return
                log.warning("lock notification listener lost its connection (%s); "
                            "waiters fall back to %.0fs rechecks meanwhile", error, RECHECK)
                self._closed.wait(RECHECK)

    def close(self) -> None:
        self._closed.set()


def _requests(payload: str) -> set[Any]:
    """The request ids of a NOTIFY payload; EVERYONE for anything else."""
    try:
        return {int(part) for part in payload.split(",")}
    except ValueError:
        return {EVERYONE}


class SqliteNotifier(Notifier):
    """Watches the database file's ``data_version`` from a read-only connection."""

    POLL = 0.005

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path
        self._local = threading.local()

    def _version(self) -> int:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, timeout=60,
                                         check_same_thread=False)
            self._local.connection = connection
        return connection.execute("PRAGMA data_version").fetchone()[0]

    def mark(self, request_id: int) -> object:
        return (super().mark(request_id), self._version())

    def wait(self, request_id: int, mark: object, timeout: float) -> None:
        # Other processes' commits show only in data_version: a waiter here
        # wakes on any of them, then reads its own request (no write lock).
        version, data_version = mark  # type: ignore[misc]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if super().mark(request_id) != version or self._version() != data_version:
                return
            super().wait(request_id, version, min(self.POLL, deadline - time.monotonic()))


_notifiers: dict[str, Notifier] = {}
_registry_lock = threading.Lock()


def notifier_for(engine: Engine) -> Notifier:
    """The process-wide notifier for the database behind ``engine``."""
    key = engine.url.render_as_string(hide_password=False)
    with _registry_lock:
        if key not in _notifiers:
            _notifiers[key] = _make(engine)
        return _notifiers[key]


def forget(engine: Engine | str) -> None:
    """Stop and drop the notifier of a database (an Engine or a URL) that is
    going away."""
    url = engine.url if isinstance(engine, Engine) else make_url(engine)
    key = url.render_as_string(hide_password=False)
    with _registry_lock:
        notifier = _notifiers.pop(key, None)
    if notifier is not None:
        notifier.close()


def _make(engine: Engine) -> Notifier:
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresNotifier(url.set(drivername="postgresql")
                                .render_as_string(hide_password=False))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return SqliteNotifier(url.database)
    return Notifier()


