"""Who may lock, see and change what: Rotest's group and reservation rules.

A resource in a group may be locked only by that group's members; a reserved
resource only by the user it is reserved for. Admins see everything but lock
by the same rules as everyone.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, or_

from ..models import ResourceData, User


def lockable_by(user: User) -> ColumnElement:
    """SQL condition: resources ``user`` may lock (usable or not)."""
    group_ids = [group.id for group in user.groups]
    return (or_(ResourceData.group_id.is_(None), ResourceData.group_id.in_(group_ids))
            & ResourceData.reserved.in_(("", user.username)))


def may_lock(user: User, resource: ResourceData) -> bool:
    in_group = resource.group_id is None or any(g.id == resource.group_id
                                                for g in user.groups)
    return in_group and resource.reserved in ("", user.username)


def why_not(user: User, resource: ResourceData) -> str:
    """A sentence saying why ``user`` may not lock ``resource``."""
    if resource.reserved not in ("", user.username):
        return f"{resource.name} is reserved for {resource.reserved}"
    return (f"{resource.name} belongs to group {resource.group.name}, "
            f"which {user.username} is not in")
