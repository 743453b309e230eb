"""One engine operation = one serialized write transaction.

The queue's fairness needs a consistent view of every lock and waiter, so
engine writes are serialized: on PostgreSQL by a transaction-scoped advisory
lock, on SQLite by the write lock that ``BEGIN IMMEDIATE`` takes (see
:func:`rotest_app.engine.database.configure_engine`). Operations are short, so this
costs little, and it leaves no room for two grants of one resource.
"""
from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager, nullcontext
from typing import Iterator

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, scoped_session

from ..models import utcnow
from .errors import EngineError
from .notify import EVERYONE, notifier_for

ADVISORY_KEY = 0x726F74657374  # "rotest"
EXPIRED_HINT = text(
    "SELECT pg_advisory_xact_lock(:key), EXISTS (SELECT 1 FROM lock_session "
    "WHERE state = 'active' AND expires_at < :now)")


@contextmanager
def serialized(db: Session) -> Iterator[Session]:
    """Run the block in a fresh transaction holding the engine's write lock.

    Commits on success (and wakes the waiters the block named with :func:`changed`);
    on an EngineError commits what the block left (see :mod:`.operation`, which
    undoes the failing step in a savepoint); rolls back on any other error.
    """
    db = _session(db)
    postgres = db.get_bind().dialect.name == "postgresql"
    if db.in_transaction() and not postgres:
        # SQLite cannot turn a read transaction into the write one. PostgreSQL
        # goes on in the caller's (the API's token check): each statement
        # after the lock sees every commit before it, and a round trip less.
        db.commit()
    with _gate(db.get_bind()):
        if postgres:
            # One round trip: the lock, and whether a lease ran out (a hint,
            # read in a snapshot from before the wait: a session can only
            # have been renewed or reaped since, never newly expired).
            db.info["rotest_expired"] = db.execute(EXPIRED_HINT, {
                "key": ADVISORY_KEY, "now": utcnow()}).one()[1]
        else:
            db.connection(execution_options={"sqlite_immediate": True})
        db.info["rotest_changed"] = set()
        try:
            yield db
        except EngineError:
            _commit(db)  # what came before the failing step (reaping) stays done
            raise
        except BaseException:
            db.info.pop("rotest_changed", None)
            db.rollback()
            raise
        _commit(db)


class _FileGate:
    """A fair, blocking cross-process lock beside a SQLite file.

    SQLite's own busy handler retries on a sleep schedule (up to 100 ms a
    try), which starves unlucky writers; ``flock`` wakes the next waiter the
    moment the holder lets go.
    """

    def __init__(self, path: str) -> None:
        self._path = path + ".engine-lock"
        self._threads = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._threads:
            if self._fd is None or self._pid != os.getpid():
                self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), \
                    os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


_gates: dict[str, _FileGate] = {}


def _gate(engine: Engine):
    """The gate of a SQLite file; nothing for other databases."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return nullcontext()
    if database not in _gates:
        _gates.setdefault(database, _FileGate(database))
    return _gates[database]()


def _commit(db: Session) -> None:
    notifier = notifier_for(db.get_bind())
    changed = db.info.pop("rotest_changed", None)
    if changed:
        notifier.announce(db, changed)
    db.commit()
    if changed:
        notifier.committed(changed)


def changed(db: Session, *requests: int) -> None:
    """Mark the current transaction as one whose commit the waiters of
    ``requests`` (their ids; every waiter when none is named) should hear of."""
    marked = _session(db).info.setdefault("rotest_changed", set())
    marked.update(requests or (EVERYONE,))


def forget_changes(db: Session) -> None:
    """The transaction was rolled back: nobody is to hear of it."""
    _session(db).info["rotest_changed"] = set()


def _session(db: Session | scoped_session) -> Session:
    """The Session itself, also when given a scoped one (Flask-SQLAlchemy's)."""
    return db() if isinstance(db, scoped_session) else db
