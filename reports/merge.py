"""``rotest report merge``: one set of reports for a run made of many runs.

A run split across hosts (shards, each a ``rotest run`` of part of the tests)
leaves one work directory per shard, each with its journal
(:mod:`rotest_reports.journal`: every test with its outcome, times, texts,
lock wait and place in the tree). :func:`read_runs` reads them,
:func:`merge_runs` makes one :class:`~rotest_reports.record.RunRecord` of
them (suites and flows met in several shards become one node; tests are
never merged: a test in two shards is an error, naming it), and
:func:`write_reports` has the file report handlers themselves (junit, excel,
html: found by name under ``rotest.result_handlers``) write it out, as they
do at the end of a run. Nothing here reads the HTML or XLSX files.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, TextIO

from .journal import (JOURNAL_NAME, Journal, NotAFileReport, read_journal, run_record,
                      write_file_reports)
from .record import RunRecord, TestRecord, worst

__all__ = ["MERGED", "MergeError", "Shard", "check_out_dir", "find_journals", "merge_runs",
           "read_runs", "write_reports"]

#: The reports merge writes by default, by handler name.
MERGED = ("junit", "excel", "html")
#: The journal format that records lock waits (rotest_reports.journal's
#: JOURNAL_FORMAT; older journals have no format number).
LOCK_WAIT_FORMAT = 2


class MergeError(ValueError):
    """Work directories that cannot be merged; the message says what to do."""


@dataclass
class Shard:
    """One run to merge: where its journal is, and what it says."""

    journal: Journal
    run: RunRecord

    @property
    def folder(self) -> Path:
        return self.journal.path.parent


# --------------------------------------------------------------------------
# Finding and reading the runs

def find_journals(folder: Path) -> list[Path]:
    """The journals in ``folder``: its own (a run's work directory), else
    those of the runs under it (a rotest work directory: ``runs/*/``; or a
    folder of run directories, as CI artifacts unpack). Raises MergeError
    when it holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MergeError(f"{folder} is not a folder; give each run's work directory "
                         f"(the folder with its {JOURNAL_NAME}) or a rotest work "
                         f"directory (with runs/ in it)")
    if (folder / JOURNAL_NAME).is_file():
        return [folder / JOURNAL_NAME]
    found = sorted(folder.glob(f"runs/*/{JOURNAL_NAME}")) + sorted(
        folder.glob(f"*/{JOURNAL_NAME}"))
    if found:
        return found
    reports = [name for name in ("junit.xml", "results.xlsx", "report.html")
               if (folder / name).is_file()]
    if reports:
        raise MergeError(f"{folder} holds reports ({', '.join(reports)}) but no "
                         f"{JOURNAL_NAME}: it was made by an older rotest, which kept no "
                         f"complete record of the results; run those tests again with "
                         f"this version to merge them")
    raise MergeError(f"{folder} is not a run's work directory: it has no {JOURNAL_NAME} "
                     f"(nor runs/*/{JOURNAL_NAME}); give the folders `rotest run` made "
                     f"(its work directory, or <workdir>/runs/<run>). A run keeps its "
                     f"journal with a file report (-o junit, excel, html), --shard, "
                     f"--run-id or -o journal; one on the console alone keeps none")


def read_runs(folders: Iterable[Path], *, warn: TextIO | None = None) -> list[Shard]:
    """The runs in ``folders`` (see :func:`find_journals`), each read from its
    journal. The same journal twice, or one run's journal copied twice, is a
    MergeError; a run that did not finish (killed) is merged with a warning."""
    warn = warn if warn is not None else sys.stderr
    shards: list[Shard] = []
    seen: dict[Path, Path] = {}
    uids: dict[str, Path] = {}
    for folder in folders:
        for path in find_journals(Path(folder)):
            resolved = path.resolve()
            if resolved in seen:
                raise MergeError(f"{path.parent} is given twice (as {seen[resolved].parent}"
                                 f" too); give each run once")
            seen[resolved] = path
            try:
                journal = read_journal(path)
            except (OSError, ValueError, KeyError) as error:
                raise MergeError(f"cannot read the journal {path}: {error}") from None
            uid = journal.run.get("uid")
            if uid and uid in uids:
                raise MergeError(f"{uids[uid].parent} and {path.parent} are the same run "
                                 f"(journal uid {uid}), copied twice; give it once")
            if uid:
                uids[uid] = path
            if journal.local.get("format", 1) < LOCK_WAIT_FORMAT:
                print(f"rotest: {path.parent} was made by an older rotest: its tests' "
                      f"lock waits are unknown", file=warn)
            if journal.finish is None:
                print(f"rotest: {path.parent} did not finish (killed?): the tests it "
                      f"ended are merged", file=warn)
            shards.append(Shard(journal, run_record(journal)))
    if not shards:
        raise MergeError("no work directories given")
    return shards


# --------------------------------------------------------------------------
# Merging

def merge_runs(shards: list[Shard], name: str | None = None,
               out_dir: Path | None = None) -> RunRecord:
    """One run of ``shards``: their trees merged by path, their times
    spanning them all, their environments and settings side by side.

    A test (a case, a block) found in two shards is a MergeError naming it
    and both: the same shard given twice, or shards that overlap. An error
    outside any test (``setUpClass``) met in several shards is one error
    (each shard that ran tests of that class met it).
    """
    runs = [shard.run for shard in shards]
    names = list(dict.fromkeys(run.name for run in runs))
    root = TestRecord(name=name or " + ".join(names), kind="suite",
                      classname=runs[0].root.classname)
    ends = [_end(run) for run in runs]
    merged = RunRecord(name=root.name, root=root, start=min(run.start for run in runs),
                       end=max((end for end in ends if end is not None), default=None),
                       run_dir=out_dir, environment=_side_by_side(
                           [run.environment for run in runs]),
                       settings=_side_by_side([run.settings for run in runs]))
    merged.settings["merged_from"] = ", ".join(str(shard.folder) for shard in shards)
    root.start, root.end = merged.start, merged.end
    expected = _expected_counts(runs)  # before the grafts move the records
    owners: dict[str, Path] = {}
    for shard in shards:
        _graft(root, shard.run.root, shard.folder, owners)
    _order(root)
    if merged.counts() != expected:  # a bug here, never the user's input
        raise AssertionError(f"merged counts {merged.counts()} != the runs' {expected}")
    return merged


def _end(run: RunRecord) -> datetime | None:
    """When a run ended: its finish, else (killed) its last test's end."""
    if run.end is not None:
        return run.end
    return max((record.end for record in run.root.walk() if record.end is not None),
               default=None)


def _side_by_side(mappings: list[dict[str, str]]) -> dict[str, str]:
    """Each key's distinct values, in order, joined with ``, ``."""
    merged: dict[str, list[str]] = {}
    for mapping in mappings:
        for key, value in mapping.items():
            values = merged.setdefault(key, [])
            if value not in values:
                values.append(value)
    return {key: ", ".join(values) for key, values in merged.items()}


def _graft(into: TestRecord, source: TestRecord, folder: Path,
           owners: dict[str, Path]) -> None:
    """Move ``source``'s children under ``into``: composites (and errors
    outside tests) of a path already there are merged into it; a test whose
    path is there already is a MergeError."""
    existing = {child.path: child for child in into.children}
    for child in list(source.children):
        path = child.path
        twin = existing.get(path)
        if twin is None:
            child.parent = into
            into.children.append(child)
            existing[path] = child
            for record in child.walk():
                if not record.is_composite:
                    owners.setdefault(record.path, folder)
            continue
        if child.is_composite and twin.is_composite:
            _merge_composite(twin, child)
            _graft(twin, child, folder, owners)
        elif child.kind == "error" and twin.kind == "error":
            for detail in child.details:
                if detail not in twin.details:
                    twin.details.append(detail)
        else:
            raise MergeError(f"the test {path!r} is in two runs: {owners.get(path, '?')} "
                             f"and {folder}; each test must be in one run (the same "
                             f"shard given twice, or shards that overlap)")


def _merge_composite(into: TestRecord, other: TestRecord) -> None:
    starts = [moment for moment in (into.start, other.start) if moment is not None]
    ends = [moment for moment in (into.end, other.end) if moment is not None]
    into.start, into.end = min(starts, default=None), max(ends, default=None)
    into.own_outcome = worst(into.own_outcome, other.own_outcome)
    into.details += [detail for detail in other.details if detail not in into.details]
    into.infos += [info for info in other.infos if info not in into.infos]
    if other.note and other.note not in into.note:
        into.note = "; ".join(note for note in (into.note, other.note) if note)
    waits = [wait for wait in (into.lock_wait, other.lock_wait) if wait is not None]
    into.lock_wait = sum(waits) if waits else None
    setups = [time for time in (into.setup_time, other.setup_time) if time is not None]
    into.setup_time = sum(setups) if setups else None


def _order(record: TestRecord) -> None:
    """Each composite's children in the order they started (the shards ran
    side by side); those that never started last, in their order."""
    record.children.sort(key=lambda child: (child.start is None,
                                            child.start.timestamp() if child.start else 0))
    for child in record.children:
        if child.is_composite:
            _order(child)


def _expected_counts(runs: list[RunRecord]) -> dict[str, int]:
    """What the merged run must count: the runs' counts summed, an error
    outside tests met in several runs once. Nothing lost, nothing twice."""
    expected = dict.fromkeys(runs[0].counts(), 0)
    errors: set[str] = set()
    for run in runs:
        for record in run.tests():
            if record.outcome is None:
                continue
            if record.kind == "error":
                if record.path in errors:
                    continue
                errors.add(record.path)
            expected[record.outcome] += 1
    return expected


# --------------------------------------------------------------------------
# Writing

def write_reports(run: RunRecord, out_dir: Path, names: Iterable[str] = MERGED, *,
                  stream: TextIO | None = None) -> list[Path]:
    """Have the file report handlers ``names`` write the merged ``run`` into
    ``out_dir``, under their default file names (the configured paths are the
    shards' business); returns the files written."""
    try:
        return write_file_reports(run, out_dir, names, stream=stream)
    except NotAFileReport as error:
        raise MergeError(str(error)) from None


def check_out_dir(out_dir: Path) -> None:
    """OUTDIR may be new or empty: merge never writes over files."""
    if out_dir.exists() and not out_dir.is_dir():
        raise MergeError(f"{out_dir} exists and is not a folder; give a new folder with -o")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise MergeError(f"{out_dir} exists and holds files; give a new or empty folder "
                         f"with -o (merge does not write over reports)")
