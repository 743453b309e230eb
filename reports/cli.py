"""``rotest report`` and ``rotest history``: the reports and the history of
runs that did not end well, from their journals (see :mod:`rotest_reports.journal`)."""
from __future__ import annotations

import io
from pathlib import Path

import click

from rotest_core.cli import CliError, config_option

#: What ``rotest report merge`` writes by default (rotest_reports.merge.MERGED,
#: not imported here: the command line starts without the report modules).
MERGED_DEFAULT = ("junit", "excel", "html")


def _config(config_file: str | None = None):
    # Lazy: `rotest report`'s commands each need their own parts.
    from rotest_core.config import ConfigError, load_config
    try:
        return load_config(config_file)
    except ConfigError as error:
        raise CliError(f"bad configuration: {error}", exit_code=2) from None


@click.group()
def report() -> None:
    """The file reports of a run."""


@report.command("rebuild")
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--outputs", metavar="NAMES",
              help="Reports to write, of junit, excel, html. Default: those the run "
                   "asked for.")
@config_option
def rebuild(run_dirs: tuple[Path, ...], outputs: str | None) -> None:
    """Write the reports of each RUN_DIR (a run's work directory) from its
    journal, as the run would have at its end: after a kill -9, a CI timeout
    or a crash."""
    # Lazy: as above.
    from rotest_reports.journal import rebuild_reports
    config = _config()
    names = [name.strip() for name in (outputs or "").split(",") if name.strip()] or None
    for run_dir in run_dirs:
        try:
            written = rebuild_reports(run_dir, config, names)
        except (OSError, ValueError, KeyError) as error:
            raise CliError(f"cannot rebuild the reports of {run_dir}: {error}") from None
        for path in written:
            click.echo(f"wrote {path}")


@report.command("merge")
@click.argument("work_dirs", nargs=-1, required=True, metavar="WORKDIR...",
                type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", "out_dir", required=True, metavar="OUTDIR",
              type=click.Path(path_type=Path),
              help="A new or empty folder for the merged reports.")
@click.option("--outputs", metavar="NAMES", default=",".join(MERGED_DEFAULT),
              show_default=True, help="Reports to write, of junit, excel, html.")
@click.option("--name", metavar="NAME",
              help="The merged run's name. Default: the runs' names joined.")
def merge(work_dirs: tuple[Path, ...], out_dir: Path, outputs: str,
          name: str | None) -> None:
    """Write one JUnit file, one workbook and one HTML page for the runs in
    WORKDIR... (shards of one run, from this host or copied back from others):
    each a run's work directory, or a rotest work directory holding runs/."""
    # Lazy: the reports' modules load only for the command that needs them.
    from rotest_reports.merge import (MergeError, check_out_dir, merge_runs, read_runs,
                                      write_reports)
    names = [item.strip() for item in outputs.split(",") if item.strip()]
    try:
        check_out_dir(out_dir)
        shards = read_runs(work_dirs)
        run = merge_runs(shards, name=name, out_dir=out_dir)
        # The handlers say where they wrote on their stream; this command says it below.
        written = write_reports(run, out_dir, names, stream=io.StringIO())
    except MergeError as error:
        raise CliError(f"cannot merge: {error}", exit_code=2) from None
    counts = run.counts()
    click.echo(f"merged {len(shards)} run(s): {sum(counts.values())} tests, " + ", ".join(
        f"{count} {outcome}" for outcome, count in counts.items() if count)
        + f"; waited {run.lock_wait():.2f} s for locks in all")
    for path in written:
        click.echo(f"wrote {path}")


@click.group()
def history() -> None:
    """The run history kept in the embedded database or on the server."""


@history.command("push")
@click.argument("workdir", required=False, type=click.Path(file_okay=False, path_type=Path))
@config_option
def push_command(workdir: Path | None) -> None:
    """Send the history of runs that could not send it (the server was away,
    the run was killed), from WORKDIR (default: the configured workdir)."""
    # Lazy: as above.
    from rotest_core.outbox import push
    from rotest_core.store import client_for
    config = _config()
    if workdir is not None:
        config.workdir = str(workdir)
    try:
        store = client_for(config)
    except Exception as error:  # noqa: BLE001 - said plainly
        raise CliError(f"cannot reach the run history: {error}", exit_code=2) from None
    try:
        sent, left = push(config, store, say=lambda text: click.echo(text, err=True))
    finally:
        store.close()
    click.echo(f"sent {sent} run(s); {left} left")
    if left:
        raise click.exceptions.Exit(1)
