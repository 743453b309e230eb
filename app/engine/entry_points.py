"""The installed distributions' entry points, remembered between processes.

Every plugin kind (resource models, result handlers, commands, Rotest's CLI
hooks) is an entry point, so every ``rotest run`` needs them. Reading them
means importing :mod:`importlib.metadata` (about 20 ms: it brings ``email``,
``zipfile`` and ``csv``) and every distribution's metadata: more than the
rest of a short run's start-up. So what it answered is kept in the user's
cache folder with the files it came from, each ``entry_points.txt`` on
``sys.path`` with its size and time, and used while those are unchanged
(about half a millisecond to check). Installing, removing or reinstalling
a distribution with entry points changes them; anything unexpected (no
cache folder, a broken file) reads the metadata afresh.
"""
from __future__ import annotations

import contextlib
import importlib
import marshal
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

__all__ = ["EntryPoint", "EntryPoints", "read"]

#: The metadata folders whose ``entry_points.txt`` importlib.metadata reads.
METADATA_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class EntryPoint:
    """One entry point: ``value`` is ``module:attribute`` (or a module)."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        """What the entry point names, imported (as importlib.metadata does)."""
        module, _, attributes = self.value.partition(":")
        found = importlib.import_module(module.strip())
        for attribute in filter(None, attributes.split("[")[0].strip().split(".")):
            found = getattr(found, attribute)
        return found


class EntryPoints(tuple):
    """Entry points, narrowed with :meth:`select` as importlib.metadata's are."""

    def select(self, **match: str) -> "EntryPoints":
        return EntryPoints(point for point in self
                           if all(getattr(point, key) == value for key, value in match.items()))

    @property
    def names(self) -> set[str]:
        return {point.name for point in self}


def read() -> EntryPoints:
    """Every installed entry point: from the cache while its sources are
    unchanged, else from importlib.metadata (and the cache written anew)."""
    sources = _sources()
    cache = _cache_file()
    try:
        kept = marshal.loads(cache.read_bytes())
        if kept["sources"] == sources:
            return EntryPoints(EntryPoint(*point) for point in kept["points"])
    except (OSError, ValueError, EOFError, KeyError, TypeError):
        pass  # none yet, or not one we can use: read the metadata
    points = _from_metadata()
    _write(cache, {"sources": sources,
                   "points": [[p.name, p.value, p.group] for p in points]})
    return points


def _from_metadata() -> EntryPoints:
    # Lazy: the import this module saves when the cache holds.
    from importlib.metadata import entry_points
    found = entry_points()  # (before Python 3.12, a mapping by group: both select)
    return EntryPoints(EntryPoint(point.name, point.value, point.group)
                       for group in sorted(found.groups) for point in found.select(group=group))


def _sources() -> list[list[Any]]:
    """Each ``entry_points.txt`` importlib.metadata would read, with its size
    and modification time."""
    return [[path, stat.st_size, stat.st_mtime_ns] for path, stat in _entry_files(sys.path)]


def _entry_files(folders: Iterable[str]) -> Iterator[tuple[str, os.stat_result]]:
    for folder in folders:
        try:
            with os.scandir(folder or ".") as entries:
                names = sorted(entry.path for entry in entries
                               if entry.name.endswith(METADATA_SUFFIXES))
        except NotADirectoryError:  # a zip: its metadata changes with it
            yield folder, os.stat(folder)
            continue
        except OSError:  # a missing folder
            continue
        for name in names:
            path = os.path.join(name, "entry_points.txt")
            try:
                yield path, os.stat(path)
            except OSError:
                continue


def _cache_file() -> Path:
    """One file per interpreter (marshal's format is its own, and needs no
    module imported); a process with another search path rewrites it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = zlib.crc32(sys.executable.encode("utf-8", "replace"))
    return Path(base) / "rotest" / f"entry-points-{key:08x}.marshal"


def _write(path: Path, content: dict[str, Any]) -> None:
    """Write atomically; a cache that cannot be written is only slower."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(marshal.dumps(content))
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
