"""``rotest resources``: the lab's inventory from the command line.

``list`` and ``release`` go through a lock client, so they work in both modes:
embedded (the lock engine on the local database) and remote (the server's API,
with the configured token); ``list`` reads every page of the answer. ``import``
creates and updates resource rows, which the API has no call for (resources
are the admins' business), so it writes to a database directly: the embedded
one, or in remote mode the server's, when ``database_url``
(``ROTEST_DATABASE_URL``) names it; ``export`` reads the same database and
writes a file that ``import`` takes back unchanged (see :mod:`.importer`,
:mod:`.exporter`).

An import file is a YAML list of resources; a sub-resource is a nested entry
(its type defaults to the relation's) or the name of an existing resource::

    - type: CalculatorData
      name: calc1
      ip_address: 127.0.0.1
      sub_process: {type: SubProcessData, name: sub1}
"""
from __future__ import annotations

import itertools
import json
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import click
import yaml
from sqlalchemy.exc import DBAPIError

from rotest_app.engine.cli_base import CliError
from rotest_app.engine.settings import ConfigError
from rotest_app.engine.plugins import PluginError, load_plugins

from .config import RunConfig, load_config
from .resources import LockClientError, ResourceRequestError
from .store import StoreClient, client_for

__all__ = ["format_table", "resources"]

COLUMNS = (("name", "NAME"), ("type", "TYPE"), ("owner", "OWNER"),
           ("is_usable", "USABLE"), ("group", "GROUP"), ("comment", "COMMENT"))
MAX_COMMENT = 60


@click.group(name="resources")
def resources() -> None:
    """The lab's resources: list them, import and export them as YAML, release them."""


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
    except (ConfigError, PluginError, ResourceRequestError) as error:
        raise CliError(str(error), exit_code=2) from None
    except LockClientError as error:
        raise CliError(str(error)) from None
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0]
        raise CliError(f"database error: {reason}. Check database_url "
                       f"(ROTEST_DATABASE_URL); if tables are missing, run "
                       f"`rotest db upgrade`.") from None


@contextmanager
def _client() -> Iterator[StoreClient]:
    """The configured store client (embedded or remote); no lock session needed."""
    with _explained_errors():
        client = client_for(_config())
        try:
            yield client
        finally:
            client.close()


# --- list ---------------------------------------------------------------------

@resources.command("list")
@click.argument("type_name", metavar="[TYPE]", required=False, default="ResourceData")
@click.option("--json", "as_json", is_flag=True, help="Print the full records as JSON.")
@click.option("-f", "--filter", "filters", multiple=True, metavar="FIELD=VALUE",
              help="Only resources whose FIELD matches VALUE (a YAML scalar), with the "
                   "lock API's lookups: -f is_usable=false, -f name__startswith=calc. "
                   "Repeat to narrow.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Show the first N (in the order they were added); default: all.")
def list_resources(type_name: str, as_json: bool, filters: tuple[str, ...],
                   limit: int | None) -> None:
    """List resources of TYPE (a model name, e.g. CalculatorData); all by default."""
    lookups = _filters(filters)
    with _client() as client:
        found = client.iter_query(type_name, lookups)
        shown = itertools.islice(found, limit)  # pages are asked for as they are read
        if as_json:
            count = _echo_json(shown)
        else:
            table = format_table(shown)
            count = table.count("\n")
            click.echo(table if count else f"No resources of type {type_name}"
                       f"{' matching the filters' if lookups else ''}.")
        cut = limit is not None and count == limit and next(found, None) is not None
    if cut:
        click.echo(f"Showing the first {limit}; more match (raise --limit, or leave it "
                   f"out for all).", err=True)


def _filters(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``FIELD=VALUE`` options as lookups; values read as YAML scalars."""
    lookups: dict[str, Any] = {}
    for pair in pairs:
        field, sep, text = pair.partition("=")
        if not sep or not field.strip():
            raise CliError(f"bad --filter {pair!r}: write FIELD=VALUE, e.g. "
                           f"name__startswith=calc", exit_code=2)
        try:
            value = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError:
            value = text
        # A list or mapping only for lookups that take one (``__in``).
        lookups[field.strip()] = value if not isinstance(value, dict) else text
    return lookups


def _echo_json(rows: Iterable[dict[str, Any]]) -> int:
    """Print ``rows`` as one JSON list (as ``json.dumps(rows, indent=2)``
    would), a row at a time; returns how many."""
    count = 0
    for row in rows:
        text = json.dumps(row, indent=2, default=str).replace("\n", "\n  ")
        click.echo(("[\n  " if count == 0 else ",\n  ") + text, nl=False)
        count += 1
    click.echo("\n]" if count else "[]")
    return count


def format_table(rows: Iterable[dict[str, Any]]) -> str:
    """Resources as an aligned text table of :data:`COLUMNS` (a title line,
    then a line per resource)."""
    cells = [[title for _, title in COLUMNS]]
    # Each row's cells only: the rows themselves need not all stay in memory.
    cells += ([_cell(key, row.get(key)) for key, _ in COLUMNS] for row in rows)
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


# --- import and export -------------------------------------------------------

@resources.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-q", "--quiet", is_flag=True,
              help="Print only the counts, not each resource created or updated.")
def import_command(file: Path, quiet: bool) -> None:
    """Create or update resources from FILE (YAML), matched by name.

    All or none: a bad entry stops the import, names its line, and leaves the
    database as it was. Prints each resource created or updated (after the
    import is committed), then how many were created, updated and unchanged.
    """
    size = file.stat().st_size
    with _inventory_client() as client, _bar(f"Importing {file.name}") as advance:
        result = client.import_inventory(
            file, keep_changes=not quiet, progress=lambda done, _entries: advance(done, size))
    for action, type_name, name in result.changes:
        click.echo(f"{action} {type_name} {name}")
    click.echo(f"Imported {result.total} resource(s) from {file}: {result.created} "
               f"created, {result.updated} updated, {result.unchanged} unchanged.")


@resources.command("export")
@click.argument("type_name", metavar="[TYPE]", required=False, default="ResourceData")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file (default: standard output).")
def export_command(type_name: str, output: Path | None) -> None:
    """Write resources of TYPE (all by default) as an import file.

    Sub-resources come before the resources made of them, by name; importing
    the file again changes nothing.
    """
    with _inventory_client() as client:
        if output is None:
            written = client.export_inventory(sys.stdout, type_name)
        else:
            partial = output.with_name(output.name + ".partial")
            with partial.open("w", encoding="utf-8") as out, \
                    _bar(f"Exporting to {output.name}") as advance:
                written = client.export_inventory(out, type_name, progress=advance)
            partial.replace(output)  # a failed export leaves no half file behind
    if output is not None:
        click.echo(f"Exported {written} resource(s) to {output}.")


@contextmanager
def _bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on standard error when it is a terminal, else nothing;
    yields a function to call with the work done so far and the whole."""
    if not sys.stderr.isatty():
        yield lambda _done, _total: None
        return
    with ExitStack() as stack:
        bars: list[Any] = []

        def advance(done: int, total: int) -> None:
            if not bars:  # made on the first call, once the whole is known
                bars.append(stack.enter_context(click.progressbar(
                    length=max(total, 1), label=label, file=sys.stderr)))
            bars[0].update(done - bars[0].pos)
        yield advance


@contextmanager
def _inventory_client() -> Iterator[StoreClient]:
    """The client import and export use: the configured one, except that a
    ``database_url`` beside a ``host`` means the server's own database, which
    the engine then reads and writes directly (as the server would)."""
    config = _config()
    if config.embedded or not config.database_url:
        with _client() as client:
            yield client
        return
    with _explained_errors():
        from .store.embedded import EmbeddedClient  # lazy: the direct door only
        load_plugins(config.plugins)  # a team database is migrated by `rotest db upgrade`
        client = EmbeddedClient(config.database_url)
        try:
            yield client
        finally:
            client.close()
