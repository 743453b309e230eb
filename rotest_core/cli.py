"""The ``rotest`` console script; ``python -m rotest_core.cli`` runs it too.

``rotest run`` runs tests with Rotest's options, ``rotest resources`` keeps
the lab's inventory and ``rotest shell`` locks resources and runs tests
interactively; the server's commands (db, users, tokens, server) come
from :mod:`rotest_app.cli`.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import click

from rotest_app.engine.cli_base import CliError, config_option
from rotest_app.engine.settings import RUN_GROUP, ConfigError
from rotest_app.engine.plugins import PluginError, installed

from .resources.errors import LockClientError
from .config import RUN_CONFIG_OPTIONS, load_config, read_run_config
from .version import version

# A command's process ends with it: its last garbage collection need not walk
# the test tree and everything else still alive (15 ms after 5,000 tests).
atexit.register(gc.freeze)

#: The entry point group of ``rotest``'s other commands (see setup.py).
COMMANDS_GROUP = "rotest.commands"


class LazyGroup(click.Group):
    """``rotest``'s group: besides its own commands, those registered under the
    ``rotest.commands`` entry point (the inventory's, the reports', the
    server's, a third party's), each imported when first used: ``rotest run``
    need not import what ``rotest resources`` does (SQLAlchemy, the engine)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_command_points().names})

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        # Rotest's form, ``rotest PATH... [OPTIONS]``: a first argument that
        # names no command but an existing file or folder is a path of ``run``.
        if (args and not args[0].startswith("-") and args[0] not in self.commands
                and Path(args[0]).exists() and args[0] not in self.list_commands(ctx)):
            return "run", self.get_command(ctx, "run"), args
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            for point in _command_points(name=cmd_name):
                self.add_command(point.load(), cmd_name)
        command = super().get_command(ctx, cmd_name)
        if cmd_name == "run" and command is not None and not ctx.resilient_parsing:
            with_plugin_options(command)
        return command


def _command_points(**match: str) -> Any:
    return installed(COMMANDS_GROUP, **match)


def _print_version(ctx: click.Context, wanted: bool) -> None:
    if wanted and not ctx.resilient_parsing:
        click.echo(f"rotest, version {version()}")
        ctx.exit()


@click.group(name="rotest", cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=lambda ctx, _param, value: _print_version(ctx, value),
              help="Show the version and exit.")
@config_option
def main() -> None:
    """Rotest: lock lab resources, run resource-oriented tests, report on them.

    ``rotest PATH... [OPTIONS]`` (Rotest's form) is ``rotest run PATH... [OPTIONS]``.
    """



def __getattr__(name: str) -> Any:
    # ``from rotest_core.cli import resources`` still works, importing it then.
    if name == "resources":
        # Lazy: the inventory's command brings YAML and the store's client.
        from .inventory import resources
        return resources
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------
# rotest run

RUN_OPTIONS = (
    click.option("-c", "--config", "run_config", type=click.Path(exists=True, dir_okay=False),
                 help="Rotest's run configuration: a JSON object (YAML for .yml) that is "
                      "self.config of every test, block, flow and resource adapter. Its "
                      "keys filter, run_name, processes, delta_iterations, failfast, "
                      "debug, skip_init, save_state, resources, list and order are "
                      "defaults of those options; keys naming settings override them."),
    click.option("--settings", "config_file", type=click.Path(exists=True, dir_okay=False),
                 help="Settings file (what -c named before it took Rotest's meaning). "
                      "Default: $ROTEST_CONFIG, else the first rotest.yml upward from here."),
    click.option("-s", "--save-state", is_flag=True,
                 help="When a test fails, have its resources store their state in its "
                      "work directory."),
    click.option("-d", "--delta", type=click.IntRange(min=1), metavar="N",
                 help="Run only the tests that did not pass in the previous run of the "
                      "same name (-n; default name: AllTests), each up to N times while "
                      "it fails. The run is recorded in the history (-o history)."),
    click.option("--delta-of", "delta_of", metavar="RUN_ID",
                 help="With --delta (default 1): start from the runs of this --run-id, all "
                      "its shards, rather than the newest run of the name."),
    click.option("--shard", "shard_text", metavar="K/N",
                 help="Run only shard K of N (K from 1 to N): the N shards of the same "
                      "tests are disjoint and hold them all; fixtures, flows and shared "
                      "testresources stay in one shard. With --run-id they balance by "
                      "past durations, else by test count."),
    click.option("--run-id", "run_group", metavar="ID", envvar="ROTEST_RUN_ID",
                 help="The id the shards of one run share (e.g. $BUILD_TAG; default "
                      "$ROTEST_RUN_ID): the history shows them as one run, the first "
                      "shard stores the split the others follow, and --delta reads them "
                      "all."),
    click.option("-p", "--processes", type=click.IntRange(min=1), metavar="N",
                 help="Run the tests in N worker processes, each with its own lock "
                      "session; a test's TIMEOUT is enforced."),
    click.option("-o", "--outputs", metavar="NAMES",
                 help="Comma-separated report handlers. Default: 'outputs' of the "
                      "settings (tree)."),
    click.option("-f", "--filter", "filter_text", metavar="EXPR",
                 help="Run the tests whose tags, class or method names match, e.g. "
                      "'smoke and not slow'."),
    click.option("-O", "--order", metavar="EXPRS",
                 help="Run the matching tests first: filter expressions (as -f takes), "
                      "comma-separated, in priority order, e.g. 'smoke, calc and not "
                      "slow'. Tests move only inside their suite."),
    click.option("--keep-order", is_flag=True,
                 help="Run the tests in the declared order (and -O's): do not reorder "
                      "them to share resources (set-ups) between neighbours."),
    click.option("-n", "--name", "run_name", help="A name for the run and its work directory."),
    click.option("-l", "--list", "list_only", is_flag=True,
                 help="Print the tests with their tags; run nothing."),
    click.option("-F", "--failfast", is_flag=True, help="Stop after the first failure or error."),
    click.option("-D", "--debug", is_flag=True,
                 help="Open the debugger (pdb) on every failure and error."),
    click.option("-S", "--skip-init", is_flag=True,
                 help="Connect to the resources but skip their validation and initialization."),
    click.option("-r", "--resources", "resources_text", metavar="SPEC",
                 help="Choose resources: 'calc=calc2' (by name), "
                      "'calc.group.name=QA' (by field); comma-separated."),
)


def run_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Rotest's run options, for ``rotest run`` and :func:`rotest_core.main`."""
    for option in reversed(RUN_OPTIONS):
        function = option(function)
    return function


@main.command("run")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@run_options
def run_command(paths: tuple[str, ...], **options: Any) -> None:
    """Run the tests in PATHS: files, or directories searched for test*.py
    and *_test.py (default: the current directory). ``rotest PATH...`` is
    ``rotest run PATH...`` (Rotest's form).

    \b
    Exit status: 0 every test passed (or was skipped), 1 some failed,
    2 bad options, settings or test files, 5 no tests, 130 interrupted.
    """
    execute(functools.partial(_discover, paths or (".",)), **options)


# --------------------------------------------------------------------------
# Rotest's CLI plugins: entry points that add options and act before the run

#: ``hook(parser)``: adds options to ``rotest run`` (see :class:`PluginParser`).
PARSER_HOOKS = "rotest.cli_client_parsers"
#: ``hook(tests, config)``: called with the test classes and the run's
#: config (the plugins' options among its attributes) before the run.
ACTION_HOOKS = "rotest.cli_client_actions"


class PluginParser:
    """What a parser hook gets: add click options to ``rotest run``, with
    click's arguments (``add_option("--baz", is_flag=True)``) or with
    argparse's common ones, as Rotest's hooks call them
    (``add_argument("--baz", action="store_true", help=...)``). The values
    are attributes of the run's config (``config.baz``)."""

    def __init__(self, command: click.Command) -> None:
        self.command = command
        self.names: list[str] = []

    def add_option(self, *param_decls: str, **attrs: Any) -> click.Option:
        option = click.Option(list(param_decls), **attrs)
        if option.name in {p.name for p in self.command.params}:
            raise CliError(f"a CLI plugin adds option {option.name!r}, which rotest run "
                           f"already has", exit_code=2)
        self.command.params.append(option)
        self.names.append(option.name)
        return option

    def add_argument(self, *flags: str, action: str = "store", dest: str | None = None,
                     default: Any = None, type: Any = None, help: str | None = None,
                     **unsupported: Any) -> click.Option:
        if unsupported or action not in ("store", "store_true", "store_false"):
            raise CliError(f"a CLI plugin's add_argument{flags} uses "
                           f"{', '.join(unsupported) or 'action=' + action}: write it "
                           f"with add_option and click's arguments", exit_code=2)
        decls = [*flags, dest] if dest else list(flags)
        if action == "store":
            return self.add_option(*decls, default=default, type=type, help=help)
        return self.add_option(*decls, is_flag=True, default=action == "store_false"
                               if default is None else default, help=help)


def _hooks(group: str) -> list[Callable[..., Any]]:
    """The functions the installed distributions declare under ``group``."""
    hooks = []
    for entry in sorted(installed(group), key=lambda entry: entry.name):
        try:
            hooks.append(entry.load())
        except Exception as error:  # noqa: BLE001 - any error of the plugin's import
            raise CliError(f"CLI plugin {entry.name!r} ({entry.value}, {group}) cannot be "
                           f"loaded: {type(error).__name__}: {error}", exit_code=2) from None
    return hooks


def with_plugin_options(command: click.Command) -> click.Command:
    """``command`` with the options of the parser hooks (added once)."""
    if not hasattr(command, "plugin_options"):
        parser = PluginParser(command)
        for hook in _hooks(PARSER_HOOKS):
            hook(parser)
        command.plugin_options = parser.names  # type: ignore[attr-defined]
    return command


def _plugin_values(options: dict[str, Any]) -> dict[str, Any]:
    """Take the plugins' options out of ``options``."""
    command = click.get_current_context().command
    return {name: options.pop(name) for name in getattr(command, "plugin_options", ())
            if name in options}


def _discover(paths: Sequence[str], config: Any) -> list[type]:
    # Lazy: the runtime only for `rotest run` (see _execute).
    from .discover import discover
    found = discover(paths, config.discoverer_blacklist)
    for error in found.errors:
        click.echo(f"Error: {error}", err=True)
    if found.errors:
        raise click.exceptions.Exit(2)
    return found.tests


def execute(find_tests: Callable[[Any], list[type]], *, config_file: str | None,
            run_config: str | None = None, **options: Any) -> None:
    """What ``rotest run`` does once its options are read: exits with the
    run's status. A run configuration (``-c``) gives the options it names
    their defaults."""
    plugin_values = _plugin_values(options)
    document: dict[str, Any] = {}
    if run_config is not None:
        try:
            document = read_run_config(run_config)
        except ConfigError as error:
            raise CliError(f"bad run configuration: {error}", exit_code=2) from None
        options = with_run_config(options, document)
    options["processes"] = options["processes"] or 1
    # The plugins' options, given or not, are attributes of the config.
    document = {**document, **{name: value for name, value in plugin_values.items()
                               if value is not None or name not in document}}
    _execute(find_tests, config_file=config_file, run_config=document, **options)


def with_run_config(options: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """``options`` with those not given on the command line taken from the
    run configuration ``document``."""
    merged = dict(options)
    for key, (parameter, _) in RUN_CONFIG_OPTIONS.items():
        if key in document and merged.get(parameter) in (None, False):
            merged[parameter] = document[key]
    return merged


def _execute(find_tests: Callable[[Any], list[type]], *, config_file: str | None,
             run_config: dict[str, Any],
             save_state: bool, delta: int | None, processes: int, outputs: str | None,
             filter_text: str | None, order: str | None, keep_order: bool,
             run_name: str | None,
             list_only: bool, failfast: bool, debug: bool, skip_init: bool,
             resources_text: str | None, shard_text: str | None = None,
             run_group: str | None = None, delta_of: str | None = None) -> None:
    # Lazy, here and below: the runtime only for `rotest run`; the other
    # commands (resources, db, report...) start without it.
    from .delta import DeltaError
    from .result import HandlerNotAvailable, printable
    from .shard import ShardError
    from .suite import SuiteDefinitionError
    from .runner import (RunOptions, arrange_tree, build_tree, format_tree,
                         parse_resource_overrides, run, select)
    shard, run_group = _shard_options(shard_text, run_group, delta_of)
    if delta_of is not None and delta is None:
        delta = 1  # --delta-of names the base of a --delta run
    if shard is not None and delta is not None and run_group is None and delta_of is None:
        raise CliError(SHARDED_DELTA_NEEDS_RUN_ID, exit_code=2)
    if processes > 1 and (debug or delta is not None):
        # Lazy: the runtime only for `rotest run` (see _execute).
        from .runner import DEBUG_NEEDS_ONE_PROCESS, DELTA_NEEDS_ONE_PROCESS
        raise CliError(DEBUG_NEEDS_ONE_PROCESS if debug else DELTA_NEEDS_ONE_PROCESS,
                       exit_code=2)
    try:
        expression = None
        if filter_text is not None:
            # Lazy: the runtime only for `rotest run` (see _execute).
            from .filters import parse_filter
            expression = parse_filter(filter_text)
        overrides = parse_resource_overrides(resources_text)
    except ValueError as error:  # FilterSyntaxError or a bad -r: the message shows it
        raise CliError(str(error), exit_code=2) from None
    try:
        priorities = None
        if order is not None:
            # Lazy: the runtime only for `rotest run` (see _execute).
            from .arrange import parse_order
            priorities = parse_order(order)
    except ValueError as error:
        raise CliError(f"bad -O/--order: {error}", exit_code=2) from None
    try:
        config = load_config(config_file, run_config=run_config)
        tests = find_tests(config)
        for hook in _hooks(ACTION_HOOKS):
            hook(tests, config)
        if list_only:
            root = build_tree(tests, run_name, config)
            if expression is not None:
                select(root, expression)
            options = RunOptions(order=priorities, optimise=not keep_order)
            summary = _list_shard(root, config, shard, run_group) if shard else None
            arrange_tree(root, options)  # -l shows the order the run would take
            click.echo(printable(format_tree(root), click.get_text_stream("stdout")))
            if summary is not None:
                click.echo(summary)
            return
        with sigterm_as_ctrl_c() as terminated:
            report = run(tests, config, RunOptions(
                name=run_name, outputs=_names(outputs), filter=expression,
                failfast=failfast, debug=debug, skip_init=skip_init,
                save_state=save_state, resources=overrides, order=priorities,
                optimise=not keep_order, delta=delta, processes=processes,
                shard=shard, run_group=run_group, delta_of=delta_of))
    except ConfigError as error:
        raise CliError(f"bad configuration: {error}", exit_code=2) from None
    except (HandlerNotAvailable, SuiteDefinitionError, PluginError) as error:
        raise CliError(str(error), exit_code=2) from None
    except LockClientError as error:  # e.g. the lock server cannot be reached
        raise CliError(f"cannot lock resources: {error}", exit_code=2) from None
    except (DeltaError, ShardError) as error:
        raise CliError(str(error), exit_code=2) from None
    if terminated:
        click.echo("rotest: stopped by SIGTERM, as by Ctrl-C: resources released, "
                   "reports written", err=True)
    click.get_current_context().exit(EXIT_TERMINATED if terminated else report.exit_code)


def _shard_options(shard_text: str | None, run_group: str | None,
                   delta_of: str | None) -> tuple[Any, str | None]:
    """``--shard`` parsed, and ``--run-id`` checked (an empty one is none);
    raises CliError saying what to give."""
    # Lazy: the runtime only for `rotest run` (see _execute).
    from .shard import ShardError, parse_shard
    shard = None
    try:
        shard = parse_shard(shard_text) if shard_text is not None else None
    except ShardError as error:
        raise CliError(str(error), exit_code=2) from None
    run_group = run_group or None
    for flag, value in (("--run-id", run_group), ("--delta-of", delta_of)):
        if value is None:
            continue
        if not re.fullmatch(RUN_GROUP, value):
            raise CliError(f"bad {flag} {value!r}: give 1 to 255 printable characters "
                           f"with no spaces at either end, e.g. $BUILD_TAG", exit_code=2)
    return shard, run_group


def _list_shard(root: Any, config: Any, shard: Any, run_group: str | None) -> str:
    """``-l --shard K/N``: keep shard K's tests in ``root``; returns every
    shard's expected time (nothing is stored: a listing writes nothing)."""
    # Lazy: the runtime only for `rotest run` (see _execute).
    from .shard import ShardError
    from .shard_plan import apply_shard, plan_split
    try:
        found = plan_split(root, config, shard, run_group, store_plan=False)
    except ShardError:
        raise
    except Exception as error:  # noqa: BLE001 - -l still lists, by test count
        click.echo(f"rotest: the run history cannot be read ({type(error).__name__}: "
                   f"{error}): listing the split by test count", err=True)
        found = plan_split(root, config, shard, None, say=lambda text: None)
        found.source = "by test count: the run history cannot be read"
    apply_shard(root, found)
    return found.summary()


SHARDED_DELTA_NEEDS_RUN_ID = (
    "--delta with --shard needs --run-id (or --delta-of): without one, a shard of "
    "this run that finished first would be the newest run, and a later shard would "
    "start from it and split other tests; give every shard of the retry one "
    "--run-id, e.g. --run-id \"$BUILD_TAG\"")


#: The exit code of a run stopped by SIGTERM, as a shell reports it.
EXIT_TERMINATED = 128 + 15


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[list[bool]]:
    """SIGTERM (a CI's timeout, ``kill``) stops the run as Ctrl-C does:
    the tests stop, resources are released and every report is written.
    Yields a list that is true once SIGTERM came."""
    terminated: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield terminated
        return

    def terminate(_signum: int, frame: Any) -> None:
        terminated.append(True)
        ctrl_c = signal.getsignal(signal.SIGINT)  # the default, or -p's counter
        if callable(ctrl_c):
            ctrl_c(signal.SIGINT, frame)
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield terminated
    finally:
        signal.signal(signal.SIGTERM, previous)


def _names(text: str | None) -> list[str] | None:
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    return names or None


# --------------------------------------------------------------------------
# rotest_core.main(): a test file that runs itself

def run_module(module_name: str, tests: Sequence[type] = (),
               argv: Sequence[str] | None = None) -> None:
    """Run ``tests``, or the test classes of the module ``module_name``, with
    ``rotest run``'s options read from ``argv`` (default: sys.argv); exits."""
    # Lazy: the runtime only for `rotest run` (see _execute).
    from .discover import module_tests
    chosen = list(tests) or module_tests(sys.modules[module_name])

    @click.command(context_settings={"help_option_names": ["-h", "--help"]})
    @run_options
    def command(**options: Any) -> None:
        """Run the tests of this file."""
        execute(lambda _config: chosen, **options)

    with_plugin_options(command)

    command.main(args=list(argv) if argv is not None else sys.argv[1:],
                 prog_name=Path(sys.argv[0]).name)


if __name__ == "__main__":
    main()
