"""Engine results as plain JSON-ready dicts, the same for both doors."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from ..models import (LockRequest, LockSession, ResourceData, rfc3339,
                      sub_resource_fields)

HIDDEN_FIELDS = {"session_id"}
#: Whether the viewer sees a resource (:meth:`rotest_app.engine.policy.Sight.sees`).
Sees = Callable[[ResourceData], bool]


#: Every time in an answer: RFC 3339 in UTC with its offset (one function for all).
timestamp = rfc3339


def resource_dict(resource: ResourceData, sees: Sees | None = None) -> dict[str, Any]:
    """Every column of the resource, its group's name and its sub-resources;
    a sub-resource the viewer does not ``see`` reads as none at all."""
    mapper = type(resource).__mapper__
    data: dict[str, Any] = {}
    for attribute in mapper.column_attrs:
        if attribute.key in HIDDEN_FIELDS:
            continue
        value = getattr(resource, attribute.key)
        data[attribute.key] = timestamp(value) if isinstance(value, datetime) else value
    data["group"] = resource.group.name if resource.group else None
    for field in sub_resource_fields(type(resource)):
        child = getattr(resource, field)
        if child is not None and sees is not None and not sees(child):
            # Wired to it by an admin after the viewer took or saw this one.
            child = None
            for column in mapper.relationships[field].local_columns:
                data[mapper.get_property_by_column(column).key] = None
        data[field] = resource_dict(child, sees) if child is not None else None
    return data


def session_dict(session: LockSession) -> dict[str, Any]:
    return {"id": session.id, "state": session.state, "user": session.user.username,
            "description": session.description, "lease_seconds": session.lease_seconds,
            "created": timestamp(session.created),
            "expires_at": timestamp(session.expires_at)}


def request_dict(request: LockRequest, resources: list[ResourceData] | None = None,
                 position: int | None = None, sees: Sees | None = None) -> dict[str, Any]:
    """A lock request; ``resources`` once granted, ``position`` while waiting."""
    data: dict[str, Any] = {
        "id": request.id, "state": request.state, "session_id": request.session_id,
        "priority": request.priority, "descriptors": request.descriptors,
        "created": timestamp(request.created), "deadline": timestamp(request.deadline),
        "message": request.message,
    }
    if resources is not None:
        data["resources"] = [resource_dict(r, sees) for r in resources]
    if position is not None:
        data["queue_position"] = position
    return data
