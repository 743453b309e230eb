"""Pools as SQL: which resources a request may take, chosen in the database.

A request's *pool* for one descriptor is every resource that matches it and
that its user may lock. Rather than loading a pool, the engine asks the
database for the first few *free* resources of it, in id order, that no
earlier waiting request *blocks* (see :mod:`.queue`), and checks only those in
Python (their sub-resources, the parts' own rights). So a lock costs what it
takes, not the size of the pool.

The SQL conditions say: free (usable, held by no session), may-take
(:func:`~.policy.takable_by`: it and its parts) and not blocked (matching no earlier waiter's
pool). The checks left for Python are those SQL cannot say for any model: a
candidate's parts are free, and no part is in an earlier waiter's pool. On PostgreSQL the candidates are read ``FOR UPDATE SKIP
LOCKED``: a row another transaction is changing (an admin's edit) is passed
over rather than waited for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

from sqlalchemy import Boolean, ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from ..models import ResourceData, User, resource_models, sub_resource_fields
from .descriptors import Descriptor
from .errors import EngineError
from .policy import Sight, may_take, takable_by

#: Held by no session and usable: the SQL half of :func:`.matching.is_free`.
FREE = and_(ResourceData.session_id.is_(None), ResourceData.is_usable == True)  # noqa: E712
#: Candidates read per query; most requests take the first.
BATCH = 16


@dataclass(eq=False)
class Want:
    """One descriptor of one request, taken with its user's rights."""

    descriptor: Descriptor
    user: User
    condition: ColumnElement = field(init=False)

    def __post_init__(self) -> None:
        self.condition = and_(self.descriptor.condition(Sight(self.user).rules),
                              takable_by(self.user, self.model))

    @property
    def model(self) -> type[ResourceData]:
        return self.descriptor.model


def wants_of(user: User, descriptors: Sequence[Descriptor]) -> list[Want]:
    return [Want(descriptor, user) for descriptor in descriptors]


def _matches(model: type[ResourceData], want: Want) -> ColumnElement:
    """SQL: a row of ``model`` is in ``want``'s pool (its own rights; parts are
    checked in Python). Rows of unrelated models never are."""
    if issubclass(model, want.model):
        return func.coalesce(want.condition, false(), type_=Boolean)
    if issubclass(want.model, model):
        return model.id.in_(select(want.model.id).where(want.condition).correlate(None))
    return false()


def not_blocked(model: type[ResourceData], blockers: Iterable[Want]) -> ColumnElement:
    """SQL: a row of ``model`` that no blocking want's pool holds."""
    terms = [~_matches(model, want) for want in blockers
             if issubclass(model, want.model) or issubclass(want.model, model)]
    return and_(true(), *terms)


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
        self.add(resources)
        for model, ids in ancestors_by_model(db, {r.id for r in resources}).items():
            self.ids.setdefault(model, set()).update(ids)

    def widen(self, wants: Iterable[Want]) -> None:
        """A request left the queue: what it blocked may be takable now."""
        self.wants.extend(wants)

    def leave(self, user: User, descriptors: list[dict]) -> None:
        """:meth:`widen` by a request's stored descriptors."""
        try:
            self.widen(wants_of(user, [Descriptor.parse(raw, Sight(user).rules)
                                       for raw in descriptors]))
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

    def has_free(self, db: Session, blockers: Sequence[Want]) -> bool:
        """Whether any free resource inside the scope is blocked by none of
        ``blockers``: if not, no later waiter can gain from it."""
        if self.everywhere:
            return True
        areas = [(kind, kind.id.in_(ids)) for kind, ids in self.ids.items()]
        areas += [(want.model, want.condition) for want in self.wants]
        return any(db.scalar(select(kind.id).where(where, FREE, not_blocked(kind, blockers))
                             .limit(1)) is not None for kind, where in areas)


def candidates(db: Session, want: Want, blockers: Sequence[Want],
               scope: Scope | None = None) -> Iterator[ResourceData]:
    """Free resources of ``want``'s pool that no blocker's pool holds, in id
    order, read a batch at a time; each with its parts checked."""
    model = want.model
    statement = select(model).where(want.condition, FREE, not_blocked(model, blockers))
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
