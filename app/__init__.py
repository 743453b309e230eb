"""The rotest server: one Flask app, built only by ``create_app``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .engine import settings as config_module

# Flask and the models are imported by create_app, not here: the client
# runtime imports rotest_app.engine.settings (and rotest_app.engine.plugins) and must stay light.
if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides rotest.yml and ``ROTEST_*`` settings.

    Keys are the lower-case setting names of :mod:`rotest_app.engine.settings` (database_url,
    plugins, ...); upper-case keys go to Flask's config unchanged (TESTING, ...).
    """
    # Lazy: the runtime imports this package for its engine; Flask only builds an app.
    from flask import Flask
    from rotest_templates import FOLDER as TEMPLATES

    from . import security
    from .engine.database import configure_engine
    from .engine.plugins import load_plugins
    from .models import db

    overrides = {k: v for k, v in (config or {}).items() if k.islower()}
    settings = config_module.load_settings(overrides=overrides)
    database_url = settings["database_url"] \
        or config_module.default_database_url(settings["workdir"])
    config_module.create_private_sqlite_file(database_url)
    app = Flask(__name__, template_folder=TEMPLATES)
    app.config.update(
        ROTEST=settings,
        SQLALCHEMY_DATABASE_URI=database_url,
        SECRET_KEY=settings["secret_key"]
        or config_module.secret_key_for(settings["workdir"]),
        MAX_CONTENT_LENGTH=settings["max_request_bytes"],
        JSON_SORT_KEYS=False,
        **security.session_config(settings),
    )
    app.config.update({k: v for k, v in (config or {}).items() if k.isupper()})
    app.extensions["rotest_plugins"] = load_plugins(settings["plugins"])

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
        if db.engine.dialect.name == "sqlite":
            app.before_request(_sqlite_write_lock_up_front)

    security.init_app(app)
    _register_parts(app)
    return app


def _sqlite_write_lock_up_front() -> None:
    """Forms that change rows take SQLite's write lock when they begin: a
    transaction that reads first may not be allowed to write later. (The API
    goes through the lock engine, which does this itself.)"""
    # Lazy: as in create_app.
    from flask import request

    from .models import db
    if request.method not in ("GET", "HEAD", "OPTIONS") \
            and not request.path.startswith("/api/"):
        db.session.connection(execution_options={"sqlite_immediate": True})


def _register_parts(app: Flask) -> None:
    # Lazy: as in create_app; the parts bring Flask-Admin and the views.
    from . import admin, api, migrate, routing, sweeper, web
    routing.init_app(app)
    api.init_app(app)
    admin.init_app(app)
    web.init_app(app)
    migrate.init_app(app)
    sweeper.init_app(app)
