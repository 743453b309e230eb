"""Test records by display names, for tests that are about outcomes and
places, not identity."""
from __future__ import annotations

from typing import Any


def named_path(record: Any) -> str:
    """The record's place by display names (``Suite/Class.method``); two
    classes of one name in two modules share it, their identities
    (``record.path``, module-qualified) do not."""
    names = []
    while record is not None and record.parent is not None:
        names.append(record.name)
        record = record.parent
    return "/".join(reversed(names))
