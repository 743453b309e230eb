"""The lock operations: sessions, lock requests, waiting, release.

Every function takes a SQLAlchemy Session and the acting User, runs as one
serialized transaction (:mod:`.transaction`), reaps expired leases first, and
returns plain dicts (:mod:`.serialize`). Errors are :mod:`.errors` classes.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.util import identity_key

from . import lifecycle
from ..models import LockRequest, LockSession, ResourceData, User, utcnow
from . import queue, sessions
from .descriptors import parse_all
from .errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from .held import release_held
from .lookups import MAX_LIST, check_text
from .notify import RECHECK, notifier_for
from .operation import operation
from .policy import Sight
from .pools import Scope
from .serialize import request_dict, session_dict
from .transaction import SessionCheck, _session, opened

MAX_TIMEOUT = 24 * 3600.0
PRIORITY_RANGE = range(-1000, 1001)


def open_session(db: Session, user: User, *, lease_seconds: float = 60.0,
                 description: str = "") -> dict[str, Any]:
    """Open a lock session whose lease the client renews with :func:`heartbeat`."""
    lease = sessions.check_lease(lease_seconds)
    if not isinstance(description, str):
        raise InvalidRequest("description must be a string")
    with operation(db):
        return session_dict(sessions.create(db, user, lease, description))


def heartbeat(db: Session, user: User, session_id: str) -> dict[str, Any]:
    """Renew the session's lease; an expired session is an error, not revived."""
    renewed = sessions.renew_unlocked(db, user, session_id)
    if renewed is not None:
        answer = session_dict(renewed)
        db.commit()
        return answer
    db.rollback()
    with operation(db):
        session = sessions.get_active(db, user, session_id)
        sessions.renew(session)
        return session_dict(session)


def close_session(db: Session, user: User, session_id: str) -> dict[str, Any]:
    """Release all the session holds and cancel its waiting requests."""
    with operation(db):
        session = sessions.get_active(db, user, session_id)
        freed = Scope()
        sessions.end(db, session, session.CLOSED, freed)
        queue.serve(db, scope=freed, overdue=False)
        return session_dict(session)


def request_lock(db: Session, user: User, session_id: str, descriptors: Any, *,
                 timeout: float = 0.0, priority: int = 0) -> dict[str, Any]:
    """Ask for resources, all or none. Granted now, or waiting in the queue
    until ``timeout`` seconds pass; with timeout 0 a request that cannot be
    granted now ends as ``timed_out`` with a message saying why.

    Raises NotFound when no resource the user sees matches a descriptor (a
    hidden one answers as a missing one), and PermissionDenied when an admin
    sees matches but may take none: waiting could never help then.
    """
    wanted = parse_all(descriptors, Sight(user).rules)
    timeout = _check_timeout(timeout)
    if isinstance(priority, bool) or not isinstance(priority, int) \
            or priority not in PRIORITY_RANGE:
        raise InvalidRequest("priority must be an integer from -1000 to 1000",
                             got=repr(priority)[:100])
    with operation(db, _check(user, session_id, renew=True)):
        session = sessions.acting(db, user, session_id, renew=True)
        now = utcnow()
        request = LockRequest(session=session, priority=priority, created=now,
                              descriptors=[d.encode() for d in wanted],
                              deadline=now + timedelta(seconds=timeout),
                              state=LockRequest.WAITING)
        queue.take(db, request, wanted, now)
        if request.state == request.GRANTED and db.get_bind().dialect.name == "postgresql":
            queue.insert_granted(db, request)  # one statement where a flush sends two
        else:
            db.add(request)
            db.flush()
        if request.state != request.GRANTED:
            # Only now worth asking: could waiting ever help? (An error here
            # undoes the request with the operation's savepoint.)
            queue.check_satisfiable(db, user, wanted)
        return _describe(db, request)


def get_request(db: Session, user: User, request_id: int) -> dict[str, Any]:
    """A request's state now (granted resources, or its place in the queue)."""
    with operation(db):
        request = _own_request(db, user, request_id)
        if request.state == request.WAITING and request.deadline <= utcnow():
            queue.serve(db, scope=Scope())  # times it out, unless it can be served
        return _describe(db, request)


def wait_for(db: Session, user: User, request_id: int, max_wait: float) -> dict[str, Any]:
    """Block up to ``max_wait`` seconds until the request leaves the queue.

    Wakes as soon as a transaction that grants (or ends) it commits, and not
    for others' grants; and every second, to check its deadline. It reads its
    request without the engine's write lock: the grant was made by whoever
    freed the resources. Returns the state at once, still waiting, when the
    server begins to stop (:mod:`rotest_app.engine.lifecycle`): the request keeps its place.
    """
    notifier = notifier_for(db.get_bind())
    until = time.monotonic() + max(0.0, float(max_wait))
    with notifier.watching(request_id):
        while True:
            mark = notifier.mark(request_id)
            state = peek(db, user, request_id)
            if state is None:  # past its deadline: the engine times it out
                state = get_request(db, user, request_id)
            remaining = until - time.monotonic()
            if state["state"] != LockRequest.WAITING or remaining <= 0 \
                    or lifecycle.is_stopping():
                return state
            notifier.wait(request_id, mark, min(remaining, RECHECK))


def peek(db: Session, user: User, request_id: int) -> dict[str, Any] | None:
    """A request's state read in a short read transaction (no engine lock);
    None when only the engine can move a waiting one on: it is past its
    deadline, or a lease ran out that nobody reaped yet (with no server
    sweeping, as embedded, the waiters reap)."""
    db = _session(db)
    if db.in_transaction():
        db.rollback()  # a fresh look, and no transaction held while waiting
    try:
        request = _own_request(db, user, request_id)
        if request.state == request.WAITING and (
                request.deadline <= utcnow() or sessions.any_expired(db)):
            return None
        return _describe(db, request)
    finally:
        db.rollback()


def cancel(db: Session, user: User, request_id: int) -> dict[str, Any]:
    """Withdraw a request. If it was granted meanwhile, its resources are
    released (only what its session still holds). The request of an ended
    session is left as that end left it: the end released everything."""
    with operation(db):
        request = _own_request(db, user, request_id)
        if not request.session.is_active:
            return _describe(db, request)
        freed = Scope()
        if request.state == request.GRANTED:
            released = [member for resource in _granted(db, request)
                        for member in _release_family(resource, request.session_id,
                                                      dirty=None)]
            freed.add_freed(db, released)
        elif request.state == request.WAITING:
            freed.leave(user, request.descriptors)
        if request.state in (request.WAITING, request.GRANTED):
            queue.finish(db, request, request.CANCELLED, "cancelled by the client")
            queue.serve(db, scope=freed, overdue=False)
        return _describe(db, request)


def release(db: Session, user: User, names: list[str], *, dirty: bool = False,
            force: bool = False, session_id: str | None = None) -> list[str]:
    """Release resources by name, with their sub-resources; all or none.

    With ``session_id`` (what lock clients send) the release is bound to that
    session: it must be the user's and still active (an ended one raises
    SessionExpired saying when it ended), and it releases only what it holds.
    Without it, the user releases what any of their sessions holds (by hand,
    ``rotest resources release``; older clients). An admin may ``force`` a
    release of anyone's lock, whatever the session. ``dirty`` records that the
    resource was left in an unknown state (the next user sets it up afresh).
    Shared (non-ownable) resources need no release and are skipped.
    """
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) \
            or len(names) > MAX_LIST:
        raise InvalidRequest(f"'resources' must be a list of at most {MAX_LIST} "
                             f"resource names")
    for name in names:
        check_text(name, "resources")
    bound = session_id is not None and not force
    with operation(db, _check(user, session_id, renew=False) if bound else None):
        session = sessions.acting(db, user, session_id, renew=False) if bound else None
        quick = release_held(db, user, session, names, bool(dirty)) if bound else None
        if quick is not None:
            if opened(db).waiting:  # as below
                freed = Scope()
                freed.add_freed_ids(db, quick)
                queue.serve(db, scope=freed, overdue=False)
            return sorted(set(names))
        found = {r.name: r for r in Sight(user).rows(
            db, select(ResourceData).where(ResourceData.name.in_(names)))}
        missing = sorted(set(names) - set(found))
        if missing:
            raise NotFound(f"no resource named {', '.join(missing)}", names=missing)
        held = [r for r in found.values() if r.OWNABLE]
        for resource in held:
            _check_release(user, resource, force, session)
        released = [member for resource in held
                    for member in _release_family(resource, resource.session_id,
                                                  dirty=bool(dirty))]
        if opened(db).waiting:  # read with the lock: nobody else adds a waiter now
            freed = Scope()
            freed.add_freed(db, released)
            queue.serve(db, scope=freed, overdue=False)
        return sorted(found)


def _check_release(user: User, resource: ResourceData, force: bool,
                   session: LockSession | None) -> None:
    if resource.session_id is None:
        raise Conflict(f"{resource.name} is not locked", name=resource.name)
    if force:
        if not user.is_admin:
            raise PermissionDenied("only an admin may force a release")
    elif resource.owner != user.username:
        raise PermissionDenied(
            f"{resource.name} is locked by {resource.owner}; only its owner may release "
            f"it, or an admin with force", name=resource.name, owner=resource.owner)
    elif session is not None and resource.session_id != session.id:
        raise Conflict(
            f"{resource.name} is held by another of your lock sessions, not by session "
            f"{session.id}; a session releases only what it holds", name=resource.name)


def _release_family(resource: ResourceData, session_id: str | None,
                    dirty: bool | None) -> list[ResourceData]:
    """Free the resource and its parts that ``session_id`` holds; returns them."""
    freed = []
    for member in resource.family():
        if member.OWNABLE and member.session_id == session_id:
            sessions.free(member, dirty)
            freed.append(member)
    return freed


def _check(user: User, session_id: Any, *, renew: bool) -> SessionCheck:
    return SessionCheck(user.id, session_id, renew)


def _check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or not 0 <= timeout <= MAX_TIMEOUT:
        raise InvalidRequest(f"timeout must be a number of seconds from 0 to "
                             f"{MAX_TIMEOUT:g}", got=repr(timeout)[:100])
    return float(timeout)


def _own_request(db: Session, user: User, request_id: Any) -> LockRequest:
    valid = isinstance(request_id, int) and not isinstance(request_id, bool) \
        and 0 < request_id < 2 ** 31
    # With its session and user (and groups, which describing a grant reads):
    # one query, where lazy loads would send three.
    request = db.get(LockRequest, request_id, options=[
        joinedload(LockRequest.session).joinedload(LockSession.user)
        .joinedload(User.groups)]) if valid else None
    if request is None:
        raise NotFound(f"no lock request {request_id!r}")
    if request.session.user_id != user.id:
        raise PermissionDenied("that lock request belongs to another user")
    return request


def _granted(db: Session, request: LockRequest) -> list[ResourceData]:
    ids = request.granted or []
    # Those just granted are in the Session already: no query for them.
    known = {i: db.identity_map.get(identity_key(ResourceData, i)) for i in ids}
    missing = [i for i, resource in known.items() if resource is None]
    if missing:
        known.update((r.id, r) for r in db.scalars(
            select(ResourceData).where(ResourceData.id.in_(missing))))
    return [known[i] for i in ids if known.get(i) is not None]


def _describe(db: Session, request: LockRequest) -> dict[str, Any]:
    if request.state == request.GRANTED:
        sight = Sight(request.session.user)
        return request_dict(request, resources=sight.keep(_granted(db, request)),
                            sees=sight.sees)
    if request.state == request.WAITING:
        return request_dict(request, position=queue.position(db, request))
    return request_dict(request)
