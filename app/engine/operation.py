"""An engine operation: serialized, with expired leases reaped first.

The operation's own work runs in a savepoint. If it fails with an EngineError
(a bad request, a session found expired), only that work is undone: the
reaping stays committed, so an error that says "its locks were released" is
true in the database too.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.orm import Session

from . import queue, sessions
from .errors import EngineError
from .transaction import serialized


@contextmanager
def operation(db: Session) -> Iterator[Session]:
    with serialized(db) as session:
        if sessions.reap(session):
            queue.serve(session)
        savepoint = session.begin_nested()
        try:
            yield session
        except EngineError:
            savepoint.rollback()
            raise
        savepoint.commit()
