"""The embedded database: the server's schema on a local file, kept up to date.
No Flask app is built: the engine's schema module migrates it directly."""
from __future__ import annotations

from typing import Iterable

from rotest_app.engine.database import open_engine
from rotest_app.engine.plugins import load_plugins
from rotest_app.engine.schema import Schema, upgrade_database

_prepared: set[tuple[str, tuple[str, ...]]] = set()


def prepare_database(database_url: str, plugins: Iterable[str] = ()) -> None:
    """Create or migrate the embedded database (once per process and URL)."""
    key = (database_url, tuple(plugins))
    if key in _prepared:
        return
    engine = open_engine(database_url)
    try:
        upgrade_database(Schema(engine, load_plugins(list(plugins))))
    finally:
        engine.dispose()
    _prepared.add(key)
