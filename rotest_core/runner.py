"""The runner: one run of a tree of tests over one resource manager.

::

    report = run([CalculatorCase, NightlySuite], load_config(), RunOptions(failfast=True))
    sys.exit(report.exit_code)

The run gets a work directory, ``<workdir>/runs/<timestamp>[-<name>]``, with
one directory per suite and test inside. Whatever happens (failures, errors
in setUp or tearDown, Ctrl-C) every resource is released before the run
reports its end, and the lock session is closed.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence, TextIO

from .case import RunContext, new_run_dir
from .config import RunConfig, load_config
from .result import AbstractResultHandler, Result, describe, handler_class
from .suite import SuiteDefinitionError, TestSuite, iter_cases

if TYPE_CHECKING:
    from .filters import Expression
    from .shard import Shard

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_NO_TESTS", "EXIT_OK", "EXIT_USAGE",
           "RunOptions", "RunReport", "build_tree", "filter_names", "format_tree",
           "arrange_tree", "parse_resource_overrides", "run", "select"]

EXIT_OK = 0            # every test passed (skips count as passes)
EXIT_FAILED = 1        # a test failed or errored
EXIT_USAGE = 2         # bad options, configuration or test files
EXIT_NO_TESTS = 5      # nothing to run, as pytest and unittest say
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


@dataclass
class RunOptions:
    """How to run: the options of ``rotest run``."""

    name: str | None = None
    #: Handler names (or classes); None: the configured ones.
    outputs: Sequence[str | type[AbstractResultHandler]] | None = None
    filter: str | Expression | None = None
    failfast: bool = False
    debug: bool = False
    skip_init: bool = False
    save_state: bool = False
    #: Filters replacing those of the requests of that name (``-r``).
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ``-O``: filter expressions in priority order (text: comma-separated);
    #: matching tests run first, inside each suite.
    order: str | Sequence[Expression] | None = None
    #: Reorder tests to share resources (off with ``--keep-order``).
    optimise: bool = True
    #: ``--delta N``: run only what did not pass in the previous run of this
    #: name, each test up to N times while it fails (see :mod:`.delta`).
    delta: int | None = None
    #: Worker processes (``-p``); 1 runs in this process.
    processes: int = 1
    #: ``--shard K/N``: run only shard K of N (see :mod:`rotest_core.shard`).
    shard: Shard | None = None
    #: ``--run-id``: the id the shards of one run share in the history.
    run_group: str | None = None
    #: ``--delta-of``: the run id whose shards ``--delta`` starts from.
    delta_of: str | None = None


@dataclass
class RunReport:
    """How a run went."""

    exit_code: int
    main_test: TestSuite | None = None
    result: Result | None = None
    run_dir: Path | None = None
    interrupted: bool = False
    #: Resources made, reset and cleaned, by action ("make", "reset", "clean").
    resource_counts: Mapping[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------
# The tree

def build_tree(tests: Iterable[type], name: str | None = None,
               config: RunConfig | None = None) -> TestSuite:
    """One suite (named after the run) holding the given case and suite
    classes; with the run's ``config``, resource adapters choose their classes."""
    root_class = type(name or "AllTests", (TestSuite,),
                      {"components": list(tests), "__module__": __name__})
    root = root_class()
    if config is not None:
        for request in _class_requests(root):
            try:
                request.adapt(config)
            except Exception as error:  # noqa: BLE001 - the user's get_type: say which
                raise SuiteDefinitionError(
                    f"resource adapter {request.name!r} ({type(request).__name__}) "
                    f"failed: {type(error).__name__}: {error}") from error
    return root


def filter_names(case: Any) -> list[str]:
    """What a filter word may match: the case's tags, class and method names,
    and the tags and names of the suites around it."""
    names = [*getattr(case, "TAGS", ()), type(case).__name__, case._testMethodName]
    node = getattr(case, "parent", None)
    while node is not None:
        names += [*node.TAGS, node.name]
        node = node.parent
    return names


def select(root: TestSuite, expression: str | Expression) -> int:
    """Keep the tests the filter selects; returns how many are left."""
    if isinstance(expression, str):
        # Lazy: the runtime's parts only for the runs that use them.
        from .filters import parse_filter
        expression = parse_filter(expression)
    return root.prune(lambda case: expression.matches(filter_names(case)))


def format_tree(root: TestSuite) -> str:
    """The tree of suites and tests with their tags, as ``-l`` prints it."""
    # Lazy: the runtime's parts only for the runs that use them.
    from .flow_component import MODE_CRITICAL, MODE_NAMES
    lines: list[str] = []

    def add(node: Any, depth: int) -> None:
        label = describe(node)
        children = list(node) if isinstance(node, TestSuite) else []
        if getattr(node, "mode", MODE_CRITICAL) != MODE_CRITICAL:
            label += f" ({MODE_NAMES.get(node.mode, node.mode)})"
        tags = getattr(node, "TAGS", ())
        lines.append("  " * depth + label + (f"  [{', '.join(tags)}]" if tags else ""))
        for child in children:
            add(child, depth + 1)

    add(root, 0)
    return "\n".join(lines)


def parse_resource_overrides(text: str | None) -> dict[str, dict[str, str]]:
    """``"calc=calc2,dev.group.name=QA"`` -> ``{"calc": {"name": "calc2"},
    "dev": {"group__name": "QA"}}``: ``REQUEST=NAME`` picks a resource by name,
    ``REQUEST.FIELD[.FIELD...]=VALUE`` filters on a field (relations with dots)."""
    overrides: dict[str, dict[str, str]] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        request, *path = key.strip().split(".")
        if not sep or not request or not value.strip() or not all(path):
            raise ValueError(f"bad resource override {item!r}: write REQUEST=NAME or "
                             f"REQUEST.FIELD=VALUE, e.g. calc=calc2,calc.group.name=QA")
        overrides.setdefault(request, {})["__".join(path) or "name"] = value.strip()
    return overrides


# --------------------------------------------------------------------------
# The run

def run(tests: Iterable[type], config: RunConfig | None = None,
        options: RunOptions | None = None, *, stream: TextIO | None = None) -> RunReport:
    """Run the case and suite classes; every resource is released at the end.

    Raises ConfigError (or PluginError) before any test runs when the lock
    client cannot be made, HandlerNotAvailable for an unknown output, and
    ValueError for debug with more than one process.
    """
    config = config if config is not None else load_config()
    options = options or RunOptions()
    if options.debug and options.processes > 1:
        raise ValueError(DEBUG_NEEDS_ONE_PROCESS)
    if options.delta is not None and options.processes > 1:
        raise ValueError(DELTA_NEEDS_ONE_PROCESS)
    stream = stream if stream is not None else sys.stdout
    root = build_tree(tests, options.name, config)
    if options.filter is not None:
        select(root, options.filter)
    outputs = list(options.outputs or config.outputs)
    if options.delta is not None:
        outputs = _with_history(outputs)
    handler_classes = _with_journal([handler_class(h) if isinstance(h, str) else h
                                     for h in outputs],
                                    merged=options.shard is not None
                                    or options.run_group is not None)
    root.outputs = [getattr(h, "NAME", "") or str(h) for h in outputs]
    if options.delta is not None and _has_tests(root):
        stop = _select_delta(root, config, options, stream)
        if stop is not None:
            return stop
    root.run_group, root.shard = options.run_group, options.shard  # for the history
    if options.shard is not None and _has_tests(root):
        stop = _select_shard(root, config, options, stream)
        if stop is not None:
            return stop
    if not _has_tests(root):
        print("rotest: no tests to run", file=stream)
        return RunReport(EXIT_NO_TESTS, root)
    _warn_unused_overrides(root, options.resources)
    arrange_tree(root, options)

    root.work_dir = run_dir = new_run_dir(config.workdir, options.name)
    context = RunContext(config, run_dir, skip_init=options.skip_init,
                         save_state=options.save_state,
                         resource_overrides=options.resources)
    try:
        supervisor = (_start_workers(root, context, options) if options.processes > 1
                      else None)
    except KeyboardInterrupt:  # while the workers started: they are stopped
        print("rotest: interrupted before any test ran", file=sys.stderr)
        return RunReport(EXIT_INTERRUPTED, root, None, run_dir, True)
    # Handlers only now: the workers are forked from a process with no
    # threads a handler might have started.
    handlers = _make_handlers(handler_classes, root, stream=stream, config=config,
                              work_dir=run_dir)
    body = None
    if options.delta is not None:
        # Lazy: the runtime's parts only for the runs that use them.
        from .delta import OutcomeTracker, run_attempts
        tracker = OutcomeTracker()
        handlers.append(tracker)
        body = functools.partial(run_attempts, attempts=options.delta, tracker=tracker)
    result = Result(handlers, context=context, failfast=options.failfast,
                    debug=options.debug)
    context.on_resource_event = result.resourceEvent
    if supervisor is None:
        interrupted, released = _run_tree(root, result, context, body)
        all_ran = True
    else:
        # Lazy: the runtime's parts only for the runs that use them.
        from .multiprocess import run_parallel
        interrupted, released = run_parallel(supervisor, result)
        all_ran = not supervisor.not_run
    # With --delta, a test that failed, then passed when run again, ends as a pass.
    passed = tracker.all_passed if options.delta is not None else result.wasSuccessful
    code = (EXIT_INTERRUPTED if interrupted else
            EXIT_OK if passed() and released and all_ran else EXIT_FAILED)
    return RunReport(code, root, result, run_dir, interrupted,
                     dict(result.resource_counts))


def arrange_tree(root: TestSuite, options: RunOptions) -> None:
    """The run's order: ``-O`` priorities first, then, unless turned off,
    the resource optimiser (see :mod:`rotest_core.arrange`)."""
    # Lazy: the runtime's parts only for the runs that use them.
    from .arrange import arrange, order_rank, parse_order
    order = parse_order(options.order) if isinstance(options.order, str) else options.order
    rank = order_rank(order, filter_names) if order else None
    arrange(root, rank, optimise=options.optimise)


def _with_journal(classes: list[type], *, merged: bool = False) -> list[type]:
    """The run's journal, the complete record of its results, when a file
    report (``NEEDS_JOURNAL``) is backed by it (a killed run's reports are
    rebuilt from it) or the run is a part that ``rotest report merge`` may
    join (``merged``: a shard, a run id). A run on the console alone keeps
    none: about 50 µs a test it need not pay (see rotest_reports.journal)."""
    wanted = merged or any(getattr(cls, "NEEDS_JOURNAL", False) for cls in classes)
    if wanted and not any(getattr(cls, "KEEPS_JOURNAL", False) for cls in classes):
        return [*classes, handler_class("journal")]
    return classes


def _with_history(outputs: list[Any]) -> list[Any]:
    """``--delta`` reads the history, so its run writes it too."""
    # Lazy: the runtime's parts only for the runs that use them.
    from .delta import HISTORY_HANDLERS
    names = {getattr(h, "NAME", h) for h in outputs}
    return outputs if names & HISTORY_HANDLERS else [*outputs, "history"]


def _select_delta(root: TestSuite, config: RunConfig, options: RunOptions,
                  stream: TextIO) -> RunReport | None:
    """Keep the tests that did not pass in the base run; a report if there is
    nothing to run. Raises DeltaError when the history cannot be read."""
    # Lazy: the runtime's parts only for the runs that use them.
    from .delta import plan_delta
    plan = plan_delta(config, root.name, named=options.name is not None,
                      run_group=options.run_group, delta_of=options.delta_of)
    print(f"rotest: {plan.message}", file=stream)
    if plan.passed is None:
        return None
    root.delta_base = plan.base["id"]  # the history handler records it
    everything = root.countTestCases()
    if not root.prune(plan.run_again):
        print(f"rotest: --delta: all {everything} test(s) given passed in the base run: "
              f"nothing to run again", file=stream)
        return RunReport(EXIT_OK, root)
    print(f"rotest: --delta: running {root.countTestCases()} of {everything} test(s) "
          f"again, each up to {options.delta} time(s) while it fails", file=stream)
    return None


def _select_shard(root: TestSuite, config: RunConfig, options: RunOptions,
                  stream: TextIO) -> RunReport | None:
    """Keep this shard's tests; a report if it has none. Raises ShardError
    (a stored plan for other tests) or the store's errors."""
    # Lazy: the runtime's parts only for the runs that use them.
    from .shard import ShardError
    from .shard_plan import apply_shard, plan_split, seconds_text
    try:
        found = plan_split(root, config, options.shard, options.run_group,
                           delta_base=getattr(root, "delta_base", None))
    except ShardError:
        raise
    except Exception as error:  # noqa: BLE001 - said plainly, with what to do
        raise ShardError(f"--shard {options.shard} --run-id {options.run_group!r} cannot "
                         f"use the run history: {type(error).__name__}: {error} (start "
                         f"the store, or run the shards without --run-id: they then "
                         f"split by test count)") from None
    everything = root.countTestCases()
    left = apply_shard(root, found)
    totals = found.totals()
    expected = (f", expected {seconds_text(totals[options.shard.index - 1])} of "
                f"{seconds_text(sum(totals))}" if found.by_time else "")
    print(f"rotest: --shard {options.shard}: {left} of {everything} test(s){expected} "
          f"({found.source})", file=stream)
    if not left:
        print(f"rotest: --shard {options.shard}: no tests in this shard (the run has "
              f"{len(found.units)} unit(s) to share out): nothing to run", file=stream)
        return RunReport(EXIT_OK, root)
    return None


DEBUG_NEEDS_ONE_PROCESS = ("-D/--debug cannot be used with -p/--processes above 1: the "
                           "debugger needs the terminal of a single process; run "
                           "without -p (or with -p 1) to debug")


DELTA_NEEDS_ONE_PROCESS = ("--delta cannot be used with -p/--processes above 1 yet: its "
                           "re-runs go in one process; run the delta without -p")


def _start_workers(root: TestSuite, context: RunContext, options: RunOptions) -> Any:
    """The worker processes of a parallel run, started (each with its lock session)."""
    # Lazy: the runtime's parts only for the runs that use them.
    from .multiprocess import Plan, Supervisor
    supervisor = Supervisor(Plan.of(root, context.run_dir, options.resources), context,
                            options.processes, locks_anything=_locks_anything(root))
    try:
        supervisor.start()
    except BaseException:
        supervisor.shutdown()
        raise
    return supervisor


def _run_tree(root: TestSuite, result: Result, context: RunContext,
              body: Callable[[TestSuite, Result], Any] | None = None
              ) -> tuple[bool, bool]:
    """Run (``body``, default ``root.run``), then release everything, then
    report the end.

    Returns (interrupted by Ctrl-C, the final release went well).
    """
    started = interrupted = False
    released = True
    try:
        if _locks_anything(root):
            # A bad config, plugin or unreachable server fails now, not in each test.
            context.manager.open()
        result.startTestRun()
        started = True
        if body is not None:
            body(root, result)
        else:
            root.run(result)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        try:
            context.close()
        except Exception as error:  # noqa: BLE001 - the session is closed regardless
            released = False
            print(f"rotest: releasing the resources at the end failed: "
                  f"{type(error).__name__}: {error}", file=sys.stderr)
        finally:
            if started:
                if interrupted:
                    result.mark_interrupted()
                result.stopTestRun()
    return interrupted, released


def _class_requests(root: TestSuite) -> Iterable[Any]:
    """The requests of the run's cases and flows, asked once per class."""
    seen: set[type] = set()
    for node in _nodes(root):
        if type(node) not in seen:
            seen.add(type(node))
            yield from getattr(node, "get_resource_requests", list)()


def _nodes(suite: TestSuite) -> Iterable[Any]:
    for test in suite:
        yield test
        if isinstance(test, TestSuite):
            yield from _nodes(test)


def _has_tests(root: TestSuite) -> bool:
    return next(iter_cases(root), None) is not None


def _locks_anything(root: TestSuite) -> bool:
    return any(not request.is_service for request in _class_requests(root))


def _warn_unused_overrides(root: TestSuite, overrides: Mapping[str, Any]) -> None:
    if not overrides:
        return
    requested = {request.name for request in _class_requests(root)}
    for name in sorted(set(overrides) - requested):
        print(f"rotest: warning: no test requests a resource named {name!r} "
              f"(given with -r)", file=sys.stderr)


def _make_handlers(classes: list[type[AbstractResultHandler]], root: TestSuite,
                   **kwargs: Any) -> list[AbstractResultHandler]:
    handlers = []
    for cls in classes:
        try:
            handlers.append(cls(root, **kwargs))
        except Exception as error:  # noqa: BLE001 - a report must not stop the run
            print(f"rotest: output handler {getattr(cls, 'NAME', cls.__name__)!r} "
                  f"could not start: {type(error).__name__}: {error}", file=sys.stderr)
    return handlers
