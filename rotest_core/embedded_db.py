"""The embedded database: the server's schema on a local file, kept up to date."""
from __future__ import annotations

from typing import Iterable

_prepared: set[tuple[str, tuple[str, ...]]] = set()


def prepare_database(database_url: str, plugins: Iterable[str] = ()) -> None:
    """Create or migrate the embedded database (once per process and URL)."""
    key = (database_url, tuple(plugins))
    if key in _prepared:
        return
    from rotest_app import create_app
    from rotest_app.migrate import upgrade_database
    app = create_app({"database_url": database_url, "plugins": list(plugins)})
    with app.app_context():
        upgrade_database(app)
    _prepared.add(key)
