"""The periodic sweep: reap expired leases, time out overdue waiters, tidy."""
from __future__ import annotations

from sqlalchemy.orm import Session

from . import queue, sessions
from .pools import Scope
from .transaction import serialized


def sweep(db: Session, full: bool = False) -> int:
    """One sweep; returns how many sessions it ended. It serves what the
    ended sessions freed; ``full`` serves the whole queue too, for changes
    made outside the engine (an admin's edits in the admin site)."""
    with serialized(db):
        scope = Scope(everywhere=full)
        ended = sessions.reap(db, scope=scope)
        queue.serve(db, scope=scope)
        sessions.tidy(db)
        return ended
