"""Lock sessions: open, renew by heartbeat, close; and reaping the expired.

Reaping runs at the start of every engine operation and from the server's
periodic sweep, so a client that stops renewing (frozen, cut off) loses its
locks within its lease plus the sweep interval. A client that dies is noticed
sooner: the server ends its session when its presence stream breaks
(:mod:`rotest_app.api.presence`), and reaping ends the sessions of embedded clients
whose process is gone (:mod:`.liveness`).

A session that ends without its client closing it (expired, gone) leaves what
it held *dirty*: its client stopped mid-way, so the resource's state is
unknown and the next user sets it up afresh.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..models import LockRequest, LockSession, ResourceData, User, rfc3339, utcnow
from . import liveness
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
    if session.state != LockSession.ACTIVE:
        raise ended_error(session)
    return session


def ended_error(session: LockSession) -> SessionExpired:
    """What a client of an ended session is told: when and why it ended, and
    that its locks are gone. An ended session is never revived."""
    ended = rfc3339(session.ended)
    if session.state == LockSession.EXPIRED:
        expired = rfc3339(session.expires_at)
        message = (f"your session expired at {expired}: no heartbeat came within its "
                   f"lease of {session.lease_seconds:g} s (was the client frozen or cut "
                   f"off?); its locks were released")
    elif session.state == LockSession.GONE:
        expired = ended
        message = (f"your session ended at {ended}: its client was taken for dead (its "
                   f"presence connection closed, or its process was gone); its locks "
                   f"were released")
    else:
        expired = ended
        message = f"your session was closed at {ended}; its locks were released"
    return SessionExpired(f"{message}; open a new session", session_id=session.id,
                          state=session.state, expired_at=expired)


def renew(session: LockSession) -> None:
    session.expires_at = utcnow() + timedelta(seconds=session.lease_seconds)


def renew_unlocked(db: Session, user: User, session_id: object) -> LockSession | None:
    """Renew the user's session without the engine's write lock, if it is
    active and within its lease; else None (the caller then takes the locked
    path, which reaps and says why). The caller commits.

    A heartbeat must not queue behind a busy engine, or a short lease would
    run out under load. On PostgreSQL one guarded UPDATE does it; :func:`reap`
    locks the rows it ends (``FOR UPDATE``), so a renewal and the reaping of
    the same session never both win. SQLite serializes writers itself: the
    renewal takes its write lock (``BEGIN IMMEDIATE``) without the engine's gate.
    """
    if not isinstance(session_id, str) or len(session_id) > 36:
        return None
    check_text(session_id, "session_id")
    now = utcnow()
    if db.get_bind().dialect.name == "postgresql":
        return db.scalars(
            update(LockSession)
            .where(LockSession.id == session_id, LockSession.user_id == user.id,
                   LockSession.state == LockSession.ACTIVE, LockSession.expires_at >= now)
            .values(expires_at=now + func.make_interval(0, 0, 0, 0, 0, 0,
                                                        LockSession.lease_seconds))
            .returning(LockSession)
            .execution_options(synchronize_session=False)).first()
    if db.in_transaction():
        db.commit()
    db.connection(execution_options={"sqlite_immediate": True})
    session = db.get(LockSession, session_id)
    if session is None or session.user_id != user.id \
            or session.state != LockSession.ACTIVE or session.expires_at < now:
        return None
    renew(session)
    db.flush()
    return session


def end(db: Session, session: LockSession, state: str, scope: Scope | None = None) -> None:
    """Release everything the session holds and drop its waiting requests;
    held resources go back dirty unless the client closed the session, and
    what that frees goes into ``scope``, for the queue to serve."""
    abandoned = state != LockSession.CLOSED
    freed = list(db.scalars(select(ResourceData)
                            .where(ResourceData.session_id == session.id)))
    for resource in freed:
        free(resource, dirty=True if abandoned else None)
    for request in db.scalars(select(LockRequest).where(
            LockRequest.session_id == session.id,
            LockRequest.state == LockRequest.WAITING)):
        request.state = LockRequest.EXPIRED if abandoned else LockRequest.CANCELLED
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
    did), and every embedded session whose process is gone; what they freed
    goes into ``scope``. Returns how many."""
    now = now or utcnow()
    # Locked: a heartbeat renewing one of them meanwhile (renew_unlocked) wins.
    expired = list(db.scalars(select(LockSession).where(
        LockSession.state == LockSession.ACTIVE, LockSession.expires_at < now)
        .with_for_update()))
    for session in expired:
        end(db, session, LockSession.EXPIRED, scope)
    return len(expired) + sum(end_gone(db, session_id, scope)
                              for session_id in liveness.vanished(db.get_bind()))


def end_gone(db: Session, session_id: str, scope: Scope | None = None) -> bool:
    """End the session as ``gone`` (its client died) if it is still active."""
    session = db.get(LockSession, session_id)
    if session is None or session.state != LockSession.ACTIVE:
        return False
    end(db, session, LockSession.GONE, scope)
    return True


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
