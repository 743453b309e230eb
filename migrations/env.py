"""Alembic's environment for rotest: runs inside the app that create_app built.

Alembic loads this file for every command; :mod:`rotest_app.migrate` prepares the
configuration (version locations, the scope of an autogenerate). Logging is
left alone: the caller, a CLI or a test process, owns it.
"""
from alembic import context
from flask import current_app

from rotest_app.migrate import context_options

extension = current_app.extensions["migrate"]
options = dict(extension.configure_args, target_metadata=extension.db.metadata,
               **context_options(context.config))

if context.is_offline_mode():
    context.configure(url=extension.db.engine.url, literal_binds=True, **options)
    with context.begin_transaction():
        context.run_migrations()
else:
    with extension.db.engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
