"""Finds and imports the user packages that add resource models.

A plugin is a Python package named in the config (``plugins:`` in rotest.yml
or ``ROTEST_PLUGINS``) or registered under the ``rotest.plugins`` entry point.
Importing it defines its ResourceData subclasses. A plugin package may also
define ``register_admin(admin)`` hooks through ``register_resource_to_admin``
and ship an Alembic version directory (``migrations/versions`` beside its
``__init__.py``, or the path in its ``ROTEST_MIGRATIONS`` attribute).
"""
from __future__ import annotations

import functools
import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

from . import entry_points

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "rotest.plugins"


class PluginError(ImportError):
    """A configured plugin could not be imported."""


def installed(group: str, **match: str) -> Any:
    """The entry points the installed distributions declare under ``group``
    (``name=`` narrows them): every plugin kind (resource models, result
    handlers, commands, CLI hooks) is found here, read once a process (see
    :mod:`.entry_points`)."""
    return _all_entry_points().select(group=group, **match)


@functools.cache
def _all_entry_points() -> Any:
    return entry_points.read()


def plugin_names(configured: Iterable[str] = ()) -> list[str]:
    """Configured names first, then those of installed entry points, no repeats."""
    names = list(dict.fromkeys(configured))
    for point in installed(ENTRY_POINT_GROUP):
        module = point.value.split(":")[0]
        if module not in names:
            names.append(module)
    return names


def load_plugins(configured: Iterable[str] = ()) -> dict[str, ModuleType]:
    """Import every plugin; a missing one is an error that says what to fix."""
    modules = {}
    for name in plugin_names(configured):
        try:
            modules[name] = importlib.import_module(name)
        except ImportError as error:
            raise PluginError(
                f"cannot import resource plugin {name!r}: {error}. Install the package, "
                f"or remove it from 'plugins:' in rotest.yml / ROTEST_PLUGINS.") from error
        log.debug("loaded resource plugin %s", name)
    return modules


def migrations_dir(module: ModuleType) -> Path:
    """Where a plugin keeps (or will keep) its Alembic versions."""
    explicit = getattr(module, "ROTEST_MIGRATIONS", None)
    if explicit:
        return Path(explicit)
    return Path(module.__file__).resolve().parent / "migrations" / "versions"
