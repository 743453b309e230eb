"""A session's release of what it holds, in one statement.

A lock client releases by name what its own session holds, most often
resources with no parts. For that case the release is one ``UPDATE ...
RETURNING`` that frees the rows only if every name is such a resource, held
by the session for its user; no row is loaded into the ORM and no unit of
work is flushed (on PostgreSQL about a tenth of a cycle's CPU). Anything else
(a name that is missing, hidden, held by another session or not at all, a
shared resource, one made of parts) changes nothing here, and the caller
takes the general path, which says what is wrong or handles the parts.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Update, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from ..models import LockSession, ResourceData, User, resource_models, sub_resource_fields


def release_held(db: Session, user: User, session: LockSession, names: list[str],
                 dirty: bool) -> dict[type[ResourceData], set[int]] | None:
    """Free ``names`` if each is an ownable resource without parts held by
    ``session`` for ``user``: the freed ids by model. None (nothing changed)
    otherwise."""
    wanted = sorted(set(names))
    simple = _simple_types(tuple(sorted(resource_models())))
    if not wanted or not simple:
        return None
    rows = db.execute(_statement(simple), {
        "held_names": wanted, "held_count": len(wanted), "held_session_id": session.id,
        "held_owner": user.username, "held_dirty": dirty}).all()
    if len(rows) != len(wanted):
        return None  # nothing was changed (the count said no)
    models = resource_models()
    freed: dict[type[ResourceData], set[int]] = {}
    for resource_id, type_name in rows:
        freed.setdefault(models[type_name], set()).add(resource_id)
        known = db.identity_map.get(identity_key(models[type_name], resource_id))
        if known is not None:
            db.expire(known)  # loaded earlier in this transaction: read it anew
    return freed


@lru_cache(maxsize=32)
def _statement(simple: tuple[str, ...]) -> Update:
    """The release, built once (its building and cache key cost more than
    running it): ``simple`` are the type names it may free."""
    table = ResourceData.__table__
    held = (table.c.name.in_(bindparam("held_names", expanding=True)),
            table.c.session_id == bindparam("held_session_id"),
            table.c.owner == bindparam("held_owner"), table.c.type.in_(simple))
    # All or nothing: the rows change only if every name qualifies.
    every = select(func.count()).select_from(table).where(*held).scalar_subquery() \
        == bindparam("held_count")
    return (update(table).where(*held, every)
            .values(session_id=None, owner="", owner_time=None, dirty=bindparam("held_dirty"))
            .returning(table.c.id, table.c.type))


@lru_cache(maxsize=32)
def _simple_types(type_names: tuple[str, ...]) -> tuple[str, ...]:
    """The ownable models' type names with no parts (cached by the set of
    models, which plugins may extend)."""
    models = resource_models()
    return tuple(name for name in type_names
                 if models[name].OWNABLE and not sub_resource_fields(models[name]))
