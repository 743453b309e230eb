"""Exporting the inventory as an import file: streamed, a page of rows at a time.

Each resource becomes one entry with every field an import sets, and its
sub-resources by name; a sub-resource is always written before the resources
made of it, so the file imports as it is. Importing the output again changes
nothing: every entry counts as unchanged.
"""
from __future__ import annotations

import re
from typing import IO, Any, Callable, Iterator

import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, with_polymorphic

from ..models import Group, ResourceData, User, sub_resource_fields
from .database import open_engine
from .policy import check_inventory_rights

from .importer import RUNTIME_FIELDS, settable_fields

#: Rows read (and entries written) together.
PAGE = 1000
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

#: Called after each page with the entries written so far and the rows in all.
Progress = Callable[[int, int], None]


def export_file(database_url: str, out: IO[str], model: type[ResourceData] = ResourceData,
                *, progress: Progress | None = None) -> int:
    """Write the resources of ``model`` (all by default) to ``out`` as YAML;
    returns how many entries were written."""
    engine = open_engine(database_url)
    try:
        written = 0
        for chunk, written, total in export_chunks(engine, model,
                                                   count=progress is not None):
            out.write(chunk)
            if progress is not None:
                progress(written, max(total, written))
        return written
    finally:
        engine.dispose()


def export_chunks(engine: Engine, model: type[ResourceData] = ResourceData, *,
                  count: bool = False, user: User | None = None
                  ) -> Iterator[tuple[str, int, int]]:
    """The export of :func:`export_file`, a page at a time: (the page's YAML,
    entries written so far, rows in all, or 0 unless ``count``). ``user``,
    when given, must be an admin (an export shows every resource)."""
    if user is not None:
        check_inventory_rights(user, "export")
    with Session(engine) as db:
        exporter = Exporter(db, model)
        total = exporter.count() if count else 0
        written = 0
        for page in exporter.pages():
            written += len(page)
            yield "".join(map(to_yaml, page)), written, total


class Exporter:
    """Reads resources in id order and turns them into import entries."""

    def __init__(self, db: Session, model: type[ResourceData] = ResourceData) -> None:
        self.db = db
        self.rows = with_polymorphic(model, "*")
        self.any_resource = with_polymorphic(ResourceData, "*")
        self.groups = {id_: name for id_, name in db.execute(select(Group.id, Group.name))}
        #: Every row is read in id order, parts included.
        self.complete = model is ResourceData
        #: Ids written out of id order, as parts of the resources before them
        #: (in a complete export, only those past the cursor are kept).
        self.ahead: set[int] = set()

    def count(self) -> int:
        """How many rows :meth:`pages` reads (parts of other types aside)."""
        return self.db.scalar(select(func.count()).select_from(self.rows)) or 0

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """The entries, a page at a time (keyset paging: no OFFSET scans)."""
        after = 0
        while True:
            rows = list(self.db.scalars(select(self.rows).where(self.rows.id > after)
                                        .order_by(self.rows.id).limit(PAGE)))
            if not rows:
                return
            names = self._part_names(rows)
            page: list[dict[str, Any]] = []
            for row in rows:
                self._write(row, names, page, set())
            yield page
            after = rows[-1].id
            if self.complete:
                self.ahead = {id_ for id_ in self.ahead if id_ > after}
            self.db.expunge_all()  # the page is written: memory stays one page's

    def _write(self, row: ResourceData, names: dict[int, str],
               page: list[dict[str, Any]], path: set[int]) -> None:
        if row.id in self.ahead or row.id in path:
            return
        for part_id in self._part_ids(row):
            if (part_id > row.id or not self.complete) and part_id not in self.ahead:
                # A part made after its whole, or of a type not exported: written
                # first, for the import.
                part = self.db.scalar(select(self.any_resource)
                                      .where(self.any_resource.id == part_id))
                if part is not None:
                    self._write(part, {**names, **self._part_names([part])}, page,
                                path | {row.id})
                    self.ahead.add(part_id)
        page.append(entry(row, self.groups, names))

    def _part_ids(self, row: ResourceData) -> list[int]:
        return [id_ for id_ in (getattr(row, key) for key in _reference_keys(type(row)).values())
                if id_ is not None]

    def _part_names(self, rows: list[ResourceData]) -> dict[int, str]:
        """The names of the rows' sub-resources, in one statement."""
        ids = {id_ for row in rows for id_ in self._part_ids(row)}
        if not ids:
            return {}
        statement = select(ResourceData.id, ResourceData.name).where(ResourceData.id.in_(ids))
        return {id_: name for id_, name in self.db.execute(statement)}


def entry(row: ResourceData, groups: dict[int, str], names: dict[int, str]) -> dict[str, Any]:
    """The import entry that makes ``row`` as it is."""
    model = type(row)
    references = _reference_keys(model)
    data: dict[str, Any] = {"type": model.__name__, "name": row.name}
    for key in settable_fields(model):
        if key == "group":
            data[key] = groups.get(row.group_id) if row.group_id is not None else None
        elif key in references:
            part_id = getattr(row, references[key])
            data[key] = names.get(part_id) if part_id is not None else None
        elif key not in RUNTIME_FIELDS:
            data[key] = getattr(row, key)
    return data


def to_yaml(entry: dict[str, Any]) -> str:
    """One entry as a block mapping in a YAML list ("- key: value" lines).

    PyYAML's dumper builds a node per value and asks the resolver about each;
    an entry is flat, so its scalars are written here, plain when that reads
    back as the same string, else quoted, and by the dumper only when quotes
    cannot hold them (line breaks, control characters)."""
    lines = [f"{'-' if i == 0 else ' '} {_scalar(key)}: {_scalar(value)}\n"
             for i, (key, value) in enumerate(entry.items())]
    return "".join(lines)


#: Plain scalars that read back as strings: a letter first (so not a number,
#: a date or YAML syntax), then words of safe characters.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*(?: [A-Za-z0-9_./-]+)*")
#: ... except the words YAML 1.1 reads as booleans or null.
_NOT_PLAIN = frozenset(
    f"{word}" for base in ("yes", "no", "true", "false", "on", "off", "null")
    for word in (base, base.capitalize(), base.upper()))
#: What a single-quoted scalar holds as it is: printable, no line break.
_QUOTABLE = re.compile("[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe"
                       "\uff00-\ufffd\U00010000-\U0010ffff]*")


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value not in _NOT_PLAIN:
            return value
        if _QUOTABLE.fullmatch(value):
            return "'" + value.replace("'", "''") + "'"
    elif value is None:
        return "null"
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif isinstance(value, int):
        return str(value)
    # Floats, times, and text with line breaks: as PyYAML writes them, on one line.
    return yaml.dump(value, Dumper=Dumper, default_style='"' if isinstance(value, str)
                     else None, allow_unicode=True, width=1_000_000,
                     explicit_end=False).removesuffix("\n...\n").rstrip("\n")


def _reference_keys(model: type[ResourceData]) -> dict[str, str]:
    """Sub-resource relation -> the attribute holding its foreign key."""
    mapper = model.__mapper__
    return {relation: mapper.get_property_by_column(
                next(iter(mapper.relationships[relation].local_columns))).key
            for relation in sub_resource_fields(model)}
