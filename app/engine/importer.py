"""Importing an inventory file into the database: streamed, in batches, all or none.

The file is read one entry at a time (:mod:`.yaml_stream`); entries are
handled in batches of :data:`BATCH`: one SELECT finds every resource a batch
names, new rows get their ids in one statement and go in by bulk INSERTs (a
statement per model, parts first), changed rows by the Session's flush, and
the batch is let go. The whole
import is one transaction in the engine's write lock: a bad entry stops it
and leaves the database as it was, with an error naming the entry and its
line. Waiting lock requests that new resources satisfy are granted in the
same transaction; the planner's statistics are refreshed after it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

import yaml
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, with_polymorphic

from ..models import Group, ResourceData, User, resource_models, sub_resource_fields
from . import queue
from .cli_base import CliError
from .database import open_engine
from .errors import InvalidRequest
from .lookups import coerce_value
from .operation import operation
from .policy import check_inventory_rights
from .statistics import refresh_statistics
from .transaction import changed
from .yaml_stream import Item, NotAList, iter_list

#: Kept by the lock engine, never by an inventory file.
RUNTIME_FIELDS = frozenset({"id", "session_id", "owner", "owner_time", "dirty", "group_id"})
#: Entries handled (and rows flushed) together.
BATCH = 1000
#: Names per ``IN (...)``: within SQLite's and PostgreSQL's parameter limits.
NAMES_PER_SELECT = 900

#: Called after each batch with (bytes read, entries done).
Progress = Callable[[int, int], None]


class InventoryError(CliError):
    """A bad import file; the message names the file, line, entry and field."""


@dataclass
class ImportResult:
    """What an import did: counts, and each change when asked for."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: (``created`` or ``updated``, type, name), sub-resources before parents;
    #: kept only when the import was asked to (``keep_changes``).
    changes: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def import_file(database_url: str, path: Path, *, keep_changes: bool = False,
                progress: Progress | None = None) -> ImportResult:
    """Create or update the resources of the YAML file at ``path``, matched by name.

    All or none: on the first bad entry an :class:`InventoryError` says
    which, and nothing is written.
    """
    engine = open_engine(database_url)
    try:
        with path.open("rb") as stream:
            return import_stream(engine, stream, str(path), keep_changes=keep_changes,
                                 progress=progress)
    finally:
        engine.dispose()


def import_stream(engine: Engine, stream: IO[bytes], source: str, *,
                  keep_changes: bool = False, progress: Progress | None = None,
                  user: User | None = None) -> ImportResult:
    """Import the YAML ``stream`` (named ``source`` in messages) on ``engine``,
    as :func:`import_file` does; ``user``, when given, must be an admin."""
    if user is not None:
        check_inventory_rights(user, "import")
    with Session(engine) as db:
        with operation(db):
            importer = Importer(db, source, keep_changes)
            for batch in _batches(_items(stream, source), BATCH):
                importer.import_batch(batch)
                if progress is not None:
                    progress(stream.tell(), importer.result.total)
            if importer.result.created or importer.result.updated:
                changed(db)
                queue.serve(db)
        result = importer.result
    if result.created or result.updated:
        refresh_statistics(engine, [m.__table__.name for m in _models()])
    return result


def _items(stream: Any, source: str) -> Iterator[Item]:
    """The file's entries, its YAML errors as InventoryErrors."""
    try:
        yield from iter_list(stream)
    except NotAList as error:
        raise InventoryError(f"{source}: expected a list of resources ('- type: ...' and "
                             f"'name: ...' each), got {error}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InventoryError(f"{source}{line}: not valid YAML: {error}") from None
    except yaml.YAMLError as error:
        raise InventoryError(f"{source}: not valid YAML: {error}") from None
    except UnicodeDecodeError as error:
        raise InventoryError(f"{source}: not UTF-8 text: {error}") from None


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _models() -> list[type[ResourceData]]:
    return list(resource_models().values())


class Importer:
    """Creates and updates resource rows within one Session, a batch at a time."""

    def __init__(self, db: Session, source: str, keep_changes: bool = False) -> None:
        self.db = db
        self.source = source
        self.keep_changes = keep_changes
        self.result = ImportResult()
        self.models = resource_models()
        self.any_resource = with_polymorphic(ResourceData, "*")
        #: Each model's sub-resource relations, and every model's names of them.
        self.relations = {model: sub_resource_fields(model) for model in self.models.values()}
        self.relation_names = {key for keys in self.relations.values() for key in keys}
        #: Each model's relation -> the attribute of its foreign key.
        self.reference_keys = {model: {key: _local_attributes(model, key)[0].key
                                       for key in keys}
                               for model, keys in self.relations.items()}
        #: coerce_value's answers, by (model, key, type, value).
        self.coerced: dict[tuple[Any, ...], Any] = {}
        #: (row, foreign key attribute, part or None) set at the batch's end.
        self.links: list[tuple[ResourceData, str, ResourceData | None]] = []
        self.groups = {group.name: group for group in db.scalars(select(Group))}
        #: The resources the current batch names, by name (found or created).
        self.known: dict[str, ResourceData] = {}
        #: The rows the current batch creates, in the order it made them.
        self.created: list[ResourceData] = []
        #: The names the current batch has looked up (found or not).
        self.looked_up: set[str] = set()

    def import_batch(self, batch: list[Item]) -> None:
        """Upsert a batch of entries and flush it; then let its rows go."""
        self.looked_up = self._names(batch)
        self.known = self._existing(self.looked_up)
        for item in batch:
            self.upsert(item.value, None, f"{self.source}:{item.line}: entry {item.index}")
        created = self._assign_ids()
        for row, key, part in self.links:  # references as keys, now that all have one
            setattr(row, key, part.id if part is not None else None)
        # New rows by bulk INSERTs, a statement per model and level (parts
        # before the rows made of them), without the unit of work's
        # bookkeeping per object; changed rows by the Session's flush.
        for level in self._levels(created):
            self.db.bulk_save_objects(level)
        self.db.flush()
        # Flushed rows are clean: the Session holds them weakly, and now so do we.
        self.known, self.looked_up, self.links = {}, set(), []

    # --- one entry ----------------------------------------------------------

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
        resource, created = self._find(model, name, where)
        changes = {}
        for key, value in fields.items():
            key = str(key)
            value = self._value(model, key, value, f"{where}, field '{key}'")
            if created or not self._holds(resource, key, value):
                changes[key] = value
        if changes and resource.session_id is not None:
            raise InventoryError(f"{where}: {name} is locked by {resource.owner}; "
                                 f"release it first (rotest resources release {name})")
        for key, value in changes.items():
            if key == "group":
                resource.group_id = value.id if value is not None else None
            elif key in self.relations[model]:
                # Set by key at the batch's end: a part made in this batch has
                # no id yet, and a relationship would add it to the Session.
                self.links.append((resource, self.reference_keys[model][key], value))
            else:
                setattr(resource, key, value)
        if created:
            # Inserted at the batch's end, with every field set (never half made).
            self.known[name] = resource
            self.created.append(resource)
        self._count("created" if created else "updated" if changes else "unchanged",
                    model, name)
        return resource

    def _count(self, action: str, model: type[ResourceData], name: str) -> None:
        setattr(self.result, action, getattr(self.result, action) + 1)
        if self.keep_changes and action != "unchanged":
            self.result.changes.append((action, model.__name__, name))

    def _holds(self, resource: ResourceData, key: str, value: Any) -> bool:
        """The row already has ``value`` in ``key`` (compared by key for
        references, so that no related row is loaded)."""
        if key == "group":
            return resource.group_id == (value.id if value is not None else None)
        relationship = type(resource).__mapper__.relationships.get(key)
        if relationship is not None:
            mapper = type(resource).__mapper__
            column = next(iter(relationship.local_columns))
            current = getattr(resource, mapper.get_property_by_column(column).key)
            return current == (value.id if value is not None else None)
        return getattr(resource, key) == value

    def _model(self, type_name: Any, default: type[ResourceData] | None,
               where: str) -> type[ResourceData]:
        if type_name is None:
            if default is not None:
                return default
            raise InventoryError(f"{where}: missing 'type' (the resource model's name)")
        if not isinstance(type_name, str) or type_name not in self.models:
            known = ", ".join(sorted(set(self.models) - {"ResourceData"})) or "none"
            raise InventoryError(f"{where}: unknown resource type {type_name!r}; known "
                                 f"types: {known}. Is its plugin in 'plugins:' of "
                                 f"rotest.yml or ROTEST_PLUGINS?")
        model = self.models[type_name]
        if default is not None and not issubclass(model, default):
            raise InventoryError(f"{where}: expected a {default.__name__}, "
                                 f"got type {type_name}")
        return model

    def _find(self, model: type[ResourceData], name: str,
              where: str) -> tuple[ResourceData, bool]:
        """The resource of that name, or a new (not yet added) one; True if new."""
        found = self._named(name)
        if found is None:
            return model(name=name), True
        if type(found) is not model:
            raise InventoryError(f"{where}: {name} already exists as a "
                                 f"{type(found).__name__}, not a {model.__name__}")
        return found, False

    def _named(self, name: str) -> ResourceData | None:
        if name not in self.looked_up:  # a name the batch's look-up did not foresee
            self.looked_up.add(name)
            self.known.update(self._existing([name]))
        return self.known.get(name)

    def _value(self, model: type[ResourceData], key: str, value: Any, where: str) -> Any:
        """What ``key`` of a ``model`` is set to for ``value`` of the file."""
        if key in RUNTIME_FIELDS:
            raise InventoryError(f"{where}: kept by the lock engine, not set by import")
        if key == "group":
            return self._group(value, where)
        if key in self.relations[model]:
            target = model.__mapper__.relationships[key].mapper.class_
            return self._sub_resource(value, target, where)
        if key in model.__mapper__.column_attrs and key != "type":
            return self._coerced(model, key, value, where)
        raise InventoryError(f"{where}: {model.__name__} has no such field; it has "
                             f"{', '.join(settable_fields(model))}")

    def _coerced(self, model: type[ResourceData], key: str, value: Any, where: str) -> Any:
        """``coerce_value``, remembered for values an inventory repeats (a
        comment, a port, a flag): most of a re-import's work otherwise."""
        memo = (model, key, type(value), value)
        try:
            return self.coerced[memo]
        except KeyError:
            pass
        except TypeError:  # a list or a mapping: not remembered (and refused anyway)
            memo = None
        try:
            coerced = coerce_value(model, key, value)
        except InvalidRequest as error:
            raise InventoryError(f"{where}: {error.message}") from None
        if memo is not None:
            if len(self.coerced) > 20_000:
                self.coerced.clear()
            self.coerced[memo] = coerced
        return coerced

    def _sub_resource(self, value: Any, target: type[ResourceData],
                      where: str) -> ResourceData | None:
        """A nested entry (created or updated), an existing resource's name, or null."""
        if value is None:
            return None
        if isinstance(value, dict):
            return self.upsert(value, target, where)
        if isinstance(value, str):
            found = self._named(value)
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
        group = self.groups.get(value)
        if group is None:
            group = self.groups[value] = Group(name=value)
            self.db.add(group)
            self.db.flush()  # its id, for comparing rows' group_id
        return group

    def _levels(self, created: list[ResourceData]) -> list[list[ResourceData]]:
        """The new rows by depth: first those made of no other new row, then
        those made of the first only, and so on."""
        new = {id(row) for row in created}
        depth: dict[int, int] = {}
        for row, _key, part in self.links:  # a part's own links come before its row's
            if part is not None and id(part) in new:
                depth[id(row)] = max(depth.get(id(row), 0), depth.get(id(part), 0) + 1)
        levels: list[list[ResourceData]] = []
        for row in created:
            level = depth.get(id(row), 0)
            levels += [[] for _ in range(level + 1 - len(levels))]
            levels[level].append(row)
        return levels

    def _assign_ids(self) -> list[ResourceData]:
        """Give the batch's new rows their ids, in the file's order (parts
        first), and return them: a row whose key is known is inserted without
        RETURNING, by one short statement repeated (executemany). With
        RETURNING, SQLite's rows go one statement each, and psycopg parses
        each thousand-row statement longer than PostgreSQL runs it."""
        new, self.created = self.created, []
        if not new:
            return new
        with self.db.no_autoflush:  # the rows wait for their ids
            if self.db.get_bind().dialect.name == "postgresql":
                ids = sorted(self.db.scalars(text(
                    "SELECT nextval(pg_get_serial_sequence('resource', 'id')) "
                    "FROM generate_series(1, :count)"), {"count": len(new)}))
            else:
                # The import holds SQLite's write lock (BEGIN IMMEDIATE) from
                # its first statement: no other writer can take these ids.
                last = self.db.scalar(select(func.max(ResourceData.id))) or 0
                ids = list(range(last + 1, last + 1 + len(new)))
        for row, id_ in zip(new, ids):
            row.id = id_
        return new

    # --- look-ups -------------------------------------------------------------

    def _names(self, batch: list[Item]) -> set[str]:
        """Every resource name the batch's entries mention: their own, their
        nested entries' and their references' (a guess: the string value of
        any key some model names a relation; extra names cost a wider IN)."""
        names: set[str] = set()
        stack = [item.value for item in batch]
        while stack:
            entry = stack.pop()
            if not isinstance(entry, dict):
                continue
            for key, value in entry.items():
                if isinstance(value, dict):
                    stack.append(value)
                elif isinstance(value, str) and (key == "name" or key in self.relation_names):
                    names.add(value)
        return names

    def _existing(self, names: Iterable[str]) -> dict[str, ResourceData]:
        """The resources of these names, with every subclass's columns loaded."""
        wanted = sorted(names)
        found: dict[str, ResourceData] = {}
        for start in range(0, len(wanted), NAMES_PER_SELECT):
            chunk = wanted[start:start + NAMES_PER_SELECT]
            statement = select(self.any_resource).where(self.any_resource.name.in_(chunk))
            found.update((row.name, row) for row in self.db.scalars(statement))
        return found


def settable_fields(model: type[ResourceData]) -> list[str]:
    """The keys an entry of ``model`` may have besides ``type`` and ``name``."""
    relations = sub_resource_fields(model)
    keys = {column.key for relationship in relations
            for column in _local_attributes(model, relationship)}
    columns = [c.key for c in model.__mapper__.column_attrs
               if c.key not in RUNTIME_FIELDS | {"type", "name"} | keys]
    return sorted([*columns, "group", *relations])


def _local_attributes(model: type[ResourceData], relationship: str) -> list[Any]:
    mapper = model.__mapper__
    return [mapper.get_property_by_column(column)
            for column in mapper.relationships[relationship].local_columns]


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:120]
