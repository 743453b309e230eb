"""Reading and changing resource rows outside of locking: Rotest's
``query`` and ``update_fields``."""
from __future__ import annotations

import re
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectin_polymorphic, with_polymorphic

from ..models import Group, ResourceData, User, sub_resource_fields
from . import queue
from .descriptors import Descriptor
from .errors import Conflict, InvalidRequest, PermissionDenied
from .lookups import coerce_value
from .operation import operation
from .policy import KEPT_FIELDS, Sight, admin_only_fields
from .serialize import resource_dict
from .transaction import changed

MAX_RESULTS = 10_000
#: A page of :func:`query_page`: by default, and at most.
DEFAULT_PAGE, MAX_PAGE = 500, 1000
#: The largest id a row can have (ids are 32-bit INTEGERs); a cursor past it
#: reads as it, since the database would refuse to compare with more.
MAX_ID = 2**31 - 1


def query(db: Session, user: User, type_name: str,
          filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every resource of a type matching ``filters`` that the user sees: those
    they may take whole (an admin sees all). Reads page after page."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = query_page(db, user, type_name, filters, cursor=cursor, page_size=MAX_PAGE)
        found += page["resources"]
        if not page["more"]:
            return found
        cursor = page["next_cursor"]


def query_page(db: Session, user: User, type_name: str,
               filters: dict[str, Any] | None = None, *, cursor: str | None = None,
               page_size: int = DEFAULT_PAGE) -> dict[str, Any]:
    """One page of :func:`query`, in id order, after ``cursor`` (the
    ``next_cursor`` of the page before; none for the first).

    Returns ``resources``, ``more`` (whether another page has any) and
    ``next_cursor`` (for that page, or None). Only resources the user sees
    are counted, so neither a page's length nor ``more`` tells of the others.
    """
    after = _cursor_id(cursor)
    if isinstance(page_size, bool) or not isinstance(page_size, int) \
            or not 1 <= page_size <= MAX_PAGE:
        raise InvalidRequest(f"'page_size' must be a whole number from 1 to {MAX_PAGE}, "
                             f"got {page_size!r}"[:200], field="page_size")
    sight = Sight(user)
    descriptor = Descriptor.parse({"type": type_name, "properties": filters or {}},
                                  sight.rules)
    with operation(db):
        # ``loaded`` holds the rows' families: the Session keeps rows only weakly.
        resources, loaded = _seen_after(db, sight, descriptor, after, page_size + 1)
        more = len(resources) > page_size
        resources = resources[:page_size]
        return {"resources": [resource_dict(r, sight.sees) for r in resources],
                "more": more,
                "next_cursor": str(resources[-1].id) if more else None}


def _cursor_id(cursor: Any) -> int:
    if cursor is None:
        return 0
    if not isinstance(cursor, str) or not re.fullmatch(r"[0-9]{1,19}", cursor):
        raise InvalidRequest("'cursor' must be the next_cursor of the page before, as "
                             "it was answered; leave it out for the first page",
                             field="cursor")
    # Past every id a database can hold: an empty last page, not a failed bind.
    return min(int(cursor), MAX_ID)


def _seen_after(db: Session, sight: Sight, descriptor: Descriptor, after: int,
                wanted: int) -> tuple[list[ResourceData], list[ResourceData]]:
    """Up to ``wanted`` resources past id ``after`` that the user sees, and
    the rows of their families (loaded with them).

    Reads in id order until it has them or the rows end: the SQL prefilter
    lets through rows the user may still not see (a part they may not lock),
    so one LIMIT cannot count seen rows.
    """
    model = descriptor.model
    statement = (descriptor.select(sight.rules).where(sight.prefilter())
                 .options(selectin_polymorphic(model, _subclasses(model))))
    seen: list[ResourceData] = []
    loaded: list[ResourceData] = []
    while len(seen) < wanted:
        batch = list(db.scalars(statement.where(model.id > after).limit(wanted)))
        if not batch:
            break
        loaded += _load_families(db, batch)
        seen += sight.keep(batch)
        after = batch[-1].id
    return seen[:wanted], loaded


def _subclasses(model: type[ResourceData]) -> list[type[ResourceData]]:
    found, stack = [], list(model.__subclasses__())
    while stack:
        subclass = stack.pop()
        if hasattr(subclass, "__mapper__"):
            found.append(subclass)
        stack.extend(subclass.__subclasses__())
    return found


def _load_families(db: Session, resources: Iterable[ResourceData]) -> list[Any]:
    """Load the resources' groups and sub-resources (and theirs) in a few
    statements, one per level, instead of one per row: many-to-one relations
    by primary key are then read from the Session, without SQL. Returns the
    rows loaded, for the caller to hold while it reads the relations."""
    pending = list(resources)
    everything: list[Any] = []
    groups = {row.group_id for row in pending if row.group_id is not None}
    loaded: set[int] = {row.id for row in pending}
    any_resource = with_polymorphic(ResourceData, "*")
    while pending:
        ids = set()
        for row in pending:
            mapper = type(row).__mapper__
            for relation in sub_resource_fields(type(row)):
                for column in mapper.relationships[relation].local_columns:
                    value = getattr(row, mapper.get_property_by_column(column).key)
                    if value is not None and value not in loaded:
                        ids.add(value)
        loaded |= ids
        pending = []
        for start in range(0, len(ids), MAX_PAGE):
            chunk = sorted(ids)[start:start + MAX_PAGE]
            pending += db.scalars(select(any_resource).where(any_resource.id.in_(chunk)))
        everything += pending
        groups |= {row.group_id for row in pending if row.group_id is not None}
    if groups:
        everything += db.scalars(select(Group).where(Group.id.in_(groups)))
    return everything


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
        resources = sight.find(db, descriptor, MAX_RESULTS + 1)
        if len(resources) > MAX_RESULTS:
            # Setting the first 10,000 and not the rest would be a silent cut.
            raise InvalidRequest(f"the filters match more than {MAX_RESULTS} resources; "
                                 f"update_fields sets at most {MAX_RESULTS} at once: "
                                 f"narrow the filters")
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
