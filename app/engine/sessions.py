"""Lock sessions: open, renew by heartbeat, close; and reaping the expired.

Reaping runs at the start of every engine operation and from the server's
periodic sweep, so a client that dies loses its locks within its lease plus
the sweep interval.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import LockRequest, LockSession, ResourceData, User, utcnow
from .errors import InvalidRequest, NotFound, PermissionDenied, SessionExpired
from .lookups import check_text
from .pools import Scope
from .transaction import changed

MIN_LEASE, MAX_LEASE = 1.0, 24 * 3600.0
KEEP_FINISHED = timedelta(hours=1)
KEEP_ENDED_SESSIONS = timedelta(days=1)


def check_lease(lease_seconds: object) -> float:
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, (int, float)) \
            or not MIN_LEASE <= lease_seconds <= MAX_LEASE:
        raise InvalidRequest(f"lease_seconds must be a number from {MIN_LEASE:g} to "
                             f"{MAX_LEASE:g}", got=repr(lease_seconds)[:100])
    return float(lease_seconds)


def create(db: Session, user: User, lease_seconds: float, description: str) -> LockSession:
    now = utcnow()
    session = LockSession(user=user, lease_seconds=lease_seconds,
                          description=check_text(description, "description")[:255],
                          created=now,
                          expires_at=now + timedelta(seconds=lease_seconds))
    db.add(session)
    db.flush()
    return session


def get_active(db: Session, user: User, session_id: object) -> LockSession:
    """The user's active session, or the error that says why it is not."""
    valid = isinstance(session_id, str) and len(session_id) <= 36 \
        and check_text(session_id, "session_id")
    session = db.get(LockSession, session_id) if valid else None
    if session is None:
        raise NotFound(f"no lock session {session_id!r}", session_id=str(session_id)[:64])
    if session.user_id != user.id:
        raise PermissionDenied("that lock session belongs to another user")
    if session.state == LockSession.EXPIRED:
        raise SessionExpired("the session's lease ran out and its locks were released; "
                             "open a new session", session_id=session.id)
    if session.state != LockSession.ACTIVE:
        raise SessionExpired("the session was closed; open a new session",
                             session_id=session.id)
    return session


def renew(session: LockSession) -> None:
    session.expires_at = utcnow() + timedelta(seconds=session.lease_seconds)


def end(db: Session, session: LockSession, state: str, scope: Scope | None = None) -> None:
    """Release everything the session holds and drop its waiting requests;
    what that frees goes into ``scope``, for the queue to serve."""
    freed = list(db.scalars(select(ResourceData)
                            .where(ResourceData.session_id == session.id)))
    for resource in freed:
        free(resource)
    for request in db.scalars(select(LockRequest).where(
            LockRequest.session_id == session.id,
            LockRequest.state == LockRequest.WAITING)):
        request.state = (LockRequest.EXPIRED if state == LockSession.EXPIRED
                         else LockRequest.CANCELLED)
        request.resolved = utcnow()
        changed(db, request.id)
        if scope is not None:
            scope.leave(session.user, request.descriptors)
    if scope is not None:
        scope.add_freed(db, freed)
    session.state, session.ended = state, utcnow()


def free(resource: ResourceData, dirty: bool | None = None) -> None:
    resource.session_id, resource.owner, resource.owner_time = None, "", None
    if dirty is not None:
        resource.dirty = dirty


def reap(db: Session, now: datetime | None = None, scope: Scope | None = None) -> int:
    """End every session whose lease ran out (one indexed query when none
    did); what they freed goes into ``scope``. Returns how many."""
    now = now or utcnow()
    expired = list(db.scalars(select(LockSession).where(
        LockSession.state == LockSession.ACTIVE, LockSession.expires_at < now)))
    for session in expired:
        end(db, session, LockSession.EXPIRED, scope)
    return len(expired)


def any_expired(db: Session, now: datetime | None = None) -> bool:
    """Whether an active session's lease ran out (one indexed read)."""
    return db.scalar(select(LockSession.id).where(
        LockSession.state == LockSession.ACTIVE,
        LockSession.expires_at < (now or utcnow())).limit(1)) is not None


def tidy(db: Session, now: datetime | None = None) -> None:
    """Delete finished requests and ended sessions kept long enough for a look."""
    now = now or utcnow()
    db.execute(delete(LockRequest).where(LockRequest.state != LockRequest.WAITING,
                                         LockRequest.resolved < now - KEEP_FINISHED))
    old = select(LockSession.id).where(LockSession.state != LockSession.ACTIVE,
                                       LockSession.ended < now - KEEP_ENDED_SESSIONS)
    db.execute(delete(LockRequest).where(LockRequest.session_id.in_(old)))
    db.execute(delete(LockSession).where(LockSession.id.in_(old)))
