"""TestCase: unittest's, with lab resources, expectations and success messages.

As in Rotest::

    class CalculatorCase(TestCase):
        TAGS = ["calc"]
        calc = Calculator.request(name="calc")   # or: resources = [request("calc", ...)]

        def test_add(self):
            self.expectEqual(self.calc.add(1, 1), 2)      # recorded, the test goes on
            self.assertEqual(self.calc.add(2, 2), 4, success_msg="adds")

Before ``setUp`` the run's resource manager locks and sets up every requested
resource and sets it as an attribute; after ``tearDown`` (and the cleanups) it
gets them back: kept for the next test that wants the same ones when the test
passed, finalized and released dirty when it failed or errored.
"""
from __future__ import annotations

import functools
import logging
import re
import sys
import time
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from .capture import capturing
from .config import RunConfig, load_config
from .resources.request import ResourceRequest, class_requests, unpacked

if TYPE_CHECKING:
    from .resources.base import BaseResource
    from .resources.manager import ResourceManager

__all__ = ["RunContext", "TestCase", "new_run_dir", "request", "unique_dir"]

# unittest leaves this module's frames out of failure tracebacks, as its own,
# and so does the search for the line that called an expect* method.
__unittest = True

#: Rotest's old style: ``resources = [request("calc", Calculator, name="calc")]``.
request = ResourceRequest

#: The parent of every test's logger. Its records stay out of the root
#: logger, whose handlers would print every DEBUG line of every test.
TEST_LOG = logging.getLogger("rotest.test")
TEST_LOG.setLevel(logging.DEBUG)
TEST_LOG.propagate = False
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class TestLogger(logging.Logger):
    """A test's logger: a child of ``rotest.test`` that writes to ``test.log``
    in the test's work directory while the test runs.

    The directory and the file are made on the first record, so a test that
    logs nothing costs no file system work. It is not registered with
    :func:`logging.getLogger`: it goes away with its test.
    """

    def __init__(self, name: str, case: "TestCase | None" = None) -> None:
        super().__init__(name)
        self.parent = TEST_LOG
        self.case = case
        self.log_file: logging.Handler | None = None
        self._writing = False  # between the start and the end of the test

    def begin(self) -> None:
        """The test starts: records from now on go to its log file."""
        self._writing = True

    def end(self) -> None:
        """The test ended: close its log file, if it has one."""
        self._writing = False
        log_file, self.log_file = self.log_file, None
        if log_file is not None:
            self.removeHandler(log_file)
            log_file.close()

    def callHandlers(self, record: logging.LogRecord) -> None:
        if self._writing and self.log_file is None and self.case is not None:
            self._open_file()
        super().callHandlers(record)

    def _open_file(self) -> None:
        try:
            work_dir = self.case.work_dir
        except OSError as error:
            self._writing = False
            print(f"rotest: cannot make the work directory of {self.name}: {error}",
                  file=sys.stderr)
            return
        if work_dir is None:
            return
        self._writing = False  # no second attempt if this fails
        try:
            # A lone surrogate in a message must not cost the whole line.
            log_file = logging.FileHandler(work_dir / self.case.LOG_FILE_NAME,
                                           encoding="utf-8", errors="backslashreplace")
        except OSError as error:
            print(f"rotest: cannot open the log file of {self.name}: {error}",
                  file=sys.stderr)
            return
        log_file.setFormatter(logging.Formatter(LOG_FORMAT))
        log_file.handle(self.makeRecord(self.name, logging.DEBUG, __file__, 0,
                                        "work directory %s", (work_dir,), None))
        self.log_file = log_file
        self.addHandler(log_file)


# --------------------------------------------------------------------------
# What the tests of one run share

def unique_dir(parent: Path, name: str) -> Path:
    """Make ``parent/name`` (``name-2``, ``name-3``... if taken) and return it."""
    base = re.sub(r"[^\w.-]+", "_", name) or "test"
    parent.mkdir(parents=True, exist_ok=True)
    candidate, number = parent / base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            number += 1
            candidate = parent / f"{base}-{number}"


def new_run_dir(workdir: str | Path, name: str | None = None) -> Path:
    """``<workdir>/runs/<timestamp>[-<name>]``, new for every run."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return unique_dir(Path(workdir).expanduser() / "runs",
                      f"{stamp}-{name}" if name else stamp)


@dataclass
class RunContext:
    """What a run gives its tests: settings, work directory, the resource manager.

    The manager is made on first use, so a run whose tests lock nothing never
    opens the database or calls the server.
    """

    config: RunConfig
    run_dir: Path
    skip_init: bool = False
    save_state: bool = False
    #: ``-r calc=calc2`` as ``{"calc": {"name": "calc2"}}``: filters that
    #: replace those of the requests with that name.
    resource_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Told of each resource set-up and finalize (the Result counts them).
    on_resource_event: Callable[[str, Any], None] | None = None
    _manager: "ResourceManager | None" = field(default=None, init=False, repr=False)

    @property
    def manager(self) -> "ResourceManager":
        if self._manager is None:
            # Lazy: a run that locks nothing loads neither client (SQLAlchemy, requests).
            from .store import client_for
            from .resources.manager import ResourceManager
            self._manager = ResourceManager(
                client_for(self.config), smart=self.config.smart_client,
                timeout=self.config.resource_request_timeout, config=self.config,
                on_event=self.on_resource_event)
        return self._manager

    def close(self) -> None:
        """Release every resource still held and end the lock session."""
        manager, self._manager = self._manager, None
        if manager is not None:
            manager.close()

    @classmethod
    def standalone(cls) -> "RunContext":
        """For a TestCase run by another runner (unittest, pytest): the
        settings from rotest.yml and the environment, and one run directory
        per process and work directory, ``<workdir>/runs/<timestamp>-unittest``."""
        config = load_config()
        return cls(config, _standalone_run_dir(Path(config.workdir).expanduser()))


@functools.cache
def _standalone_run_dir(workdir: Path) -> Path:
    return new_run_dir(workdir, "unittest")


# --------------------------------------------------------------------------
# TestCase

#: class -> (its ``resources`` when asked, its requests): asked once per test.
_REQUESTS: dict[type, tuple[Any, list[ResourceRequest]]] = {}

class TestCase(unittest.TestCase):
    """A resource-oriented ``unittest.TestCase``.

    Attributes:
        TAGS: words ``-f`` filters select the test by.
        TIMEOUT: seconds the test may take (enforced by the runner with ``-p``).
        resources: Rotest's old-style requests; class fields made by
            ``SomeResource.request(...)`` are requests too.
        parent: the TestSuite the test is part of, or None.
        config: the run's settings (:class:`~rotest_core.config.RunConfig`).
        work_dir: the test's own directory under the run's (set when it runs).
        logger: the test's logger, written to ``test.log`` in its work directory.
        locked_resources: the resources the test holds, by request name.
        success_messages: what :meth:`success` recorded.
        expectation_failures: expect* failures not yet reported.
        lock_wait: seconds this run of the test waited for its resources'
            locks (in the server's queue too); None when it locked nothing.
            The reports read it at ``stop_test``.
        setup_time: seconds its resources' set-up took (None: nothing set up).
    """

    TAGS: Sequence[str] = []
    TIMEOUT: float | None = 1800
    resources: Sequence[ResourceRequest] = ()
    STATE_DIR_NAME = "state"
    LOG_FILE_NAME = "test.log"

    # Set for every run (see _start); here, the values before the first.
    parent: Any = None
    context: RunContext | None = None
    result: Any = None
    locked_resources: Mapping[str, BaseResource] = MappingProxyType({})
    success_messages: Sequence[str] = ()
    expectation_failures: Sequence[str] = ()
    lock_wait: float | None = None
    setup_time: float | None = None
    _work_dir: Path | None = None
    #: The directory to make the work directory in, on first use.
    _pending_work_dir: Path | None = None
    _logger: logging.Logger | None = None  # made on first use
    _running = False
    _failed = False  # set to release the resources dirty whatever happens
    _skipped = False

    @property
    def config(self) -> RunConfig | None:
        """The run's settings (Rotest's ``self.config``); None before it runs."""
        return self.context.config if self.context is not None else None

    @property
    def work_dir(self) -> Path | None:
        """The test's own directory under the run's (its suite's), made when
        first asked for (or when the test first logs)."""
        if self._work_dir is None and self._pending_work_dir is not None:
            parent_dir, self._pending_work_dir = self._pending_work_dir, None
            self._work_dir = unique_dir(parent_dir, self.get_name(self._testMethodName))
        return self._work_dir

    @work_dir.setter
    def work_dir(self, value: Path | None) -> None:
        self._work_dir, self._pending_work_dir = value, None

    @property
    def logger(self) -> logging.Logger:
        """The test's logger (a :class:`TestLogger`), made when first used."""
        logger = self._logger
        if logger is None:
            logger = self._logger = TestLogger(
                f"{TEST_LOG.name}.{self.get_name(self._testMethodName)}", self)
            if self._running:
                logger.begin()
        return logger

    @logger.setter
    def logger(self, value: logging.Logger) -> None:
        self._logger = value

    @classmethod
    def _discoverable(cls) -> bool:
        """Whether discovery takes the class as tests of its own: whether
        unittest's loader would find a test method (own attributes first:
        that is where they usually are)."""
        prefix = unittest.TestLoader.testMethodPrefix
        return hasattr(cls, "runTest") or any(
            name.startswith(prefix) and callable(getattr(cls, name, None))
            for klass in cls.__mro__ for name in vars(klass))

    @classmethod
    def get_name(cls, method_name: str) -> str:
        """``Class.method``, the test's name in reports and its work directory."""
        return f"{cls.__name__}.{method_name}"

    @classmethod
    def get_resource_requests(cls) -> list[ResourceRequest]:
        """The requests of ``resources`` and of the class fields (these win a
        name both use)."""
        cached = _REQUESTS.get(cls)
        if cached is None or cached[0] is not cls.resources:
            found = {r.name: r for r in cls.resources}
            found.update((r.name, r) for r in class_requests(cls))
            cached = _REQUESTS[cls] = (cls.resources, list(found.values()))
        return list(cached[1])

    # --- running -----------------------------------------------------------

    def run(self, result: Any = None) -> Any:
        """Run the test into ``result``; a :class:`~rotest_core.result.Result`
        gives it the run's context, any other result a context of its own."""
        context = getattr(result, "context", None)
        own_context = not isinstance(context, RunContext)
        self._start(RunContext.standalone() if own_context else context, result)
        if isinstance(self._logger, TestLogger):
            self._logger.begin()
        try:
            with capturing() as self.output:  # read by the reports at stopTest
                return super().run(result)
        finally:
            try:
                if self.locked_resources:  # the cleanups did not run: Ctrl-C
                    self._release_leftovers()
            finally:
                self._running = False
                if isinstance(self._logger, TestLogger):
                    self._logger.end()
                if own_context:
                    self.context.close()

    def _start(self, context: RunContext, result: Any) -> None:
        self.context, self.result = context, result
        self.locked_resources: dict[str, BaseResource] = {}
        self.success_messages: list[str] = []
        self.expectation_failures: list[str] = []
        self.lock_wait = self.setup_time = None
        self._failed = self._skipped = False
        self._running = True
        # Made on first use: most tests never write to theirs.
        self._work_dir = None
        self._pending_work_dir = getattr(self.parent, "work_dir", None) or context.run_dir

    # unittest's hooks around each part of a test (stable since Python 3.8,
    # which added them for IsolatedAsyncioTestCase). unittest records what
    # each part raises in ``self._outcome``; these add only what Rotest does
    # more. They run for every test, so the passing path makes no extra call.

    def _callSetUp(self) -> None:
        try:
            self._set_up_with_resources()
        except BaseException as error:
            self._part_raised(error)
            raise
        # Expectations that failed in setUp fail the test at its end.
        if getattr(self.result, "wants_part_events", True):
            self._notify("setupFinished", self)

    def _set_up_with_resources(self) -> None:
        """Lock the requested resources, then the test's ``setUp``."""
        requests = self.get_resource_requests()
        if requests:
            self.request_resources(requests, use_previous=True)
        super()._callSetUp()

    def _callTestMethod(self, method: Callable[[], Any]) -> None:
        try:
            super()._callTestMethod(method)
        except BaseException as error:
            self._part_raised(error)
            raise
        if self.expectation_failures:
            raise self.failureException(self._take_expectations())

    def _callTearDown(self) -> None:
        if getattr(self.result, "wants_part_events", True):
            self._notify("startTeardown", self)
        try:
            super()._callTearDown()
        except BaseException as error:
            self._part_raised(error)
            raise
        if self.expectation_failures:
            raise self.failureException(self._take_expectations())

    def _part_raised(self, error: BaseException) -> None:
        """A part of the test raised: a skip is noted (its resources stay
        clean); an error carries the part's failed expectations as a note."""
        if isinstance(error, unittest.SkipTest):
            self._skipped = True
        elif (self.expectation_failures and not isinstance(error, KeyboardInterrupt)
              and hasattr(error, "add_note")):  # notes: Python 3.11 and later
            error.add_note(self._take_expectations())

    def doCleanups(self) -> bool:
        """The test's cleanups, then the release of its resources: last, so
        cleanups may still use them."""
        done = super().doCleanups()
        if self.locked_resources:
            failed, outcome = self.failed, self._outcome
            if outcome is None:  # called by hand, outside run()
                self._release_at_end(failed)
            else:
                # Asked before: a part's executor counts only that part.
                with outcome.testPartExecutor(self):
                    self._release_at_end(failed)
                done = outcome.success
        return done

    @property
    def failed(self) -> bool:
        """Whether a part of the test failed or erred so far (subtests
        included): its resources go back dirty."""
        # unittest's outcome says a part did not succeed; a skip is not a failure.
        outcome = self._outcome
        return self._failed or (outcome is not None and not outcome.success
                                and not self._skipped)

    def _notify(self, event: str, *args: Any) -> None:
        callback = getattr(self.result, event, None)
        if callback is not None:
            callback(*args)

    # --- resources ---------------------------------------------------------

    def request_resources(self, requests: Iterable[ResourceRequest],
                          use_previous: bool = False) -> dict[str, BaseResource]:
        """Lock and set up resources for the rest of the test, as attributes.

        ``use_previous`` lets the smart client hand over resources kept from
        the previous test. Released with the others at the end of the test.
        """
        requests = [self._overridden(r) for r in requests]
        if not requests:
            return {}
        got = lock_timed(self, requests, use_previous)
        # A test that holds resources has its log file (its directory holds theirs).
        self.logger.debug("got resources: %s", ", ".join(
            f"{name}={getattr(resource, 'name', None) or type(resource).__name__}"
            for name, resource in got.items()))
        for name, resource in got.items():
            setattr(self, name, resource)
            _adopt(resource, self.logger)
        for name, sub_resource in unpacked(requests, got).items():
            setattr(self, name, sub_resource)
        self.locked_resources.update(got)
        self._notify("updateResources", self, got)
        return got

    def _overridden(self, request: ResourceRequest) -> ResourceRequest:
        extra = self.context.resource_overrides.get(request.name)
        if not extra:
            return request
        return request.with_filters(extra)

    def release_resources(self, resources: Iterable[str] | Mapping[str, Any] | None = None,
                          dirty: bool = False, force_release: bool = True) -> None:
        """Give back resources the test holds: all of them, or those named
        (a dict's keys). ``force_release=False`` lets the smart client keep
        clean ones for the next test."""
        names = list(self.locked_resources if resources is None else resources)
        unknown = [name for name in names if name not in self.locked_resources]
        if unknown:
            raise KeyError(f"the test holds no resource named {', '.join(unknown)}; it "
                           f"holds {', '.join(self.locked_resources) or 'none'}")
        # Out of the test's hands first: a failed release must not be retried.
        chosen = {name: self.locked_resources.pop(name) for name in names}
        if chosen:
            self.context.manager.release_resources(chosen, dirty=dirty,
                                                   force_release=force_release)

    def _release_at_end(self, failed: bool) -> None:
        # Resources lost with the lock session (frozen past its lease) are
        # another session's now: their state is not stored, and the release
        # raises ResourcesLostError, which makes the test an error that says so.
        if failed and self.context.save_state \
                and self.context.manager.session_lost() is None:
            self.store_state()
        self.release_resources(dirty=failed, force_release=False)

    def _release_leftovers(self) -> None:
        """After an interruption (Ctrl-C) skipped the cleanups: release dirty."""
        try:
            self.release_resources(dirty=True)
        except Exception:  # noqa: BLE001 - the interruption is the error to report
            self.logger.exception("releasing the resources after an interruption failed")

    def store_state(self) -> Path:
        """Have every resource the test holds store its state, each in its own
        directory under ``<work_dir>/state``; returns that directory."""
        state_dir = unique_dir(self.work_dir, self.STATE_DIR_NAME)
        for name, resource in self.locked_resources.items():
            target = state_dir / name
            target.mkdir(exist_ok=True)
            try:
                resource.store_state(target)
            except Exception:  # noqa: BLE001 - the test's own failure matters more
                self.logger.exception("storing the state of %s failed", name)
        self.logger.info("stored the resources' state in %s", state_dir)
        return state_dir

    # --- expectations and success messages -----------------------------------

    def success(self, msg: str) -> None:
        """Record a success message: in the test's log and the reports."""
        self.success_messages.append(msg)
        self.logger.info("success: %s", msg)
        self._notify("addInfo", self, msg)

    def skip(self, reason: str) -> None:
        """Rotest's ``self.skip(msg)``: unittest's ``skipTest``."""
        self.skipTest(reason)

    def addSuccess(self, msg: str) -> None:
        """Rotest's other name of :meth:`success` (a message, not a test:
        unittest's result has the ``addSuccess(test)``)."""
        self.success(msg)

    def expect(self, expression: Any, msg: str | None = None) -> bool:
        """Rotest's expect: a false ``expression`` fails the test at its end,
        but lets it go on. Returns whether it was true."""
        if not expression:
            self._record_expectation(msg or f"{expression!r} is not true")
        return bool(expression)

    def _record_expectation(self, text: str) -> None:
        frame = sys._getframe(1)
        while frame is not None and "__unittest" in frame.f_globals:
            frame = frame.f_back
        where = (f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} in "
                 f"{frame.f_code.co_name}" if frame is not None else "?")
        self.expectation_failures.append(f"{where}: {text}")
        self.logger.error("expectation failed at %s: %s", where, text)

    def _take_expectations(self) -> str:
        failures, self.expectation_failures = self.expectation_failures, []
        count = len(failures)
        return (f"{count} expectation{'s' * (count != 1)} failed:\n"
                + "\n".join("  " + failure.replace("\n", "\n    ") for failure in failures))


def lock_timed(owner: Any, requests: list[ResourceRequest],
               use_previous: bool) -> dict[str, BaseResource]:
    """Lock and set up ``requests`` for ``owner`` (a case, or a flow for its
    blocks) through its run's manager. The wait for the lock and the set-up
    time are added to the owner's ``lock_wait`` and ``setup_time``, which the
    reports show; a lock that timed out waited too."""
    context = owner.context
    manager = context.manager
    try:
        return manager.request_resources(
            requests, skip_init=context.skip_init, use_previous=use_previous,
            base_work_dir=owner.work_dir, timeout=context.config.resource_request_timeout)
    finally:
        owner.lock_wait = (owner.lock_wait or 0.0) + manager.last_wait
        owner.setup_time = (owner.setup_time or 0.0) + manager.last_setup


def _adopt(resource: Any, logger: logging.Logger) -> None:
    """A resource (and its sub-resources) logs into the test that holds it."""
    resource.logger = logger
    for child in resource.get_sub_resources():
        _adopt(child, logger)


# --------------------------------------------------------------------------
# expect* and success_msg= for every assert* of unittest

#: Context managers only: no expect* (and no success_msg, known only on exit).
CONTEXT_ONLY = frozenset({"assertLogs", "assertNoLogs"})
#: Usable as expect* only with a callable: how many positional arguments it takes.
NEEDS_CALLABLE = {"assertRaises": 2, "assertWarns": 2, "assertRaisesRegex": 3,
                  "assertWarnsRegex": 3}


def _with_success_msg(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def assertion(self: TestCase, *args: Any, success_msg: str | None = None,
                  **kwargs: Any) -> Any:
        outcome = original(self, *args, **kwargs)
        if success_msg is not None:
            if outcome is not None:
                raise TypeError(f"{name} as a context manager takes no success_msg")
            self.success(success_msg)
        return outcome

    assertion.__name__ = assertion.__qualname__ = name
    assertion.__doc__ = original.__doc__
    return assertion


def _expectation(assert_name: str) -> Callable[..., bool]:
    name = "expect" + assert_name[len("assert"):]

    def expectation(self: TestCase, *args: Any, **kwargs: Any) -> bool:
        if len(args) < NEEDS_CALLABLE.get(assert_name, 0):
            raise TypeError(f"{name} needs a callable to call; as a context manager, "
                            f"use {assert_name}")
        try:
            getattr(self, assert_name)(*args, **kwargs)
        except self.failureException as error:
            self._record_expectation(str(error))
            return False
        return True

    expectation.__name__ = expectation.__qualname__ = name
    expectation.__doc__ = (f"Like :meth:`{assert_name}`, but a failure is recorded "
                           f"and the test goes on; it fails at its end. Returns "
                           f"whether the check passed.")
    return expectation


def _add_assertions(cls: type) -> None:
    for name in dir(unittest.TestCase):
        original = getattr(unittest.TestCase, name)
        # Deprecated aliases (assertEquals...) are wrappers with other names.
        if (not name.startswith("assert") or not callable(original)
                or original.__name__ != name or name in CONTEXT_ONLY):
            continue
        setattr(cls, name, _with_success_msg(name, original))
        setattr(cls, "expect" + name[len("assert"):], _expectation(name))


_add_assertions(TestCase)
