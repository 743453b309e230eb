"""The query planner's statistics: refreshed after bulk changes, and on demand.

Both databases choose their plans (which index, which join order) from row
counts and value distributions they measured last. After an import of
thousands of resources those are stale: a plan made for a ten-row table scans
fifty thousand. ``ANALYZE`` measures again; it reads a sample, so it takes
milliseconds per table at the sizes of a lab.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import Engine, inspect, text

#: The tables the lock engine reads on every lock and release.
LOCK_TABLES = ("resource", "lock_session", "lock_request", "group", "user_groups")


def refresh_statistics(engine: Engine, tables: Iterable[str] = ()) -> list[str]:
    """ANALYZE ``tables`` and :data:`LOCK_TABLES` (those that exist); on SQLite
    also ``PRAGMA optimize``. Returns the tables analyzed."""
    existing = set(inspect(engine).get_table_names())
    names = sorted({*LOCK_TABLES, *tables} & existing)
    preparer = engine.dialect.identifier_preparer
    # One short transaction: both databases run ANALYZE inside one (unlike VACUUM).
    with engine.begin() as connection:
        for name in names:
            connection.execute(text(f"ANALYZE {preparer.quote(name)}"))
        if engine.dialect.name == "sqlite":
            connection.execute(text("PRAGMA optimize"))
    return names
