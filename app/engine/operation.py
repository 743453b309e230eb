"""An engine operation: serialized, with expired leases reaped first.

If the operation's own work fails with an EngineError (a bad request, a
session found expired), that work is undone. When reaping ended sessions
first, the work runs in a savepoint, so only it is undone: the reaping stays
committed, and an error that says "its locks were released" is true in the
database too. (Most operations reap nothing, and skip the savepoint's two
round trips.)
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.orm import Session

from . import queue, sessions
from .errors import EngineError
from .pools import Scope
from .transaction import SessionCheck, forget_changes, opened, serialized


@contextmanager
def operation(db: Session, check: SessionCheck | None = None) -> Iterator[Session]:
    """An engine operation; with ``check``, the acting session is read (and
    renewed) in the lock's round trip on PostgreSQL."""
    with serialized(db, check) as session:
        freed = Scope()
        # PostgreSQL's lock statement said whether a lease ran out.
        if not opened(session).expired \
                or not sessions.reap(session, scope=freed):
            try:
                yield session
            except EngineError:
                session.rollback()
                forget_changes(session)
                raise
            return
        queue.serve(session, scope=freed, overdue=False)
        savepoint = session.begin_nested()
        try:
            yield session
        except EngineError:
            savepoint.rollback()
            raise
        savepoint.commit()
