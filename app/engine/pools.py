"""Pools as SQL: which resources a request may take, chosen in the database.

A request's *pool* for one descriptor is every resource that matches it and
that its user may take. Rather than loading a pool, the engine asks the
database for the first few *free* resources of it, in id order, that no
earlier waiting request *blocks* (see :mod:`.queue`), and checks only those in
Python. So a lock costs what it takes, not the size of the pool.

The SQL conditions say: free (usable, held by no session), may-take
(:func:`~.policy.takable_by`: it and its parts) and not blocked (in no
earlier waiter's pool). What is left for Python is what SQL cannot say for
every model: a candidate's parts are free, and no part is in an earlier
waiter's pool. On PostgreSQL the candidates are read ``FOR UPDATE SKIP
LOCKED``: a row another transaction is changing (an admin's edit) is passed
over rather than waited for.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from sqlalchemy import Boolean, ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from ..models import ResourceData, User, resource_models, sub_resource_fields
from .descriptors import Descriptor, parse_all
from .errors import EngineError
from .policy import Sight, may_take, takable_by

#: Held by no session and usable: the SQL half of :func:`.matching.is_free`.
FREE = and_(ResourceData.session_id.is_(None), ResourceData.is_usable == True)  # noqa: E712
#: Candidates read per query; most requests take the first.
BATCH = 16


@dataclass(eq=False)
class Want:
    """One descriptor of one request, taken with its user's rights:
    ``condition`` is ``match`` (the descriptor's filters) and ``rights``
    (:func:`~.policy.takable_by`)."""

    descriptor: Descriptor
    user: User
    match: ColumnElement | None = None
    rights: ColumnElement | None = None

    def __post_init__(self) -> None:
        if self.match is None:
            self.match = self.descriptor.condition(Sight(self.user).rules)
        if self.rights is None:
            self.rights = takable_by(self.user, self.model)

    @property
    def condition(self) -> ColumnElement:
        return and_(self.match, self.rights)

    @property
    def rights_key(self) -> tuple:
        """Equal for wants whose ``rights`` are equal."""
        return (self.model, self.user.username,
                tuple(sorted(group.id for group in self.user.groups)))

    @property
    def model(self) -> type[ResourceData]:
        return self.descriptor.model


def wants_of(user: User, descriptors: Sequence[Descriptor]) -> list[Want]:
    return [Want(descriptor, user) for descriptor in descriptors]


def parsed_wants(user: User, raw: list[dict]) -> list[Want]:
    """The wants of a stored request's descriptors, built once per
    descriptors and rights: waiting requests are read again on every pass."""
    key = (json.dumps(raw, sort_keys=True), user.id, user.is_admin, user.username,
           tuple(sorted(group.id for group in user.groups)))
    built = _parsed.get(key)
    if built is None:
        built = [(want.descriptor, want.match, want.rights)
                 for want in wants_of(user, parse_all(raw, Sight(user).rules))]
        if len(_parsed) >= 1024:
            _parsed.pop(next(iter(_parsed)))
        _parsed[key] = built
    # The user is this Session's: a cached one may be detached and expired.
    return [Want(descriptor, user, match, rights) for descriptor, match, rights in built]


_parsed: dict[tuple, list[tuple[Descriptor, ColumnElement, ColumnElement]]] = {}


def _matches(model: type[ResourceData], want: Want) -> ColumnElement:
    """SQL: a row of ``model`` is in ``want``'s pool (its own rights; parts are
    checked in Python). Rows of unrelated models never are."""
    if issubclass(model, want.model):
        return func.coalesce(want.condition, false(), type_=Boolean)
    if issubclass(want.model, model):
        return model.id.in_(select(want.model.id).where(want.condition).correlate(None))
    return false()


def not_blocked(model: type[ResourceData], blockers: Iterable[Want]) -> ColumnElement:
    """SQL: a row of ``model`` that no blocking want's pool holds. Blockers
    with the same model and rights share one term (rights AND (any match)):
    a queue of many requests of one user stays a short condition."""
    groups: dict[tuple, list[Want]] = {}
    for want in blockers:
        if issubclass(model, want.model) or issubclass(want.model, model):
            groups.setdefault(want.rights_key, []).append(want)
    terms = []
    for wants in groups.values():
        first = wants[0]
        anyone = _any([want.match for want in wants])
        if issubclass(model, first.model):
            terms.append(~func.coalesce(and_(first.rights, anyone), false(), type_=Boolean))
        else:
            terms.append(model.id.not_in(select(first.model.id).where(
                first.rights, anyone).correlate(None)))
    return _all(terms)


def _any(terms: list[ColumnElement]) -> ColumnElement:
    """OR of ``terms``, balanced as :func:`_all` is (null counts as false)."""
    if len(terms) <= 64:
        return or_(false(), *terms)
    middle = len(terms) // 2
    return or_(*(func.coalesce(_any(half), false(), type_=Boolean)
                 for half in (terms[:middle], terms[middle:])))


def _all(terms: list[ColumnElement]) -> ColumnElement:
    """AND of ``terms`` as a balanced tree: SQLite refuses an expression more
    than 1,000 deep, which a flat AND of a thousand blockers is. (A function
    call keeps SQLAlchemy from flattening the halves back into one chain.)"""
    if len(terms) <= 64:
        return and_(true(), *terms)
    middle = len(terms) // 2
    return and_(*(func.coalesce(_all(half), false(), type_=Boolean)
                  for half in (terms[:middle], terms[middle:])))


class Scope:
    """Where resources may have become takable since the queue was last
    served: ids freed, and the pools of requests that left the queue (what
    they blocked). ``everywhere`` for a full pass."""

    def __init__(self, freed: Iterable[ResourceData] = (), everywhere: bool = False) -> None:
        self.everywhere = everywhere
        self.ids: dict[type[ResourceData], set[int]] = {}
        self.wants: list[Want] = []
        self.add(freed)

    def add(self, resources: Iterable[ResourceData]) -> None:
        """Resources freed or made usable."""
        for resource in resources:
            self.ids.setdefault(type(resource), set()).add(resource.id)

    def add_freed(self, db: Session, resources: Sequence[ResourceData]) -> None:
        """Resources freed: they, and what is made of them (free now too,
        if its other parts are)."""
        freed: dict[type[ResourceData], set[int]] = {}
        for resource in resources:
            freed.setdefault(type(resource), set()).add(resource.id)
        self.add_freed_ids(db, freed)

    def add_freed_ids(self, db: Session, freed: dict[type[ResourceData], set[int]]) -> None:
        """:meth:`add_freed` by ids, by model."""
        for model, ids in freed.items():
            self.ids.setdefault(model, set()).update(ids)
        every = {i for ids in freed.values() for i in ids}
        for model, ids in ancestors_by_model(db, every).items():
            self.ids.setdefault(model, set()).update(ids)

    def widen(self, wants: Iterable[Want]) -> None:
        """A request left the queue: what it blocked may be takable now."""
        self.wants.extend(wants)

    def leave(self, user: User, descriptors: list[dict]) -> None:
        """:meth:`widen` by a request's stored descriptors."""
        try:
            self.widen(parsed_wants(user, descriptors))
        except EngineError:
            pass  # its plugin is gone: it blocked nothing

    def __bool__(self) -> bool:
        return self.everywhere or bool(self.ids) or bool(self.wants)

    def condition(self, model: type[ResourceData]) -> ColumnElement:
        """SQL: a row of ``model`` inside the scope."""
        if self.everywhere:
            return true()
        ids = [i for kind, ids in self.ids.items()
               if issubclass(kind, model) or issubclass(model, kind) for i in ids]
        terms = [model.id.in_(ids)] if ids else []
        terms += [_matches(model, want) for want in self.wants
                  if issubclass(model, want.model) or issubclass(want.model, model)]
        return or_(false(), *terms)


def candidates(db: Session, want: Want, blockers: Sequence[Want],
               scope: Scope | None = None, among: Sequence[int] | None = None,
               where: ColumnElement | None = None) -> Iterator[ResourceData]:
    """Free resources of ``want``'s pool that no blocker's pool holds, in id
    order, read a batch at a time; each with its parts checked. ``among``:
    only these ids, known free and unblocked (see :class:`Room`); ``where``:
    one more condition."""
    model = want.model
    statement = select(model).where(want.condition, FREE)
    if where is not None:
        statement = statement.where(where)
    if among is not None:
        statement = statement.where(model.id.in_(among))
    else:
        statement = statement.where(not_blocked(model, blockers))
    if scope is not None and not scope.everywhere:
        statement = statement.where(scope.condition(model))
    if db.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True, of=ResourceData)
    after = 0
    while True:
        batch = list(db.scalars(statement.where(ResourceData.id > after)
                                .order_by(ResourceData.id).limit(BATCH)))
        for resource in batch:
            if takable(db, want.user, resource, blockers):
                yield resource
        if len(batch) < BATCH:
            return
        after = batch[-1].id


class Room:
    """The free resources inside a scope that no blocker holds, kept as ids
    while there are few (a release frees a handful): each new blocker then
    costs one small query, not one with every blocker so far. ``exact`` is
    False when there are more than ``SAMPLE`` (or the scope is everywhere):
    callers then ask the database with every blocker instead."""

    SAMPLE = 100

    def __init__(self, db: Session, scope: Scope) -> None:
        self.db, self.scope = db, scope
        self._ids: list[int] = []
        self._exact = False
        self._pending: Sequence[Want] | None = None

    def refresh(self, blockers: Sequence[Want]) -> None:
        """Read the room again (after a grant, or when it ran empty), when it
        is next looked at: a pass that ends first (no waiter left) reads
        nothing. ``blockers`` is read then too; the caller adds to it only
        after looking."""
        self._pending = blockers

    @property
    def ids(self) -> list[int]:
        self._settle()
        return self._ids

    @ids.setter
    def ids(self, ids: list[int]) -> None:
        self._settle()
        self._ids = ids

    @property
    def exact(self) -> bool:
        self._settle()
        return self._exact

    def _settle(self) -> None:
        if self._pending is not None:
            blockers, self._pending = self._pending, None
            self._read(blockers)

    def _read(self, blockers: Sequence[Want]) -> None:
        if self.scope.everywhere:
            self._ids, self._exact = [], False
            return
        found: set[int] = set()
        areas = [(kind, kind.id.in_(ids)) for kind, ids in self.scope.ids.items()]
        areas += [(want.model, want.condition) for want in self.scope.wants]
        for kind, where in areas:
            found.update(self.db.scalars(
                select(kind.id).where(where, FREE, not_blocked(kind, blockers))
                .limit(self.SAMPLE + 1 - len(found))))
            if len(found) > self.SAMPLE:
                break
        self._ids, self._exact = sorted(found), len(found) <= self.SAMPLE

    @property
    def empty(self) -> bool:
        """Nothing free is left in the scope for a later waiter."""
        return self.exact and not self.ids

    def usable_by(self, wants: Sequence[Want]) -> bool:
        """Whether ``wants`` could use a resource of the room (exact only)."""
        return any(self.db.scalar(select(want.model.id).where(
            want.condition, want.model.id.in_(self.ids)).limit(1)) is not None
            for want in wants)

    def block(self, wants: Sequence[Want], blockers: Sequence[Want],
              usable: bool = True) -> None:
        """``wants`` block from now on (``blockers`` includes them); with
        ``usable`` False they were found to match nothing in the room."""
        if not self.exact or not usable:
            return
        taken: set[int] = set()
        for want in wants:
            if self.ids:
                taken.update(self.db.scalars(select(want.model.id).where(
                    want.model.id.in_(self.ids), _matches(want.model, want))))
        self.ids = [i for i in self.ids if i not in taken]
        if not self.ids and taken:
            self.refresh(blockers)  # it held only a sample: read what is left


def takable(db: Session, user: User, resource: ResourceData,
            blockers: Sequence[Want]) -> bool:
    """The Python half: every part free and lockable by ``user``, and no part
    in a blocker's pool. Cheap for models without sub-resources."""
    family = list(resource.family())
    if len(family) == 1:
        return True  # SQL said it all
    if not all(m.is_usable and (m.session_id is None or not m.OWNABLE) for m in family):
        return False
    if not may_take(user, resource):
        return False
    return not blockers or not _family_blocked(db, resource, family, blockers)


def _family_blocked(db: Session, resource: ResourceData, family: list[ResourceData],
                    blockers: Sequence[Want]) -> bool:
    """Whether a blocker's pool holds a resource sharing an ownable part with
    ``resource`` (a part itself, or another resource made of one)."""
    parts = {m.id for m in family if m.OWNABLE}
    related = (parts | ancestors(db, parts)) - {resource.id}
    if not related:
        return False
    for want in blockers:
        rows = db.scalars(select(want.model).where(want.model.id.in_(related),
                                                   want.condition))
        if any(may_take(want.user, row) for row in rows):
            return True
    return False


def ancestors(db: Session, ids: set[int]) -> set[int]:
    """Ids of every resource made (directly or not) of one of ``ids``."""
    return {i for found in ancestors_by_model(db, ids).values() for i in found}


def ancestors_by_model(db: Session, ids: set[int]) -> dict[type[ResourceData], set[int]]:
    """:func:`ancestors`, by the model whose relation found them; no query
    when no model has sub-resources."""
    links = _links()
    found: dict[type[ResourceData], set[int]] = {}
    seen: set[int] = set(ids)
    frontier = set(ids)
    while frontier and links:
        parents: set[int] = set()
        for model, column in links:
            rows = set(db.scalars(select(model.id).where(column.in_(frontier))))
            found.setdefault(model, set()).update(rows)
            parents |= rows
        frontier = parents - seen
        seen |= frontier
    return found


def _links() -> list[tuple[type[ResourceData], ColumnElement]]:
    """(model, foreign key column) of every sub-resource relation."""
    links = []
    for model in resource_models().values():
        for name in sub_resource_fields(model):
            relation = model.__mapper__.relationships[name]
            if relation.parent.class_ is not model:
                continue  # inherited: its owner model lists it
            links += [(model, column) for column in relation.local_columns]
    return links
