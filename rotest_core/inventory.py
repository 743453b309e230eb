"""``rotest resources``: the lab's inventory from the command line.

``list`` and ``release`` go through a lock client, so they work in both modes:
embedded (the lock engine on the local database) and remote (the server's API,
with the configured token). ``import`` creates and updates resource rows, which
the API has no call for (resources are the admins' business), so it writes to
a database directly: the embedded one, or in remote mode the server's, when
``database_url`` (``ROTEST_DATABASE_URL``) names it.

An import file is a YAML list of resources; a sub-resource is a nested entry
(its type defaults to the relation's) or the name of an existing resource::

    - type: CalculatorData
      name: calc1
      ip_address: 127.0.0.1
      sub_process: {type: SubProcessData, name: sub1}
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click
import yaml
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.cli_base import CliError
from app.config import ConfigError
from app.engine import InvalidRequest, open_engine, queue
from app.engine.lookups import coerce_value
from app.engine.operation import operation
from app.engine.transaction import changed
from app.models import Group, ResourceData, resource_models, sub_resource_fields
from app.plugins import PluginError, load_plugins

from .config import RunConfig, load_config, lock_client_for
from .resources import LockClient, LockClientError

#: Kept by the lock engine, never by an inventory file.
RUNTIME_FIELDS = {"id", "session_id", "owner", "owner_time", "dirty", "group_id"}
COLUMNS = (("name", "NAME"), ("type", "TYPE"), ("owner", "OWNER"),
           ("is_usable", "USABLE"), ("group", "GROUP"), ("comment", "COMMENT"))
MAX_COMMENT = 60


@click.group(name="resources")
def resources() -> None:
    """The lab's resources: list them, import them from YAML, release them."""


# --- configuration and clients ----------------------------------------------

def _config() -> RunConfig:
    try:
        return load_config()
    except ConfigError as error:
        raise CliError(f"bad configuration: {error}", exit_code=2) from None


@contextmanager
def _explained_errors() -> Iterator[None]:
    """Known failures as one line that says what to do, without a traceback."""
    try:
        yield
    except (ConfigError, PluginError) as error:
        raise CliError(str(error), exit_code=2) from None
    except LockClientError as error:
        raise CliError(str(error)) from None
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0]
        raise CliError(f"database error: {reason}. Check database_url "
                       f"(ROTEST_DATABASE_URL); if tables are missing, run "
                       f"`rotest db upgrade`.") from None


@contextmanager
def _client() -> Iterator[LockClient]:
    """The configured lock client (embedded or remote); no lock session needed."""
    with _explained_errors():
        client = lock_client_for(_config())
        try:
            yield client
        finally:
            client.close()


# --- list ---------------------------------------------------------------------

@resources.command("list")
@click.argument("type_name", metavar="[TYPE]", required=False, default="ResourceData")
@click.option("--json", "as_json", is_flag=True, help="Print the full records as JSON.")
def list_resources(type_name: str, as_json: bool) -> None:
    """List resources of TYPE (a model name, e.g. CalculatorData); all by default."""
    with _client() as client:
        rows = client.query(type_name)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    elif not rows:
        click.echo(f"No resources of type {type_name}.")
    else:
        click.echo(format_table(rows))


def format_table(rows: list[dict[str, Any]]) -> str:
    """Resources as an aligned text table of :data:`COLUMNS`."""
    cells = [[title for _, title in COLUMNS]]
    cells += [[_cell(key, row.get(key)) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths))
                     .rstrip() for line in cells)


def _cell(key: str, value: Any) -> str:
    if key == "is_usable":
        return "yes" if value else "no"
    text = " ".join(str(value or "-").split())  # one line per resource
    if key == "comment" and len(text) > MAX_COMMENT:
        text = text[:MAX_COMMENT - 3] + "..."
    return text


# --- release ------------------------------------------------------------------

@resources.command("release")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True,
              help="Release resources someone else holds (admins; in embedded mode, you).")
def release_resources(names: tuple[str, ...], force: bool) -> None:
    """Release the resources NAMES, with their sub-resources."""
    with _client() as client:
        released = client.release(list(names), force=force)
    click.echo(f"Released {', '.join(released)}.")


# --- import ---------------------------------------------------------------------

class InventoryError(CliError):
    """A bad import file; the message names the file, the entry and the field."""


@resources.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Create or update resources from FILE (YAML), matched by name."""
    entries = read_entries(file)
    config = _config()
    with _explained_errors():
        url = _direct_database_url(config)
        results = import_resources(url, entries, str(file))
    for action, type_name, name in results:
        click.echo(f"{action} {type_name} {name}")
    created = sum(action == "created" for action, _, _ in results)
    click.echo(f"Imported {len(results)} resource(s) from {file}: {created} created, "
               f"{len(results) - created} updated.")


def _direct_database_url(config: RunConfig) -> str:
    """The database import writes to; embedded mode prepares it, as a run does."""
    if config.embedded:
        from .embedded_db import prepare_database
        prepare_database(config.embedded_database_url, config.plugins)
        return config.embedded_database_url
    if not config.database_url:
        raise CliError(
            f"import writes to the database directly (the lock server's API does not "
            f"create resources), and host is set to {config.server_url}. Set "
            f"ROTEST_DATABASE_URL (or database_url in rotest.yml) to the server's "
            f"database, or import there with the admin site; or unset host to import "
            f"into the embedded database.", exit_code=2)
    load_plugins(config.plugins)  # a team database is migrated by `rotest db upgrade`
    return config.database_url


def read_entries(file: Path) -> list[Any]:
    """The list of resource entries in a YAML file."""
    try:
        entries = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InventoryError(f"{file}: not valid YAML: {error}") from None
    except UnicodeDecodeError as error:
        raise InventoryError(f"{file}: not UTF-8 text: {error}") from None
    if not isinstance(entries, list) or not entries:
        raise InventoryError(f"{file}: expected a list of resources "
                             f"('- type: ...' and 'name: ...' each), "
                             f"got {_kind(entries)}")
    return entries


def import_resources(database_url: str, entries: list[Any],
                     source: str) -> list[tuple[str, str, str]]:
    """Create or update the entries' resources in one transaction, all or none.

    Returns (``created`` or ``updated``, type, name) for each resource, the
    sub-resources before their parents. Waiting lock requests that a new
    resource satisfies are granted in the same transaction.
    """
    engine = open_engine(database_url)
    try:
        with Session(engine) as db, operation(db):
            importer = _Importer(db)
            for index, entry in enumerate(entries, start=1):
                importer.upsert(entry, None, f"{source}: entry {index}")
            changed(db)
            queue.serve(db)
            return importer.results
    finally:
        engine.dispose()


class _Importer:
    """Creates and updates resource rows within one Session."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.results: list[tuple[str, str, str]] = []

    def upsert(self, entry: Any, default_model: type[ResourceData] | None,
               where: str) -> ResourceData:
        """The resource an entry describes, created or updated by name."""
        if not isinstance(entry, dict):
            raise InventoryError(f"{where}: expected a mapping with 'type' and 'name', "
                                 f"got {_kind(entry)}")
        fields = dict(entry)
        model = self._model(fields.pop("type", None), default_model, where)
        name = fields.pop("name", None)
        if not isinstance(name, str) or not name.strip():
            raise InventoryError(f"{where}: 'name' must be a non-empty string, "
                                 f"got {name!r}")
        where = f"{where} ({name})"
        resource, action = self._find(model, name, where)
        values = {str(field): self._value(model, str(field), value,
                                          f"{where}, field '{field}'")
                  for field, value in fields.items()}
        changes = {field: value for field, value in values.items()
                   if action == "created" or getattr(resource, field) != value}
        if changes and resource.session_id is not None:
            raise InventoryError(f"{where}: {name} is locked by {resource.owner}; "
                                 f"release it first (rotest resources release {name})")
        for field, value in changes.items():
            setattr(resource, field, value)
        # Added only now, with every field set: a half-made row is never flushed.
        self.db.add(resource)
        self.db.flush()
        self.results.append((action, model.__name__, name))
        return resource

    @staticmethod
    def _model(type_name: Any, default: type[ResourceData] | None,
               where: str) -> type[ResourceData]:
        models = resource_models()
        if type_name is None:
            if default is not None:
                return default
            raise InventoryError(f"{where}: missing 'type' (the resource model's name)")
        if not isinstance(type_name, str) or type_name not in models:
            known = ", ".join(sorted(set(models) - {"ResourceData"})) or "none"
            raise InventoryError(f"{where}: unknown resource type {type_name!r}; known "
                                 f"types: {known}. Is its plugin in 'plugins:' of "
                                 f"rotest.yml or ROTEST_PLUGINS?")
        if default is not None and not issubclass(models[type_name], default):
            raise InventoryError(f"{where}: expected a {default.__name__}, "
                                 f"got type {type_name}")
        return models[type_name]

    def _find(self, model: type[ResourceData], name: str,
              where: str) -> tuple[ResourceData, str]:
        """The resource of that name, or a new (not yet added) one."""
        found = self.db.scalar(select(ResourceData).where(ResourceData.name == name))
        if found is None:
            return model(name=name), "created"
        if type(found) is not model:
            raise InventoryError(f"{where}: {name} already exists as a "
                                 f"{type(found).__name__}, not a {model.__name__}")
        return found, "updated"

    def _value(self, model: type[ResourceData], field: str, value: Any, where: str) -> Any:
        """What ``field`` of a ``model`` is set to for ``value`` of the file."""
        if field in RUNTIME_FIELDS:
            raise InventoryError(f"{where}: kept by the lock engine, not set by import")
        if field == "group":
            return self._group(value, where)
        if field in sub_resource_fields(model):
            target = model.__mapper__.relationships[field].mapper.class_
            return self._sub_resource(value, target, where)
        if field in model.__mapper__.column_attrs:
            try:
                return coerce_value(model, field, value)
            except InvalidRequest as error:
                raise InventoryError(f"{where}: {error.message}") from None
        raise InventoryError(f"{where}: {model.__name__} has no such field; it has "
                             f"{', '.join(_settable_fields(model))}")

    def _sub_resource(self, value: Any, target: type[ResourceData],
                      where: str) -> ResourceData | None:
        """A nested entry (created or updated), an existing resource's name, or null."""
        if value is None:
            return None
        if isinstance(value, dict):
            return self.upsert(value, target, where)
        if isinstance(value, str):
            found = self.db.scalar(select(ResourceData).where(ResourceData.name == value))
            if not isinstance(found, target):
                raise InventoryError(f"{where}: no {target.__name__} named {value!r}")
            return found
        raise InventoryError(f"{where}: expected a nested resource or the name of one, "
                             f"got {_kind(value)}")

    def _group(self, value: Any, where: str) -> Group | None:
        """The group of that name, made on first mention (or null: no group)."""
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise InventoryError(f"{where}: expected a group name, got {_kind(value)}")
        group = self.db.scalar(select(Group).where(Group.name == value))
        if group is None:
            group = Group(name=value)
            self.db.add(group)
        return group


def _settable_fields(model: type[ResourceData]) -> list[str]:
    columns = [c.key for c in model.__mapper__.column_attrs
               if c.key not in RUNTIME_FIELDS | {"type", "name"}]
    return sorted([*columns, "group", *sub_resource_fields(model)])


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:120]
