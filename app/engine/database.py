"""Database set-up the engine relies on, for the server and the embedded client."""
from __future__ import annotations

from sqlalchemy import Engine, create_engine, event

from .settings import create_private_sqlite_file


def configure_engine(engine: Engine) -> Engine:
    """Make SQLite safe for several processes: WAL, foreign keys, a long busy
    timeout, and engine transactions that take the write lock up front (SQLite
    ignores ``FOR UPDATE``): a connection with the execution option
    ``sqlite_immediate`` begins with ``BEGIN IMMEDIATE``, others with a plain
    ``BEGIN`` so that readers never queue for the write lock.
    """
    if engine.dialect.name != "sqlite" or getattr(engine, "_rotest_configured", False):
        return engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.get_execution_options().get("sqlite_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    engine._rotest_configured = True
    return engine


def open_engine(url: str) -> Engine:
    """An Engine for ``url``, configured for the lock engine; makes SQLite's
    folder and file, owner-only."""
    create_private_sqlite_file(url)
    return configure_engine(create_engine(url))
