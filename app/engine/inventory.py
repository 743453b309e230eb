"""Reading and changing resource rows outside of locking: Rotest's
``query`` and ``update_fields``."""
from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..models import User
from . import queue
from .descriptors import Descriptor
from .errors import Conflict, InvalidRequest, PermissionDenied
from .lookups import coerce_value
from .operation import operation
from .policy import KEPT_FIELDS, Sight, admin_only_fields
from .serialize import resource_dict
from .transaction import changed

MAX_RESULTS = 10_000


def query(db: Session, user: User, type_name: str,
          filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Resources of a type matching ``filters`` that the user sees: those they
    may take whole (an admin sees all)."""
    sight = Sight(user)
    descriptor = Descriptor.parse({"type": type_name, "properties": filters or {}},
                                  sight.rules)
    with operation(db):
        return [resource_dict(r, sight.sees)
                for r in sight.find(db, descriptor, MAX_RESULTS)]


def update_fields(db: Session, user: User, type_name: str, filters: dict[str, Any],
                  values: dict[str, Any]) -> list[dict[str, Any]]:
    """Set ``values`` on every resource matching ``filters`` that the user sees.

    Allowed to an admin, or to a user who holds every one of them; fields that
    decide who may lock what, or that refer to other rows, are for admins only
    (see :func:`~.policy.admin_only_fields`).
    """
    sight = Sight(user)
    descriptor = Descriptor.parse({"type": type_name, "properties": filters or {}},
                                  sight.rules)
    assignments = _check_values(descriptor.model, values, user)
    with operation(db):
        resources = sight.find(db, descriptor, MAX_RESULTS)
        if not user.is_admin:
            foreign = [r.name for r in resources if r.owner != user.username]
            if foreign:
                raise PermissionDenied(
                    "update_fields needs you to hold every matching resource, or an "
                    "admin", not_held=foreign[:20])
        for resource in resources:
            for field, value in assignments.items():
                setattr(resource, field, value)
        try:
            db.flush()
        except IntegrityError as error:
            raise Conflict(f"the new values break a rule of the database (a name "
                           f"already taken, or a reference to a missing row): "
                           f"{error.orig}"[:500]) from None
        changed(db)
        queue.serve(db)
        return [resource_dict(r, sight.sees) for r in resources]


def _check_values(model: type, values: Any, user: User) -> dict[str, Any]:
    if not isinstance(values, dict) or not values:
        raise InvalidRequest("'values' must be a non-empty object of field: value")
    if not all(isinstance(field, str) for field in values):
        raise InvalidRequest("field names must be strings")
    blocked = set(values) & KEPT_FIELDS
    if blocked:
        raise InvalidRequest(f"fields kept by the lock engine cannot be set: "
                             f"{sorted(blocked)}")
    guarded = set(values) & admin_only_fields(model)
    if not user.is_admin and guarded:
        raise PermissionDenied(f"only an admin may change {sorted(guarded)}")
    return {field: coerce_value(model, field, value) for field, value in values.items()}
