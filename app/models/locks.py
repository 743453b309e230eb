"""Lock sessions with leases, and the wait queue of lock requests."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .accounts import User
from .base import db, utcnow

#: The most characters of a session's description (the API refuses more).
MAX_DESCRIPTION = 255


class LockSession(db.Model):
    """A client's claim on the server, kept alive by heartbeats.

    When ``expires_at`` passes, the engine releases everything the session
    holds and drops its queued requests, so a crashed client strands nothing.
    A session whose client is seen gone (its presence stream broke, or its
    process no longer holds its presence file) ends the same way at once:
    ``gone``.
    """

    __tablename__ = "lock_session"
    ACTIVE, CLOSED, EXPIRED, GONE = "active", "closed", "expired", "gone"

    id: Mapped[str] = mapped_column(String(36), primary_key=True,
                                    default=lambda: str(uuid.uuid4()))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"),
                                         index=True)
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION), default="")
    lease_seconds: Mapped[float] = mapped_column(default=60.0)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(16), default=ACTIVE, index=True)
    ended: Mapped[datetime | None] = mapped_column(default=None)
    user: Mapped[User] = relationship()

    #: The leases that ran out: reaping reads only those.
    __table_args__ = (Index("ix_lock_session_expiry", "state", "expires_at"),)

    @property
    def is_active(self) -> bool:
        return self.state == self.ACTIVE

    def __str__(self) -> str:
        return f"{self.id[:8]} ({self.description or 'client'})"


class LockRequest(db.Model):
    """One lock request: granted at once, or waiting in the queue.

    The queue is served by priority (higher first), then by arrival (``id``).
    """

    __tablename__ = "lock_request"
    WAITING, GRANTED, CANCELLED, TIMED_OUT, EXPIRED = (
        "waiting", "granted", "cancelled", "timed_out", "expired")

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("lock_session.id", ondelete="CASCADE"), index=True)
    priority: Mapped[int] = mapped_column(default=0)
    descriptors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=WAITING)
    #: Ids of the granted resources, one per descriptor, in descriptor order.
    granted: Mapped[list[int] | None] = mapped_column(JSON, default=None)
    resolved: Mapped[datetime | None] = mapped_column(default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    session: Mapped[LockSession] = relationship()

    __table_args__ = (Index("ix_lock_request_queue", "state", "priority", "id"),
                      # The waiters past their deadline, for the sweep.
                      Index("ix_lock_request_deadline", "state", "deadline"))

    def __str__(self) -> str:
        return f"request {self.id} ({self.state})"
