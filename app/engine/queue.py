"""Serving the wait queue: the one place where resources are granted.

Every request, including one that will not wait, goes through here.
Waiting requests are taken by priority (higher first), then by arrival. A
request that cannot be served now *blocks* every resource it could use, so a
later request of equal or lower priority can never take them first: it is
never overtaken by a younger one that competes for the same resources.

What it costs: the queue is always left *settled* (no waiting request could
be served). So a change needs to be matched only against what it touched, its
:class:`~.pools.Scope`: the resources a release freed, the pools of requests
that left the queue. Waiters are read in queue order, a batch at a time; each
one's resources are chosen in SQL (:mod:`.pools`), where blocking is a
condition too; waiters with the same descriptors and rights as one already
blocked are passed over unread; and the pass stops as soon as nothing free in
the scope is left that no earlier waiter blocks. A release that frees one
resource wanted by a thousand waiters costs a few statements.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterator, Sequence

from sqlalchemy import Insert, Text, bindparam, cast, exists, func, insert, select, update
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from ..models import LockRequest, LockSession, ResourceData, User, utcnow
from .descriptors import Descriptor
from .errors import EngineError, NotFound, PermissionDenied
from .matching import choose
from .policy import Sight, lockable_by, may_take, why_not
from .pools import FREE, Room, Scope, Want, candidates, parsed_wants, wants_of
from .transaction import changed

#: Waiting requests read per query while serving.
WAITERS_BATCH = 64
#: Owners named at most in a "locked by" message.
MAX_OWNERS = 10
#: Matching resources counted at most for a message (past it: "1,000+").
MAX_COUNTED = 1000


@dataclass
class Waiter:
    """A waiting request as the pass reads it: no ORM object until it changes."""

    id: int
    priority: int
    descriptors: list[dict[str, Any]]
    deadline: datetime
    user: User

    @property
    def key(self) -> tuple[str, int]:
        """Requests with equal keys have equal pools."""
        return json.dumps(self.descriptors, sort_keys=True), self.user.id


def serve(db: Session, now: datetime | None = None, scope: Scope | None = None,
          *, overdue: bool = True) -> list[LockRequest]:
    """Grant every waiting request that a change inside ``scope`` (everywhere
    when None) lets be granted fairly; with ``overdue``, time out the waiting
    requests whose deadline passed. Returns the requests granted."""
    now = now or utcnow()
    scope = scope if scope is not None else Scope(everywhere=True)
    late = set(db.scalars(select(LockRequest.id).where(
        LockRequest.state == LockRequest.WAITING, LockRequest.deadline <= now))) \
        if overdue else set()
    if not scope and not late:
        return []
    blockers: list[Want] = []
    blocked: set[tuple[str, int]] = set()
    parsed: dict[tuple[str, int], list[Want] | EngineError] = {}
    room: Room | None = None
    granted = []
    for waiter in waiters(db):
        if room is None:  # read only when somebody waits
            room = Room(db, scope)
            room.refresh(blockers)
        if room.empty and not late:
            break  # nothing in the scope is left that a later waiter may take
        is_late = waiter.id in late
        late.discard(waiter.id)
        if waiter.key in blocked and not is_late:
            continue  # its pool is blocked by an earlier one with the same
        wants = parsed.get(waiter.key) or parsed.setdefault(waiter.key, _parse(waiter))
        if isinstance(wants, EngineError):
            # Its plugin is gone, or its user lost a right: it can never be served.
            finish(db, db.get(LockRequest, waiter.id), LockRequest.TIMED_OUT, wants.message)
            continue
        usable = True
        if is_late:
            chosen = choose([candidates(db, want, blockers) for want in wants])
        elif room.exact and not room.usable_by(wants):
            # Settled before: a waiter that can use nothing in the room can be
            # served no better than before.
            chosen, usable = None, False
        else:
            chosen = _try(db, wants, blockers, scope, room)
        if chosen is not None:
            # With its session (the holder): one query.
            request = db.get(LockRequest, waiter.id,
                             options=[joinedload(LockRequest.session)])
            grant(db, request, chosen, now)
            granted.append(request)
            scope.widen(wants)  # what it blocked is open to later ones now
            room.refresh(blockers)
        elif is_late:
            finish(db, db.get(LockRequest, waiter.id), LockRequest.TIMED_OUT,
                   explain(db, waiter.descriptors, wants, blockers))
            scope.widen(wants)
            room.refresh(blockers)
        else:
            blockers.extend(wants)
            blocked.add(waiter.key)
            room.block(wants, blockers, usable)
    return granted


def take(db: Session, request: LockRequest, wanted: Sequence[Descriptor],
         now: datetime) -> None:
    """Serve a new (not yet flushed) request at once if it may be, behind the
    waiting requests of its priority or higher; else leave it waiting, or,
    past its deadline, time it out saying why."""
    user = request.session.user
    wants = wants_of(user, wanted)
    # Most often nobody waits ahead: one query then takes the resources.
    quiet = ~exists().where(LockRequest.state == LockRequest.WAITING,
                            LockRequest.priority >= request.priority)
    chosen = choose([candidates(db, want, [], where=quiet) for want in wants])
    if chosen is not None:
        grant(db, request, chosen, now)
        return
    ahead = (LockRequest.state == LockRequest.WAITING,
             LockRequest.priority >= request.priority)
    if db.scalar(select(LockRequest.id).where(*ahead, LockRequest.deadline <= now)
                 .limit(1)) is not None:
        serve(db, now, Scope())  # time those out first: they block no more
    blockers = _blockers_ahead(db, ahead)
    chosen = choose([candidates(db, want, blockers) for want in wants])
    if chosen is not None:
        grant(db, request, chosen, now)
    elif request.deadline <= now:
        finish(db, request, LockRequest.TIMED_OUT,
               explain(db, request.descriptors, wants, blockers))


def waiters(db: Session, *where: Any) -> Iterator[Waiter]:
    """The waiting requests in queue order, read a batch at a time."""
    statement = (select(LockRequest.id, LockRequest.priority, LockRequest.descriptors,
                        LockRequest.deadline, LockSession.user_id)
                 .join(LockSession, LockRequest.session_id == LockSession.id)
                 .where(LockRequest.state == LockRequest.WAITING, *where)
                 .order_by(LockRequest.priority.desc(), LockRequest.id)
                 .limit(WAITERS_BATCH))
    users: dict[int, User] = {}
    after: tuple[int, int] | None = None
    while True:
        page = statement if after is None else statement.where(
            (LockRequest.priority < after[0])
            | ((LockRequest.priority == after[0]) & (LockRequest.id > after[1])))
        rows = db.execute(page).all()
        _load_users(db, users, {row.user_id for row in rows} - set(users))
        for row in rows:
            yield Waiter(row.id, row.priority, row.descriptors, row.deadline,
                         users[row.user_id])
        if len(rows) < WAITERS_BATCH:
            return
        after = (rows[-1].priority, rows[-1].id)


def _load_users(db: Session, users: dict[int, User], ids: set[int]) -> None:
    for user_id in list(ids):
        # Most often the acting user, or one a CI account's jobs share:
        # already in the Session with its groups.
        known = db.identity_map.get(identity_key(User, user_id))
        if known is not None and "groups" in known.__dict__ and "username" in known.__dict__:
            users[user_id] = known
            ids.discard(user_id)
    if ids:
        users.update((user.id, user) for user in db.scalars(
            select(User).where(User.id.in_(ids)).options(selectinload(User.groups))))


def _parse(waiter: Waiter) -> list[Want] | EngineError:
    try:
        return parsed_wants(waiter.user, waiter.descriptors)
    except EngineError as error:
        return error


def _blockers_ahead(db: Session, ahead: tuple[Any, ...]) -> list[Want]:
    """The wants of the waiting requests ``ahead`` selects, one per distinct
    descriptors and user: a queue of a thousand requests for "any" of one
    pool is read as one row."""
    rows = db.execute(select(cast(LockRequest.descriptors, Text), LockSession.user_id)
                      .join(LockSession, LockRequest.session_id == LockSession.id)
                      .where(*ahead).group_by(cast(LockRequest.descriptors, Text),
                                              LockSession.user_id)).all()
    users: dict[int, User] = {}
    _load_users(db, users, {row[1] for row in rows})
    return _blockers([Waiter(0, 0, json.loads(text), datetime.max, users[user_id])
                      for text, user_id in rows])


def _blockers(ahead: Sequence[Waiter]) -> list[Want]:
    """The wants of waiting requests, one per distinct key; the unparseable
    (their plugin gone) block nothing, as they will be timed out."""
    blockers: dict[tuple[str, int], list[Want]] = {}
    for waiter in ahead:
        if waiter.key not in blockers:
            wants = _parse(waiter)
            blockers[waiter.key] = [] if isinstance(wants, EngineError) else wants
    return [want for wants in blockers.values() for want in wants]


def _try(db: Session, wants: list[Want], blockers: list[Want], scope: Scope,
         room: Room) -> list[ResourceData] | None:
    """A choice for ``wants`` if the change in ``scope`` allows one (with an
    exact room: it can use a resource of the room)."""
    if room.exact:
        if len(wants) == 1:
            return choose([candidates(db, wants[0], blockers, among=room.ids)])
    elif len(wants) == 1:
        return choose([candidates(db, wants[0], blockers, scope)])
    elif not scope.everywhere and not any(
            next(candidates(db, want, blockers, scope), None) is not None
            for want in wants):
        return None
    return choose([candidates(db, want, blockers) for want in wants])


def grant(db: Session, request: LockRequest, chosen: list[ResourceData],
          now: datetime) -> None:
    holder = request.session  # the request may not be flushed yet
    for resource in chosen:
        for member in resource.family():
            if member.OWNABLE:
                member.session_id, member.owner, member.owner_time = (
                    holder.id, holder.user.username, now)
    request.granted = [r.id for r in chosen]
    finish(db, request, LockRequest.GRANTED, "")


#: The columns of a request as its INSERT writes them.
REQUEST_COLUMNS = ("session_id", "priority", "descriptors", "created", "deadline", "state",
                   "granted", "resolved", "message")
#: What a grant changes in each resource it takes.
HOLDER_COLUMNS = ("session_id", "owner", "owner_time")


def insert_granted(db: Session, request: LockRequest) -> None:
    """Write a new request that :func:`grant` granted, and its resources' new
    holder, as one statement on PostgreSQL (the resources' UPDATE in a WITH of
    the request's INSERT) where the ORM's flush sends two; afterwards the
    objects are in the Session as if flushed."""
    held: dict[int, ResourceData] = {}
    for resource_id in request.granted or []:
        resource = db.identity_map[identity_key(ResourceData, resource_id)]
        held.update((m.id, m) for m in resource.family() if m.OWNABLE)
    request.session_id = request.session.id
    values = {f"request_{column}": getattr(request, column) for column in REQUEST_COLUMNS}
    if held:  # none when all it took is shared (not ownable)
        first = next(iter(held.values()))
        values.update({f"held_{column}": getattr(first, column) for column in HOLDER_COLUMNS},
                      held_ids=list(held))
    with db.no_autoflush:  # the resources' changes are this statement's
        request.id = db.execute(_insert_granted(bool(held)), values).scalar_one()
    for member in held.values():
        for column in HOLDER_COLUMNS:
            set_committed_value(member, column, getattr(member, column))
    make_transient_to_detached(request)
    db.add(request)


@lru_cache(maxsize=2)
def _insert_granted(holding: bool) -> Insert:
    """:func:`insert_granted`'s statement, built once (building it and its
    cache key cost more than sending it), its values as parameters."""
    requests, table = LockRequest.__table__, ResourceData.__table__
    statement = insert(requests).values({
        column: bindparam(f"request_{column}", type_=requests.c[column].type)
        for column in REQUEST_COLUMNS}).returning(requests.c.id)
    if not holding:
        return statement
    return statement.add_cte(
        update(table).where(table.c.id.in_(bindparam("held_ids", expanding=True)))
        .values({column: bindparam(f"held_{column}", type_=table.c[column].type)
                 for column in HOLDER_COLUMNS})
        .returning(table.c.id).cte("held"))


def finish(db: Session, request: LockRequest, state: str, message: str) -> None:
    """End a request; its waiter (if it waits yet) hears of it at commit."""
    request.state, request.message, request.resolved = state, message, utcnow()
    if request.id is not None:
        changed(db, request.id)


def position(db: Session, request: LockRequest) -> int:
    """1 for the head of the queue (among all waiting requests)."""
    ahead = db.scalar(select(func.count()).select_from(LockRequest).where(
        LockRequest.state == LockRequest.WAITING,
        (LockRequest.priority > request.priority)
        | ((LockRequest.priority == request.priority) & (LockRequest.id < request.id))))
    return int(ahead or 0) + 1


def explain(db: Session, raw: list[dict[str, Any]], wants: Sequence[Want],
            blockers: Sequence[Want]) -> str:
    """Why the request's resources are not free, descriptor by descriptor."""
    reasons = []
    for descriptor, want in zip(raw, wants):
        described = Descriptor.parse(descriptor)
        model = want.model
        # Counted up to a cap: the message must not cost a pass over the pool.
        usable = db.scalar(select(func.count()).select_from(
            select(model.id).where(want.condition, model.is_usable == True)  # noqa: E712
            .limit(MAX_COUNTED + 1).subquery()))
        counted = f"{MAX_COUNTED:,}+" if usable > MAX_COUNTED else str(usable)
        if not usable:
            reasons.append(f"{described}: no usable resource matches")
        elif next(candidates(db, want, []), None) is None:
            owners = _owners(db, want)
            reasons.append(f"{described}: all {counted} matching are locked"
                           + (f" (by {', '.join(owners)})" if owners else ""))
        elif next(candidates(db, want, blockers), None) is None:
            reasons.append(f"{described}: the free ones are promised to earlier requests")
        else:
            reasons.append(f"{described}: not enough distinct free resources")
    return "; ".join(reasons)


def _owners(db: Session, want: Want) -> list[str]:
    """Who holds the pool's usable resources (or their parts), a few names."""
    model = want.model
    usable = (want.condition, model.is_usable == True)  # noqa: E712
    held = select(model.owner.label("owner")).where(*usable, model.owner != "") \
        .limit(MAX_COUNTED).subquery()
    owners = set(db.scalars(select(held.c.owner).distinct().limit(MAX_OWNERS)))
    if len(owners) < MAX_OWNERS:
        # Free themselves, held through a part: read a few with their families.
        for resource in db.scalars(select(model).where(*usable, FREE)
                                   .order_by(model.id).limit(50)):
            owners.update(m.owner for m in resource.family() if m.owner)
    return sorted(owners)[:MAX_OWNERS]


def check_satisfiable(db: Session, user: User, descriptors: Sequence[Descriptor]) -> None:
    """Fail fast when waiting could never help: nothing matches that the user
    sees (hidden resources answer exactly as missing ones), or, for an admin,
    nothing they may take."""
    sight = Sight(user)
    for descriptor in descriptors:
        seen = sight.find(db, descriptor, limit=1)
        if not seen:
            raise NotFound(f"no resource matches {descriptor}",
                           descriptor=descriptor.encode())
        if user.is_admin and not _any_takable(db, user, descriptor):
            # Told to admins only: the reason names what blocks, which a
            # user may not see (a part an admin wired into what they hold).
            raise PermissionDenied(f"{descriptor}: {why_not(user, seen[0])}",
                                   descriptor=descriptor.encode())


def _any_takable(db: Session, user: User, descriptor: Descriptor) -> bool:
    statement = descriptor.select(Sight(user).rules).where(lockable_by(user))
    after = 0
    while True:
        batch = list(db.scalars(statement.where(descriptor.model.id > after)
                                .limit(WAITERS_BATCH)))
        if any(may_take(user, resource) for resource in batch):
            return True
        if len(batch) < WAITERS_BATCH:
            return False
        after = batch[-1].id

