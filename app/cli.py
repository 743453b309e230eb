"""The server's commands of the ``rotest`` console script: the database schema,
users, API tokens and the server.

They need only the ``app`` package; :mod:`rotest_core.cli` gathers them under
``rotest``, importing this module only when one of them is asked for. Each
builds the app with :func:`rotest_app.create_app`, so settings come from rotest.yml
(or ``--config`` / ``ROTEST_CONFIG``) and ``ROTEST_*`` variables.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import click
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from . import create_app
from .engine.cli_base import CliError
from .engine.plugins import PluginError
from .engine.schema import (MigrationError, generate_revision, migration_status,
                            upgrade_database)
from .engine.settings import ConfigError
from .engine.statistics import refresh_statistics
from .migrate import schema_of
from .models import ApiToken, User, db, resource_models
from .serving import DEFAULT_BIND, DEFAULT_THREADS, DEFAULT_WORKERS


@contextmanager
def server_app() -> Iterator[Flask]:
    """The app, inside its app context; known failures become :class:`CliError`."""
    logging.basicConfig(format="%(message)s")
    try:
        app = create_app()
    except ConfigError as error:
        raise CliError(f"bad configuration: {error}. Fix the setting and try again.",
                       exit_code=2) from None
    except PluginError as error:
        raise CliError(str(error), exit_code=2) from None
    with app.app_context():
        try:
            yield app
        except MigrationError as error:
            raise CliError(str(error)) from None
        except DBAPIError as error:
            reason = str(error.orig).strip().splitlines()[0]
            raise CliError(
                f"database error: {reason}. Check database_url (ROTEST_DATABASE_URL); "
                f"if tables are missing, run `rotest db upgrade`.") from None
        finally:
            db.session.remove()


def _only_steps(record: logging.LogRecord) -> bool:
    # Alembic also logs its dialect and DDL mode at INFO: keep only the steps.
    return record.getMessage().startswith("Running")


def _show_migration_progress() -> None:
    logger = logging.getLogger("alembic.runtime.migration")
    logger.setLevel(logging.INFO)
    if _only_steps not in logger.filters:
        logger.addFilter(_only_steps)


# --- db ---------------------------------------------------------------------

@click.group()
def db_group() -> None:
    """The database schema: migrations of the core and of the plugins."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration, core and plugins, and create the tables
    of plugins that ship no migrations."""
    with server_app() as app:
        _show_migration_progress()
        upgrade_database(schema_of(app))
    click.echo("The database is up to date.")


@db_group.command("migrate")
@click.option("-m", "--message", required=True, help="What the revision changes.")
@click.option("--plugin", metavar="NAME",
              help="The plugin whose branch gets the revision (its first one "
                   "starts the branch). Default: the core tables.")
def db_migrate(message: str, plugin: str | None) -> None:
    """Write a revision from the difference between the models and the
    database, which must be up to date."""
    with server_app() as app:
        path = generate_revision(schema_of(app), message, plugin)
    if path is None:
        click.echo("The models and the database agree: no revision written.")
    else:
        click.echo(f"Wrote {path}. Review it, then run `rotest db upgrade`.")


@db_group.command("current")
def db_current() -> None:
    """Show the revision of the database on each branch."""
    with server_app() as app:
        status = migration_status(schema_of(app))
    for branch, applied, head in status:
        state = ("up to date" if applied == head else
                 f"behind, head is {head}" if applied else f"not applied, head is {head}")
        click.echo(f"{branch}: {applied or '-'} ({state})")


@db_group.command("analyze")
def db_analyze() -> None:
    """Refresh the query planner's statistics (ANALYZE) of the lock tables and
    the resource tables: after a large import or clean-up, or nightly."""
    with server_app():
        tables = refresh_statistics(db.engine, [model.__table__.name
                                                for model in resource_models().values()])
    click.echo(f"Statistics refreshed: {', '.join(tables)}.")


# --- users ------------------------------------------------------------------

@click.group()
def users() -> None:
    """Accounts: people at the admin site, clients with API tokens."""


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="May use the admin site and force releases.")
@click.option("--password", envvar="ROTEST_PASSWORD", prompt=True, hide_input=True,
              confirmation_prompt=True,
              help="Default: $ROTEST_PASSWORD, else asked for twice.")
def create_user(username: str, admin: bool, password: str) -> None:
    """Create the user USERNAME."""
    if not password:
        raise CliError("the password must not be empty")
    with server_app():
        user = User(username=username, is_admin=admin)
        user.set_password(password)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            raise CliError(f"user {username!r} already exists: choose another name, "
                           f"or see `rotest users list`") from None
        user_id = user.id
    click.echo(f"Created {'admin' if admin else 'user'} {username} (id {user_id}).")


@users.command("list")
def list_users() -> None:
    """List the users."""
    with server_app():
        for user in db.session.scalars(select(User).order_by(User.username)):
            flags = " ".join(flag for flag, on in (("admin", user.is_admin),
                                                   ("inactive", not user.is_active)) if on)
            click.echo(f"{user.id:>5}  {user.username}  {flags}".rstrip())


def _user(username: str) -> User:
    user = db.session.scalar(select(User).filter_by(username=username))
    if user is None:
        raise CliError(f"no user {username!r}: create it with "
                       f"`rotest users create {username}`")
    return user


# --- tokens -----------------------------------------------------------------

@click.group()
def tokens() -> None:
    """API tokens, with which clients authenticate to the lock API."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", default="", help="A label, e.g. the CI job that uses the token.")
def create_token(username: str, name: str) -> None:
    """Issue a token for USERNAME and print it: it is shown only this once."""
    with server_app():
        token, plain = ApiToken.issue(_user(username), name)
        db.session.add(token)
        db.session.commit()
        # The note goes to stderr so that scripts can capture the token alone.
        click.echo(f"Token {token.id} for {username}; store it now, it is not "
                   f"kept and will not be shown again:", err=True)
    click.echo(plain)


@tokens.command("list")
def list_tokens() -> None:
    """List the tokens (their prefixes: the tokens themselves are not kept)."""
    with server_app():
        for token in db.session.scalars(select(ApiToken).order_by(ApiToken.id)):
            used = token.last_used.isoformat(" ", "seconds") if token.last_used else "never"
            click.echo(f"{token.id:>5}  {token.user.username}  {token.prefix}…  "
                       f"{token.name or '-'}  last used: {used}")


@tokens.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
def revoke_token(token_id: int) -> None:
    """Delete the token ID, as `rotest tokens list` shows it."""
    with server_app():
        token = db.session.get(ApiToken, token_id)
        if token is None:
            raise CliError(f"no token with id {token_id}: see `rotest tokens list`")
        db.session.delete(token)
        db.session.commit()
    click.echo(f"Revoked token {token_id}.")


# --- server -----------------------------------------------------------------

def _bind(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, such as {DEFAULT_BIND}, "
                                 f"got {value!r}")
    return host, int(port)


@click.command()
@click.option("--bind", default=DEFAULT_BIND, show_default=True, metavar="HOST:PORT",
              help="The address to listen on; 0.0.0.0:8000 for every interface.")
@click.option("--workers", default=DEFAULT_WORKERS, show_default=True, type=click.IntRange(1),
              help="gunicorn worker processes.")
@click.option("--threads", default=DEFAULT_THREADS, show_default=True,
              type=click.IntRange(1),
              help="Threads per worker; keep long_poll_limit a few below it.")
@click.option("--dev", is_flag=True,
              help="Flask's development server instead of gunicorn (one process).")
@click.option("--debug", is_flag=True,
              help="With --dev: reload on code changes, tracebacks in pages.")
def server(bind: str, workers: int, threads: int, dev: bool, debug: bool) -> None:
    """Serve the lock server, after upgrading the database: gunicorn with
    threaded workers. SIGTERM or Ctrl-C stops it in seconds: requests in
    flight are answered and waiting clients told to poll again.

    \b
    To run gunicorn yourself (upgrade first with `rotest db upgrade`):
        gunicorn -c python:rotest_app.gunicorn_conf 'rotest_app:create_app()' --bind 0.0.0.0:8000
    """
    host, port = _bind(bind)
    if debug and not dev:
        raise CliError("--debug needs --dev: gunicorn does not reload code", exit_code=2)
    with server_app() as app:
        upgrade_database(schema_of(app))
        db.engine.dispose()  # each gunicorn worker opens its own connections
    if dev:
        app.run(host=host, port=port, debug=debug)
        return
    from .gunicorn_app import serve  # lazy: gunicorn only for this command
    serve(bind, workers=workers, threads=threads)
