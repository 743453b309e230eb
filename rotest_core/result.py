"""The result of a run: unittest's protocol in, Rotest's events out to handlers.

The runner and the tests talk to one :class:`Result` (a ``unittest.TestResult``).
It keeps unittest's bookkeeping (``failures``, ``errors``, ``wasSuccessful()``,
``failfast``) and sends every event, under Rotest's names, to the report
handlers chosen with ``-o``: subclasses of :class:`AbstractResultHandler`
registered under the ``rotest.result_handlers`` entry point.

A handler that raises is reported once, on stderr, and left out for the rest
of the run: a broken report never breaks the tests.
"""
from __future__ import annotations

import logging
import sys
import traceback
import unittest
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, TextIO

from rotest_app.engine.outcomes import OUTCOMES
from rotest_app.engine.plugins import installed

__all__ = ["AbstractResultHandler", "HandlerNotAvailable", "Result", "describe",
           "handler_class", "handler_names", "printable", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "rotest.result_handlers"

class AbstractResultHandler:
    """The base of report handlers: one no-op method per event; override some.

    Attributes:
        NAME: the name ``-o`` selects it by (its entry point's name).
        ORDER: handlers with a lower ORDER get each event first.
        main_test: the root of the run's tree (a TestSuite).
        stream: where console handlers write.
        config: the run's settings (:class:`rotest_core.config.RunConfig`).
        work_dir: the run's work directory, where file reports go.
        interrupted: True in ``stop_test_run`` when Ctrl-C or SIGTERM stopped
            the run.
    """

    NAME = ""
    interrupted = False
    #: When the run started and stopped (aware), stamped by the Result just
    #: before ``start_test_run`` and ``stop_test_run``: one clock for every
    #: report, so that all of them state the same times and duration.
    run_started: datetime | None = None
    run_stopped: datetime | None = None
    #: Handlers get each event in this order (then in ``-o``'s): a handler
    #: that packs up the others' files (artifact) comes last.
    ORDER = 0

    def __init__(self, main_test: Any = None, *, stream: TextIO | None = None,
                 config: Any = None, work_dir: Path | None = None) -> None:
        self.main_test = main_test
        self.stream = stream if stream is not None else sys.stdout
        self.config = config
        self.work_dir = work_dir

    def start_test_run(self) -> None:
        """Once, before any test runs."""

    def start_composite(self, test: Any) -> None:
        """A suite starts."""

    def start_test(self, test: Any) -> None:
        """A test case starts (before its resources are locked)."""

    def update_resources(self, test: Any, resources: dict[str, Any]) -> None:
        """A test got resources (name -> resource)."""

    def setup_finished(self, test: Any) -> None:
        """A test's setUp ended well; its test method runs next."""

    def start_teardown(self, test: Any) -> None:
        """A test's tearDown starts."""

    def add_outcome(self, test: Any, outcome: str, text: str | None = None) -> None:
        """Every outcome event below comes here too, by its outcome's name
        (``success``, ``skip``, ``failure``, ``error``, ``expected_failure``,
        ``unexpected_success``) with its reason or traceback: a handler that
        treats them alike overrides this one method."""

    def add_success(self, test: Any) -> None:
        """A test passed."""
        self.add_outcome(test, "success")

    def add_info(self, test: Any, message: str) -> None:
        """A test reported a success message (``self.success(msg)``)."""

    def add_skip(self, test: Any, reason: str) -> None:
        """A test was skipped."""
        self.add_outcome(test, "skip", reason)

    def add_failure(self, test: Any, exception_string: str) -> None:
        """A test failed; the formatted traceback."""
        self.add_outcome(test, "failure", exception_string)

    def add_error(self, test: Any, exception_string: str) -> None:
        """A test raised an error; the formatted traceback."""
        self.add_outcome(test, "error", exception_string)

    def add_expected_failure(self, test: Any, exception_string: str) -> None:
        """A test marked ``expectedFailure`` failed, as expected."""
        self.add_outcome(test, "expected_failure", exception_string)

    def add_unexpected_success(self, test: Any) -> None:
        """A test marked ``expectedFailure`` passed."""
        self.add_outcome(test, "unexpected_success")

    def stop_test(self, test: Any) -> None:
        """A test case ended (its resources are released). ``test.lock_wait``
        and ``test.setup_time`` (seconds, or None when it locked nothing) say
        how long it waited for its resources' locks and set them up; a flow
        has its own at ``stop_composite``. Read them with ``getattr(test,
        "lock_wait", None)``: a test of another kind may lack them."""

    def stop_composite(self, test: Any) -> None:
        """A suite ended."""

    def stop_test_run(self) -> None:
        """Once, after the last test and the release of every resource."""

    def resource_event(self, action: str, resource: str) -> None:
        """A resource was made (``"make"``: a testresources make or a rotest
        resource's set-up), ``"reset"`` or cleaned (``"clean"``: a clean or a
        rotest resource's finalize); ``resource`` names it."""


class HandlerNotAvailable(LookupError):
    """An output handler name that names no handler here; the message says why."""


def printable(text: str, stream: Any) -> str:
    """``text`` as ``stream`` can write it: lone surrogates (a test's name may
    hold one) and characters its encoding lacks become backslash escapes."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    return text


def handler_class(name: str) -> type[AbstractResultHandler]:
    """The handler registered as ``name`` under :data:`ENTRY_POINT_GROUP`:
    rotest's own (rotest_reports) and any a third party installs, alike."""
    for point in _entry_points(name=name):
        try:
            return point.load()
        except Exception as error:  # noqa: BLE001 - any import failure, said plainly
            raise HandlerNotAvailable(f"output handler {name!r} ({point.value}) cannot "
                                      f"be loaded: {type(error).__name__}: {error}") from None
    raise HandlerNotAvailable(f"unknown output handler {name!r}: choose from "
                              f"{', '.join(handler_names())}")


def handler_names() -> list[str]:
    """Every name ``-o`` accepts, sorted."""
    return sorted(set(_entry_points().names))


def _entry_points(**match: str) -> Any:
    return installed(ENTRY_POINT_GROUP, **match)


def describe(test: Any) -> str:
    """A test's display name: ``Class.method`` for a case, the block's, the
    flow's or the suite's name."""
    if getattr(test, "REPORT_KIND", None) == "block":
        return test.name
    if isinstance(test, unittest.TestCase):
        return f"{type(test).__name__}.{test._testMethodName}"
    name = getattr(test, "name", None)
    return name if isinstance(name, str) else str(test)  # str: setUpClass failures


def identity(test: Any) -> str:
    """What names a test among its siblings, the same in every run: its
    segment of the test's path (the reports, the history, ``--delta``).
    ``module.Class.method`` for a case and ``module.Class`` for a flow, so
    that two classes of one name in two modules are two tests; a block or a
    sub-flow by its name in its flow; a suite by its name."""
    kind = getattr(test, "REPORT_KIND", None)
    if kind == "block":
        return test.name
    cls = type(test)
    if isinstance(test, unittest.TestCase):
        return f"{cls.__module__}.{cls.__qualname__}.{test._testMethodName}"
    name = getattr(test, "name", None)
    if not isinstance(name, str):
        return str(test)  # setUpClass failures: "setUpClass (module.Class)"
    in_flow = getattr(getattr(test, "parent", None), "REPORT_KIND", None) == "flow"
    if kind == "flow" and name == cls.__name__ and not in_flow:
        return f"{cls.__module__}.{cls.__qualname__}"
    return name


def test_path(test: Any) -> str:
    """The identities from the run's root (excluded) down to ``test``, joined
    with ``/``: the test's path, as :attr:`rotest_reports.record.TestRecord.path`
    records it (the history and ``--delta`` match on it)."""
    names, node = [identity(test)], getattr(test, "parent", None)
    while node is not None and getattr(node, "parent", None) is not None:
        names.append(identity(node))
        node = node.parent
    return "/".join(reversed(names))


class Result(unittest.TestResult):
    """unittest's result, fanned out to report handlers as Rotest's events.

    Args:
        handlers: the report handlers.
        context: what the run's tests share (:class:`rotest_core.case.RunContext`);
            tests read it from their result.
        failfast: stop after the first failure or error.
        debug: open pdb's post-mortem on every failure and error.
    """

    def __init__(self, handlers: Iterable[AbstractResultHandler] = (), *,
                 context: Any = None, failfast: bool = False, debug: bool = False) -> None:
        super().__init__()
        self.handlers = sorted(handlers, key=_order)
        self.context = context
        self.failfast = failfast
        self.debug = debug
        self.infos: list[tuple[Any, str]] = []
        #: How many resources were made, reset and cleaned, by action.
        self.resource_counts: Counter[str] = Counter()
        self._decided: set[int] = set()  # tests that got an outcome

    # --- the fan-out -------------------------------------------------------

    @property
    def handlers(self) -> tuple[AbstractResultHandler, ...]:
        """The report handlers still on (set a new sequence to change them)."""
        return self._handlers

    @handlers.setter
    def handlers(self, handlers: Iterable[AbstractResultHandler]) -> None:
        self._handlers = tuple(handlers)
        #: event -> the bound methods of the handlers that override it: most
        #: handlers listen to a few events, and every test sends a dozen.
        self._listeners: dict[str, list[tuple[AbstractResultHandler, Any]]] = {}
        #: Whether a handler listens to the events inside a test (its setUp
        #: finished, its tearDown starts): tests do not send them otherwise.
        self.wants_part_events = any(_listeners(self._handlers, event)
                                     for event in ("setup_finished", "start_teardown"))

    def emit(self, event: str, *args: Any) -> None:
        """Call ``event`` on every handler; disable one that raises."""
        listeners = self._listeners.get(event)
        if listeners is None:
            listeners = self._listeners[event] = _listeners(self._handlers, event)
        for handler, listener in listeners:
            try:
                listener(*args)
            except Exception as error:  # noqa: BLE001 - a report must not break the run
                self.handlers = [h for h in self._handlers if h is not handler]
                _report_broken(handler, event, error)

    def _outcome(self, event: str, test: Any, *args: Any) -> None:
        self._decided.add(id(test))
        self.emit(event, test, *args)

    # --- the run and its composites -----------------------------------------

    def startTestRun(self) -> None:
        super().startTestRun()
        self._stamp("run_started")
        self.emit("start_test_run")

    def stopTestRun(self) -> None:
        super().stopTestRun()
        self._stamp("run_stopped")
        self.emit("stop_test_run")

    def _stamp(self, attribute: str) -> None:
        moment = datetime.now(timezone.utc).astimezone()
        for handler in self.handlers:
            setattr(handler, attribute, moment)

    def mark_interrupted(self) -> None:
        """Ctrl-C or SIGTERM stopped the run: the handlers see it when it ends."""
        for handler in self.handlers:
            handler.interrupted = True

    def startComposite(self, suite: Any) -> None:
        self.emit("start_composite", suite)

    def stopComposite(self, suite: Any) -> None:
        self.emit("stop_composite", suite)

    # --- resources ---------------------------------------------------------

    def resourceEvent(self, action: str, resource: Any) -> None:
        """Count and log a make, reset or clean (see
        AbstractResultHandler.resource_event), and tell the handlers."""
        name = _resource_name(resource)
        self.resource_counts[action] += 1
        RESOURCE_LOG.info("%s %s", action, name)
        self.emit("resource_event", action, name)

    # testresources' events: counted when they start (a make that raises
    # counts too; the test it was for reports the error).
    def startMakeResource(self, resource: Any) -> None:
        self.resourceEvent("make", resource)

    def startResetResource(self, resource: Any) -> None:
        self.resourceEvent("reset", resource)

    def startCleanResource(self, resource: Any) -> None:
        self.resourceEvent("clean", resource)

    def stopMakeResource(self, resource: Any) -> None:
        """The make ended (well or not)."""

    def stopResetResource(self, resource: Any) -> None:
        """The reset ended (well or not)."""

    def stopCleanResource(self, resource: Any) -> None:
        """The clean ended (well or not)."""

    # --- one test ----------------------------------------------------------

    def startTest(self, test: Any) -> None:
        super().startTest(test)
        self.emit("start_test", test)

    def updateResources(self, test: Any, resources: dict[str, Any]) -> None:
        self.emit("update_resources", test, resources)

    def setupFinished(self, test: Any) -> None:
        self.emit("setup_finished", test)

    def startTeardown(self, test: Any) -> None:
        self.emit("start_teardown", test)

    def stopTest(self, test: Any) -> None:
        if id(test) not in self._decided:
            # Only an interrupted test (Ctrl-C) ends with no outcome: say so.
            self.addError(test, (KeyboardInterrupt,
                                 KeyboardInterrupt("the run was interrupted"), None))
        self._decided.discard(id(test))
        super().stopTest(test)
        self.emit("stop_test", test)

    # --- outcomes ----------------------------------------------------------

    def addSuccess(self, test: Any) -> None:
        # unittest's addSuccess does nothing; this runs for every test.
        self._decided.add(id(test))
        self.emit("add_success", test)

    def addInfo(self, test: Any, message: str) -> None:
        self.infos.append((test, message))
        self.emit("add_info", test, message)

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self._outcome("add_skip", test, reason)

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self._post_mortem(err)
        _log_problem(test, "failure", self.failures[-1][1])
        self._outcome("add_failure", test, self.failures[-1][1])

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._post_mortem(err)
        _log_problem(test, "error", self.errors[-1][1])
        self._outcome("add_error", test, self.errors[-1][1])

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._outcome("add_expected_failure", test, self.expectedFailures[-1][1])

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        self._outcome("add_unexpected_success", test)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is None:
            return
        self._post_mortem(err)
        # Handlers see the test itself; the text names the subtest.
        failed = issubclass(err[0], test.failureException)
        text = f"{subtest}\n{(self.failures if failed else self.errors)[-1][1]}"
        _log_problem(test, "failure" if failed else "error", text)
        self._outcome("add_failure" if failed else "add_error", test, text)

    def record_outcome(self, event: str, test: Any, *args: Any) -> None:
        """An outcome decided elsewhere (a worker process of a parallel run),
        its text already formatted: unittest's bookkeeping, then the handlers.
        ``event`` is a handler event's name (``add_failure``...)."""
        text = args[0] if args else ""
        if event in ("add_failure", "add_error", "add_expected_failure", "add_skip"):
            listed = {"add_failure": self.failures, "add_error": self.errors,
                      "add_expected_failure": self.expectedFailures,
                      "add_skip": self.skipped}[event]
            listed.append((test, text))
        elif event == "add_unexpected_success":
            self.unexpectedSuccesses.append(test)
        if self.failfast and event in ("add_failure", "add_error",
                                       "add_unexpected_success"):
            self.stop()  # as unittest's failfast decorator does
        self._outcome(event, test, *args)

    def _post_mortem(self, err: Any) -> None:
        if self.debug and err[2] is not None:
            # Lazy: only --debug needs the debugger.
            import pdb
            print(f"\n{err[0].__name__}: {err[1]}\nrotest: entering the post-mortem "
                  f"debugger (-D); 'c' goes on with the run", file=sys.stderr)
            pdb.post_mortem(err[2])


#: The events of the outcomes, which the base hands on to ``add_outcome``.
OUTCOME_EVENTS = frozenset(f"add_{outcome}" for outcome in OUTCOMES)


def _listeners(handlers: Iterable[Any], event: str) -> list[tuple[Any, Any]]:
    """(handler, its ``event`` method) for each handler that does something
    on ``event``: the base's no-ops are left out (an outcome's is one unless
    the handler overrides ``add_outcome``)."""
    base = getattr(AbstractResultHandler, event, None)
    return [(handler, getattr(handler, event)) for handler in handlers
            if getattr(getattr(handler, event), "__func__", None) is not base
            or event in OUTCOME_EVENTS and _overrides(handler, "add_outcome")]


def _overrides(handler: Any, method: str) -> bool:
    return getattr(type(handler), method, None) is not getattr(AbstractResultHandler, method)


RESOURCE_LOG = logging.getLogger("rotest.resources")


def _resource_name(resource: Any) -> str:
    """A testresources manager's id(), a rotest resource's name, else its class
    (a name already, from a worker of a parallel run, as it is)."""
    if isinstance(resource, str):
        return resource
    if callable(getattr(resource, "id", None)):
        return str(resource.id())
    return str(getattr(resource, "name", None) or type(resource).__name__)


def _order(handler: AbstractResultHandler) -> float:
    order = getattr(handler, "ORDER", 0)
    return order if isinstance(order, (int, float)) else 0


def _log_problem(test: Any, kind: str, text: str) -> None:
    """A failure or an error goes to the test's own log too (its test.log)."""
    logger = getattr(test, "logger", None)
    if isinstance(logger, logging.Logger):
        logger.error("the test ended with %s:\n%s", "a failure" if kind == "failure"
                     else "an error", text.rstrip())


def _report_broken(handler: AbstractResultHandler, event: str, error: Exception) -> None:
    name = getattr(handler, "NAME", "") or type(handler).__name__
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    print(f"rotest: output handler {name!r} failed in {event}{where}: "
          f"{type(error).__name__}: {error}; it is off for the rest of this run",
          file=sys.stderr)
