"""Flask-Migrate on the server: the app's door onto :mod:`rotest_app.engine.schema`.

``flask db ...`` and the ``rotest db`` commands see the same revisions (the
core's and each loaded plugin's) and compare with the same options.
"""
from __future__ import annotations

from flask import Flask, current_app
from flask_migrate import Migrate

from .engine.schema import (CONTEXT_OPTIONS, MIGRATIONS_DIR, MigrationError, Schema,
                            set_version_locations)
from .models import db

__all__ = ["MigrationError", "init_app", "schema_of"]


def init_app(app: Flask) -> None:
    """Attach Flask-Migrate; Alembic sees the core versions plus each plugin's."""
    migrate = Migrate(app, db, directory=str(MIGRATIONS_DIR), **CONTEXT_OPTIONS)
    migrate.configure(lambda config: set_version_locations(
        config, current_app.extensions["rotest_plugins"]))


def schema_of(app: Flask) -> Schema:
    """The app's database and plugins, for the functions of the schema module."""
    with app.app_context():
        return Schema(db.engine, app.extensions["rotest_plugins"])
