"""Presence: ending the session of a client that died, at once.

A server client keeps one long request open per session (the API's presence
stream); the server ends the session when that connection breaks. These are
the engine's halves of it: check the session before the stream starts, look
whether it is still worth streaming for, end it when its client is gone.
Presence never renews a lease: a frozen client keeps its connections open, so
only heartbeats may keep its locks.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import LockSession, User, utcnow
from . import queue, sessions
from .operation import operation
from .serialize import session_dict


def check_presence(db: Session, user: User, session_id: str) -> dict[str, Any]:
    """The user's active session, or the error that says why it is not; it is
    not renewed. One read, unless the lease ran out unnoticed (then reaped)."""
    try:
        session = sessions.get_active(db, user, session_id)
        if session.expires_at >= utcnow():
            return session_dict(session)
    finally:
        db.rollback()
    with operation(db):
        return session_dict(sessions.get_active(db, user, session_id))


def still_active(db: Session, session_id: str) -> bool:
    """Whether the session is active and within its lease (one read, no lock)."""
    try:
        row = db.execute(select(LockSession.state, LockSession.expires_at)
                         .where(LockSession.id == session_id)).first()
    finally:
        db.rollback()
    return row is not None and row.state == LockSession.ACTIVE \
        and row.expires_at >= utcnow()


def session_gone(db: Session, session_id: str) -> bool:
    """End the session because its client is gone: release what it held (dirty)
    and serve the queue. False if it had ended already."""
    if _ended(db, session_id):
        return False  # closed or reaped meanwhile: no write needed
    with operation(db):
        if not sessions.end_gone(db, session_id):
            return False
        queue.serve(db)
        return True


def _ended(db: Session, session_id: str) -> bool:
    """Whether the session is missing or no longer active (one read, no lock)."""
    try:
        state = db.scalar(select(LockSession.state).where(LockSession.id == session_id))
    finally:
        db.rollback()
    return state != LockSession.ACTIVE
