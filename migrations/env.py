"""Alembic's environment for rotest.

Alembic loads this file for every command. :mod:`rotest_app.engine.schema`
runs it on the Engine in the configuration's attributes (the embedded client
and ``rotest db``, no Flask app needed); ``flask db`` runs it inside the app,
on Flask-Migrate's. Logging is left alone: the caller, a CLI or a test
process, owns it.
"""
from alembic import context

from rotest_app.engine.schema import CONTEXT_OPTIONS, context_options
from rotest_app.models import db


def _engine():
    engine = context.config.attributes.get("engine")
    if engine is None:  # flask db ...: inside the app
        # Lazy: Flask only under Flask-Migrate; `rotest db` migrates without it.
        from flask import current_app
        engine = current_app.extensions["migrate"].db.engine
    return engine


options = dict(CONTEXT_OPTIONS, target_metadata=db.metadata,
               **context_options(context.config))

if context.is_offline_mode():
    context.configure(url=_engine().url, literal_binds=True, **options)
    with context.begin_transaction():
        context.run_migrations()
else:
    with _engine().connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
