"""Writing report files so that a reader never sees half of one.

A report is written to a temporary file beside its target, then renamed over
it: a person opening the file mid-run, or a run that crashes while writing,
finds the previous complete version, never a torn one.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["report_path", "write_atomically"]


def report_path(configured: str | None, default: str, run_dir: Path | None) -> Path:
    """Where a report goes: ``configured`` (a relative path is taken from the
    run directory) or ``default`` in the run directory."""
    base = Path(run_dir) if run_dir is not None else Path.cwd()
    path = Path(configured).expanduser() if configured else Path(default)
    return path if path.is_absolute() else base / path


def write_atomically(path: Path, write: Callable[[Any], None]) -> None:
    """Call ``write(binary_file)`` on a temporary file, then move it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                         dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from CI readers
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
