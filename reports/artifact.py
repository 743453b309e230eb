"""The ``artifact`` handler: the run's work directory, zipped, kept aside.

At the end of the run the whole work directory (the tests' logs, stored
states, the other reports' files) goes into one zip in ``artifacts_dir``,
named after the run directory. With no ``artifacts_dir`` configured it goes
to ``<workdir>/artifacts``: asking for ``-o artifact`` is asking for an
artifact. The zip is written under a temporary name and renamed when
complete, so a reader never sees half of one. The path is set on the run's
main test as ``artifact_path`` before the run starts, so that the history
handler records it with the run.
"""
from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from rotest_core.result import AbstractResultHandler

__all__ = ["ArtifactHandler", "artifacts_dir", "zip_directory"]


def artifacts_dir(config: Any) -> Path:
    """Where artifacts go: ``artifacts_dir``, else ``<workdir>/artifacts``."""
    configured = getattr(config, "artifacts_dir", None)
    if configured:
        return Path(configured).expanduser()
    return Path(getattr(config, "workdir", None) or "~/.rotest").expanduser() / "artifacts"


def zip_directory(source: Path, target: Path) -> int:
    """Zip ``source`` (as a folder of its name inside the zip) into ``target``,
    atomically; returns how many files went in. Files that vanish or cannot
    be read meanwhile are left out; so is ``target``'s own folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    skip = target.parent.resolve()
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                       dir=target.parent)
    os.close(handle)
    count = 0
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for folder, folders, files in os.walk(source):
                if Path(folder).resolve() == skip:
                    folders[:] = []
                    continue
                for name in sorted(files):
                    path = Path(folder) / name
                    try:
                        archive.write(path, Path(source.name) / path.relative_to(source))
                    except OSError:  # a file that went away or cannot be read
                        continue
                    count += 1
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return count


class ArtifactHandler(AbstractResultHandler):
    """Zips the run's work directory into ``artifacts_dir`` at the end."""

    NAME = "artifact"
    #: After every other handler: the files they write at the end go in too.
    ORDER = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path: Path | None = None
        if self.work_dir is not None:
            self.path = _free_name(artifacts_dir(self.config), Path(self.work_dir).name)
            # Known before any handler starts (this one starts last), so history
            # may record it at the run's start or its end.
            if self.main_test is not None:
                self.main_test.artifact_path = str(self.path)

    def stop_test_run(self) -> None:
        if self.path is None or self.work_dir is None:
            return
        try:
            count = zip_directory(Path(self.work_dir), self.path)
        except OSError as error:
            print(f"rotest: artifact: could not write {self.path}: {error}; check "
                  f"'artifacts_dir' in rotest.yml (or ROTEST_ARTIFACTS_DIR)",
                  file=sys.stderr)
            return
        self.stream.write(f"Artifact: {self.path} ({count} file{'s' * (count != 1)})\n")
        self.stream.flush()


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name.zip``, or ``name-2.zip``... if that is taken."""
    candidate, number = folder / f"{name}.zip", 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{name}-{number}.zip"
    return candidate
