"""The periodic sweep: reap expired leases, time out overdue waiters, tidy."""
from __future__ import annotations

from sqlalchemy.orm import Session

from . import queue, sessions
from .transaction import serialized


def sweep(db: Session) -> int:
    """One sweep; returns how many sessions it ended."""
    with serialized(db):
        ended = sessions.reap(db)
        queue.serve(db)
        sessions.tidy(db)
        return ended
