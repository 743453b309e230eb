"""Package attributes imported when first used (PEP 562), so that importing
a package costs only what is used of it: a run of plain test cases need not
load flows, monitors, the resource manager or the lock clients."""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``exports``
    (name -> module, relative to ``package``) is imported on first use, then
    kept in the package like any other attribute."""
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)
        return value
    return __getattr__
