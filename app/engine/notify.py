"""Wake-ups for waiting lock requests, across threads and processes.

A grant is made in the transaction that frees the resources; the waiter only
needs to learn of it. On PostgreSQL a ``NOTIFY`` in that transaction reaches a
per-process ``LISTEN`` thread; on SQLite a waiter watches ``PRAGMA
data_version``, which changes whenever another connection commits. Either way
the waiter also wakes every ``RECHECK`` seconds, to reap expired leases.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time

from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "rotest_locks"
RECHECK = 1.0


class Notifier:
    """In-process wake-ups; the base of the per-database notifiers."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._generation = 0

    def announce(self, db: Session) -> None:
        """Called inside the transaction that changed locks or the queue."""

    def committed(self) -> None:
        """Called after that transaction committed: wake this process's waiters."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def mark(self) -> object:
        """A token to pass to :meth:`wait`; take it *before* checking state."""
        return self._generation

    def close(self) -> None:
        """Stop any background work (a no-op here)."""

    def wait(self, mark: object, timeout: float) -> None:
        """Return when something changed since ``mark``, or after ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != mark, timeout)


class PostgresNotifier(Notifier):
    """NOTIFY in the changing transaction; one LISTEN connection per process."""

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._dsn = dsn
        self._listener: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = threading.Event()
        self._listening = threading.Event()

    def announce(self, db: Session) -> None:
        db.execute(text(f"NOTIFY {CHANNEL}"))

    def mark(self) -> object:
        # Listen before the caller checks its state, or a grant committed in
        # between would go unheard until the next recheck.
        self._ensure_listening()
        self._listening.wait(RECHECK)
        return super().mark()

    def _ensure_listening(self) -> None:
        with self._start_lock:
            if self._listener is None or not self._listener.is_alive():
                self._listener = threading.Thread(target=self._listen, daemon=True,
                                                  name="rotest-lock-listener")
                self._listener.start()

    def _listen(self) -> None:
        import psycopg
        while not self._closed.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    self.committed()  # anything missed while (re)connecting
                    while not self._closed.is_set():
                        for _ in connection.notifies(timeout=RECHECK):
                            self.committed()
            except Exception as error:  # noqa: BLE001 - reconnect whatever broke
                self._listening.clear()
                if self._closed.is_set():
                    return
                log.warning("lock notification listener lost its connection (%s); "
                            "waiters fall back to %.0fs rechecks meanwhile", error, RECHECK)
                self._closed.wait(RECHECK)

    def close(self) -> None:
        self._closed.set()


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

    def mark(self) -> object:
        return (self._generation, self._version())

    def wait(self, mark: object, timeout: float) -> None:
        generation, version = mark  # type: ignore[misc]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._generation != generation or self._version() != version:
                return
            super().wait(generation, min(self.POLL, deadline - time.monotonic()))


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


