"""Serving the wait queue: the one place where resources are granted.

Every request, including one that will not wait, goes through :func:`serve`.
Waiting requests are taken by priority (higher first), then by arrival. A
request that cannot be served now *blocks* every resource it could use, so a
later request of equal or lower priority can never take them first: it is
never overtaken by a younger one that competes for the same resources.
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import LockRequest, ResourceData, User, utcnow
from .descriptors import Descriptor, parse_all
from .errors import EngineError, NotFound, PermissionDenied
from .matching import choose, footprint, is_free
from .policy import Sight, may_take, why_not
from .transaction import changed


def pools_for(db: Session, user: User,
              descriptors: Sequence[Descriptor]) -> list[list[ResourceData]]:
    """For each descriptor, the resources that match it which ``user`` may
    take whole: it and every part a grant takes."""
    sight = Sight(user)
    return [[r for r in sight.find(db, d) if may_take(user, r)] for d in descriptors]


def serve(db: Session, now: datetime | None = None) -> list[LockRequest]:
    """Grant every waiting request that can be granted fairly; time out the
    overdue ones. Returns the requests granted."""
    now = now or utcnow()
    blocked: set[int] = set()
    granted = []
    for request in waiting(db):
        user = request.session.user
        try:
            pools = pools_for(db, user, parse_all(request.descriptors, Sight(user).rules))
        except EngineError as error:
            # Its plugin is gone, or its user lost a right: it can never be served.
            finish(db, request, LockRequest.TIMED_OUT, error.message)
            continue
        chosen = choose([[r for r in pool if is_free(r)] for pool in pools],
                        excluded=blocked)
        if chosen is not None:
            grant(db, request, chosen, now)
            granted.append(request)
        elif request.deadline <= now:
            finish(db, request, LockRequest.TIMED_OUT, explain(pools, request, blocked))
        else:
            blocked.update(*(footprint(r) for pool in pools for r in pool))
    return granted


def waiting(db: Session) -> list[LockRequest]:
    return list(db.scalars(select(LockRequest)
                           .where(LockRequest.state == LockRequest.WAITING)
                           .order_by(LockRequest.priority.desc(), LockRequest.id)))


def grant(db: Session, request: LockRequest, chosen: list[ResourceData],
          now: datetime) -> None:
    owner = request.session.user.username
    for resource in chosen:
        for member in resource.family():
            if member.OWNABLE:
                member.session_id, member.owner, member.owner_time = (
                    request.session_id, owner, now)
    request.granted = [r.id for r in chosen]
    finish(db, request, LockRequest.GRANTED, "")


def finish(db: Session, request: LockRequest, state: str, message: str) -> None:
    request.state, request.message, request.resolved = state, message, utcnow()
    changed(db)


def position(db: Session, request: LockRequest) -> int:
    """1 for the head of the queue (among all waiting requests)."""
    ahead = db.scalar(select(func.count()).select_from(LockRequest).where(
        LockRequest.state == LockRequest.WAITING,
        (LockRequest.priority > request.priority)
        | ((LockRequest.priority == request.priority) & (LockRequest.id < request.id))))
    return int(ahead or 0) + 1


def explain(pools: list[list[ResourceData]], request: LockRequest,
            blocked: set[int]) -> str:
    """Why the request's resources are not free, descriptor by descriptor."""
    reasons = []
    for raw, pool in zip(request.descriptors, pools):
        described = Descriptor.parse(raw)
        usable = [r for r in pool if r.is_usable]
        if not usable:
            reasons.append(f"{described}: no usable resource matches")
        elif not any(is_free(r) for r in usable):
            owners = sorted({m.owner for r in usable for m in r.family() if m.owner})
            reasons.append(f"{described}: all {len(usable)} matching are locked"
                           + (f" (by {', '.join(owners)})" if owners else ""))
        elif all(footprint(r) & blocked for r in usable if is_free(r)):
            reasons.append(f"{described}: the free ones are promised to earlier requests")
        else:
            reasons.append(f"{described}: not enough distinct free resources")
    return "; ".join(reasons)


def check_satisfiable(db: Session, user: User, descriptors: Sequence[Descriptor]) -> None:
    """Fail fast when waiting could never help: nothing matches that the user
    sees (hidden resources answer exactly as missing ones), or, for an admin,
    nothing they may take."""
    sight = Sight(user)
    for descriptor in descriptors:
        seen = sight.find(db, descriptor)
        if not seen:
            raise NotFound(f"no resource matches {descriptor}",
                           descriptor=descriptor.encode())
        if user.is_admin and not any(may_take(user, r) for r in seen):
            # Told to admins only: the reason names what blocks, which a
            # user may not see (a part an admin wired into what they hold).
            raise PermissionDenied(f"{descriptor}: {why_not(user, seen[0])}",
                                   descriptor=descriptor.encode())
