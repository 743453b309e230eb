"""Who may see, lock and change what: the one rule of groups and reservations.

A resource in a group may be locked only by that group's members; a reserved
resource only by the user it is reserved for. Locking a resource takes every
sub-resource it is made of, so a user *may take* a resource when they may lock
it and each of its parts. A user *sees* what they may take, and what they
hold: a resource with a part they may not lock is hidden whole, since showing
it would show the part. Admins see everything but take by the same rules.

What a user does not see behaves, in every answer, as if it did not exist.
Every engine path finds resources through a :class:`Sight`, so there is no
second rule to forget: lock, query, update_fields, release and the grant.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from sqlalchemy import (ColumnElement, Index, Select, UniqueConstraint, and_, inspect, or_,
                        true)
from sqlalchemy.orm import Session, aliased

from ..models import ResourceData, User, sub_resource_fields
from .descriptors import Descriptor
from .errors import PermissionDenied
from .lookups import OPEN, Rules

#: The engine's bookkeeping of who holds a resource and since when (and since
#: when it is reserved). A filter reads the field it filters on, so a user who
#: may filter on ``session_id`` can read back another user's session id one
#: character at a time: for non-admins these fields do not exist in filters.
ENGINE_FIELDS = frozenset({"session_id", "owner", "owner_time", "reserved_time"})
#: Never set through update_fields, by anyone: the keys and the lock state.
KEPT_FIELDS = frozenset({"id", "type", "session_id", "owner", "owner_time"})
#: Decide who may lock what: only admins change them.
ACCESS_FIELDS = frozenset({"name", "group_id", "reserved", "reserved_time"})


def lockable_by(user: User) -> ColumnElement:
    """SQL condition: resources whose own group and reservation let ``user``
    lock them (usable or not; their parts are checked by :func:`may_take`)."""
    group_ids = [group.id for group in user.groups]
    return (or_(ResourceData.group_id.is_(None), ResourceData.group_id.in_(group_ids))
            & ResourceData.reserved.in_(("", user.username)))


def takable_by(user: User, model: type[ResourceData] = ResourceData) -> ColumnElement:
    """SQL condition: rows of ``model`` that ``user`` may lock with every
    declared part (:func:`may_take` in SQL, through ``model``'s sub-resource
    relations; a part of a subclass's own relation is left to
    :func:`may_take`). Built once per model and rights."""
    return _takable(model, tuple(sorted(group.id for group in user.groups)),
                    user.username, 4)


@lru_cache(maxsize=512)
def _takable(model: Any, group_ids: tuple[int, ...], username: str,
             depth: int) -> ColumnElement:
    condition = (or_(model.group_id.is_(None), model.group_id.in_(group_ids))
                 & model.reserved.in_(("", username)))
    if depth == 0:
        return condition
    mapper = inspect(model).mapper
    for name in sub_resource_fields(mapper.class_):
        relation = mapper.relationships[name]
        part = aliased(relation.mapper.class_)
        empty = and_(*(getattr(model, mapper.get_property_by_column(column).key).is_(None)
                       for column in relation.local_columns))
        condition &= or_(empty, getattr(model, name).of_type(part).has(
            _takable(part, group_ids, username, depth - 1)))
    return condition


def may_lock(user: User, resource: ResourceData) -> bool:
    """The resource's own group and reservation let ``user`` lock it."""
    in_group = resource.group_id is None or any(g.id == resource.group_id
                                                for g in user.groups)
    return in_group and resource.reserved in ("", user.username)


def may_take(user: User, resource: ResourceData) -> bool:
    """``user`` may lock the resource and every part a grant of it takes."""
    return all(may_lock(user, member) for member in resource.family())


def may_see(user: User, resource: ResourceData) -> bool:
    """Admins see all; others what they may take, and what they hold (an
    admin may have regrouped it since the grant: it is still theirs to use
    and release)."""
    return user.is_admin or resource.owner == user.username or may_take(user, resource)


def why_not(user: User, resource: ResourceData) -> str:
    """A sentence saying why ``user`` may not take ``resource``; only for
    those who see it (admins), since it names what blocks."""
    member = next((m for m in resource.family() if not may_lock(user, m)), resource)
    subject = (f"{member.name} " if member is resource
               else f"{resource.name} is made of {member.name}, which ")
    if member.reserved not in ("", user.username):
        return f"{subject}is reserved for {member.reserved}"
    return (f"{subject}belongs to group {member.group.name}, which {user.username} "
            f"is not in")


def check_inventory_rights(user: User, action: str) -> None:
    """Import and export see and change every resource, whatever its group:
    admins only (``action``: ``import`` or ``export``, for the message)."""
    if not user.is_admin:
        raise PermissionDenied(f"only an admin may {action} resources")


def admin_only_fields(model: type[ResourceData]) -> set[str]:
    """Fields only an admin may set: who may lock the resource, references to
    other rows (a foreign key decides what a grant takes), and unique columns
    (whether a value is taken tells of rows the user may not see)."""
    guarded = set(ACCESS_FIELDS)
    for attribute in model.__mapper__.column_attrs:
        if any(column.foreign_keys or _is_unique(column) for column in attribute.columns):
            guarded.add(attribute.key)
    return guarded


def _is_unique(column: Any) -> bool:
    if column.unique or column.primary_key:
        return True
    table = getattr(column, "table", None)
    constraints = [*getattr(table, "constraints", ()), *getattr(table, "indexes", ())]
    return any(c.columns.contains_column(column) for c in constraints
               if isinstance(c, UniqueConstraint)
               or (isinstance(c, Index) and c.unique))


@dataclass(frozen=True)
class Sight:
    """What one user sees of the resources and may filter on."""

    user: User

    @property
    def rules(self) -> Rules:
        """What this user's filters may reach. For a non-admin the engine's
        fields do not exist, and filters follow only sub-resource relations:
        every row they reach is then a part of the row they filter, seen or
        hidden with it."""
        if self.user.is_admin:
            return OPEN
        return Rules(hidden=ENGINE_FIELDS, parts_only=True)

    def prefilter(self) -> ColumnElement:
        """SQL condition that every seen resource meets (its parts are checked
        in :meth:`sees`, after loading)."""
        if self.user.is_admin:
            return true()
        return lockable_by(self.user) | (ResourceData.owner == self.user.username)

    def sees(self, resource: ResourceData) -> bool:
        return may_see(self.user, resource)

    def find(self, db: Session, descriptor: Descriptor,
             limit: int | None = None) -> list[ResourceData]:
        """The resources matching ``descriptor`` that this user sees; the first
        ``limit`` of them (by id) when given, read a batch at a time since a
        part's rights are checked after loading."""
        statement = descriptor.select(self.rules)
        if limit is None:
            return self.rows(db, statement)
        found: list[ResourceData] = []
        after = 0
        while len(found) < limit:
            wanted = limit - len(found)
            batch = list(db.scalars(statement.where(self.prefilter(),
                                                    descriptor.model.id > after)
                                    .limit(wanted)))
            found += self.keep(batch)
            if len(batch) < wanted:
                break
            after = batch[-1].id
        return found[:limit]

    def rows(self, db: Session, statement: Select) -> list[ResourceData]:
        """The resources ``statement`` selects that this user sees: the only
        way the engine reads resources on a user's behalf."""
        return self.keep(db.scalars(statement.where(self.prefilter())))

    def keep(self, resources: Iterable[ResourceData]) -> list[ResourceData]:
        return [resource for resource in resources if self.sees(resource)]
