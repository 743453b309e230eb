"""Schema migrations (Alembic) of the core tables and the plugins, Flask-free:
the embedded client migrates its database with these, and the server's
Flask-Migrate (:mod:`rotest_app.migrate`) uses the same directory and options.

The core revisions live in the installed ``rotest_app.migrations`` package, on the branch
labelled ``rotest``. A plugin keeps its revisions in its own versions directory
(:func:`rotest_app.engine.plugins.migrations_dir`), on a branch labelled with the plugin's
name that depends on the core, so upgrading to ``heads`` brings everything up.
A plugin that ships no revisions gets its tables created directly, with a
warning that suggests ``rotest db migrate --plugin NAME``.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Mapping

from alembic import command
from alembic.config import Config
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError, to_tuple
from sqlalchemy import Engine, Table, inspect, text

from rotest_app import migrations

from ..models import db
from .plugins import migrations_dir

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
CORE_VERSIONS_DIR = MIGRATIONS_DIR / "versions"
CORE_BRANCH = "rotest"
CORE_PACKAGE = "rotest_app"
#: Any fixed number would do, as long as every rotest process uses the same one.
PG_LOCK_KEY = 0x726F74657374  # "rotest"
_SCOPE = "rotest.autogenerate_scope"


class MigrationError(RuntimeError):
    """A migration command cannot run; the message says what to do."""


#: Alembic's options for every comparison, here and in Flask-Migrate.
CONTEXT_OPTIONS = {"render_as_batch": True, "compare_type": True}


@dataclass(frozen=True)
class Schema:
    """A database and the plugins whose tables it holds."""

    engine: Engine
    plugins: Mapping[str, ModuleType]


def version_locations(plugins: Mapping[str, ModuleType]) -> list[Path]:
    """The core versions directory, then each loaded plugin's that exists."""
    plugin_dirs = (migrations_dir(module) for module in plugins.values())
    return [CORE_VERSIONS_DIR, *(path for path in plugin_dirs if path.is_dir())]


def set_version_locations(config: Config, plugins: Mapping[str, ModuleType]) -> Config:
    """Point ``config`` at the core's and the plugins' versions directories."""
    paths = os.pathsep.join(str(path) for path in version_locations(plugins))
    config.set_main_option("version_locations", paths.replace("%", "%%"))
    return config


def alembic_config(schema: Schema) -> Config:
    """Alembic's configuration for ``schema``: env.py runs on its engine."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = schema.engine
    return set_version_locations(config, schema.plugins)


def has_migrations(module: ModuleType) -> bool:
    """Whether a plugin ships at least one revision."""
    return any(migrations_dir(module).glob("*.py"))


def owned_tables(package: str) -> set[str]:
    """Names of the tables defined by the models of ``package`` and its
    submodules, with the association tables of their own relationships."""
    db.Model.registry.configure()
    tables: set[str] = set()
    for mapper in db.Model.registry.mappers:
        module = mapper.class_.__module__
        if mapper.single or not (module == package or module.startswith(package + ".")):
            continue
        tables.add(mapper.local_table.name)
        tables.update(rel.secondary.name for rel in mapper.relationships
                      if rel.parent is mapper and isinstance(rel.secondary, Table))
    return tables


def upgrade_database(schema: Schema) -> None:
    """Bring the database up to date: every branch (core and plugins) to its
    head, then the missing tables of plugins that ship no migrations.

    Idempotent, and safe when several processes call it at once.
    """
    with migration_lock(schema.engine), _explained_errors():
        command.upgrade(alembic_config(schema), "heads")
        for name, module in schema.plugins.items():
            if not has_migrations(module):
                _create_plugin_tables(schema.engine, name)


def _create_plugin_tables(engine: Engine, plugin: str) -> None:
    with engine.begin() as connection:
        existing = set(inspect(connection).get_table_names())
        missing = sorted(owned_tables(plugin) - existing)
        if not missing:
            return
        db.metadata.create_all(connection, tables=[db.metadata.tables[name]
                                                   for name in missing])
    log.warning(
        "Created tables %s of plugin %s, which ships no migrations: later changes "
        "to its models will not reach existing databases. Give it migrations with "
        "`rotest db migrate --plugin %s -m \"initial\"`.", ", ".join(missing), plugin,
        plugin)


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold a lock that serializes schema changes across processes."""
    database = engine.url.database
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine):
            yield
    elif engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
        # SQLite has no lock that outlives a transaction, so lock a file beside it.
        with _file_lock(Path(database).with_name(Path(database).name + ".lock")):
            yield
    else:
        yield


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[None]:
    with engine.connect() as connection:
        # Autocommit: a session-level lock, without a transaction left open.
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                               {"key": PG_LOCK_KEY})


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl  # POSIX only, like the embedded client's multiprocess runner
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migration_status(schema: Schema) -> list[tuple[str, str | None, str]]:
    """For each branch, core first: its label, the revision of the branch the
    database is at (None if the branch is not applied) and its head."""
    with _explained_errors():
        script = ScriptDirectory.from_config(alembic_config(schema))
        with schema.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
        applied = _with_ancestors(script, current)
        status = []
        for branch in sorted(_branch_labels(script), key=lambda b: (b != CORE_BRANCH, b)):
            revisions = [rev.revision for rev
                         in script.iterate_revisions(f"{branch}@head", "base")
                         if branch in rev.branch_labels]
            at = next((rev for rev in revisions if rev in applied), None)
            status.append((branch, at, revisions[0]))
        return status


def _branch_labels(script: ScriptDirectory) -> set[str]:
    return {label for rev in script.walk_revisions() for label in rev.branch_labels}


def _with_ancestors(script: ScriptDirectory, revisions: tuple[str, ...]) -> set[str]:
    # Alembic keeps only heads in its version table, and a plugin revision
    # stands for the core revision it depends on: walk both kinds of edges.
    found: set[str] = set()
    todo = list(revisions)
    while todo:
        rev = script.get_revision(todo.pop())
        if rev.revision not in found:
            found.add(rev.revision)
            todo.extend(to_tuple(rev.down_revision, default=()))
            todo.extend(to_tuple(rev.dependencies, default=()))
    return found


@contextmanager
def _explained_errors() -> Iterator[None]:
    try:
        yield
    except CommandError as error:
        hint = ("; if a plugin owns that revision, load it ('plugins:' in rotest.yml "
                "or ROTEST_PLUGINS)" if "Can't locate revision" in str(error) else "")
        raise MigrationError(f"{error}{hint}") from None


def generate_revision(schema: Schema, message: str, plugin: str | None = None) -> Path | None:
    """Autogenerate a revision for the core tables, or for one plugin's branch
    (made on first use, in the plugin's versions directory).

    Returns the new file, or None when the models and the database agree.
    """
    branch, package, directory = _branch_of(schema, plugin)
    if any(at != head for _, at, head in migration_status(schema)):
        raise MigrationError("the database is behind its migrations: run "
                             "`rotest db upgrade`, then this command again")
    directory.mkdir(parents=True, exist_ok=True)
    config = alembic_config(schema)
    script = ScriptDirectory.from_config(config)
    new_branch = branch not in _branch_labels(script)
    config.attributes[_SCOPE] = _Scope(frozenset(owned_tables(package)), new_branch)
    if new_branch:
        core_head = plugin and script.get_revision(f"{CORE_BRANCH}@head").revision
        where = dict(head="base", branch_label=branch, depends_on=core_head)
    else:
        where = dict(head=f"{branch}@head")
    with _explained_errors():
        result = command.revision(config, message, autogenerate=True,
                                  version_path=str(directory), **where)
    return Path(result.path) if result else None


def _branch_of(schema: Schema, plugin: str | None) -> tuple[str, str, Path]:
    if plugin is None:
        return CORE_BRANCH, CORE_PACKAGE, CORE_VERSIONS_DIR
    module = schema.plugins.get(plugin)
    if module is None:
        raise MigrationError(f"plugin {plugin!r} is not loaded: add it to 'plugins:' "
                             f"in rotest.yml or to ROTEST_PLUGINS")
    return plugin, plugin, migrations_dir(module)


@dataclass(frozen=True)
class _Scope:
    """What an autogenerate compares: one branch's tables."""

    tables: frozenset[str]
    #: A new branch is compared with an empty schema, so that its first revision
    #: creates every table, even those made earlier without migrations.
    new_branch: bool


def context_options(config: Config) -> dict[str, Any]:
    """Extra options for Alembic's ``context.configure``, used by env.py:
    within :func:`generate_revision`, limit the comparison to one branch."""
    scope = config.attributes.get(_SCOPE)
    if scope is None:
        return {}

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or (name in scope.tables and not scope.new_branch)

    def include_object(_obj: Any, name: str | None, type_: str, *_: Any) -> bool:
        return type_ != "table" or name in scope.tables

    return {"include_name": include_name, "include_object": include_object,
            "process_revision_directives": partial(_finish_revision, scope)}


def _finish_revision(scope: _Scope, _context: Any, _revision: Any,
                     directives: list[ops.MigrationScript]) -> None:
    script = directives[0]
    if script.upgrade_ops.is_empty():
        directives[:] = []  # nothing changed: write no file
    elif scope.new_branch:
        # Tables made by upgrade_database before the plugin had migrations
        # already exist in some databases: the first revision adopts them.
        for op in _walk(script.upgrade_ops):
            if isinstance(op, (ops.CreateTableOp, ops.CreateIndexOp)):
                op.if_not_exists = True


def _walk(container: ops.OpContainer) -> Iterator[ops.MigrateOperation]:
    for op in container.ops:
        yield op
        if isinstance(op, ops.OpContainer):
            yield from _walk(op)
