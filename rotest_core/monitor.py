"""Monitors: checks that run beside a test, every few seconds, as in Rotest.

A monitor is a report handler (pick it with ``-o`` or register it under the
``rotest.result_handlers`` entry point, like any other)::

    class DeviceTemperature(AbstractResourceMonitor):
        RESOURCE_NAME = "dev"     # runs for tests holding a resource named so
        CYCLE = 5                  # seconds

        def run_monitor(self, test):
            if self.resource.temperature() > 80:
                self.fail_test(test, "the device overheated")

``run_monitor`` runs in a thread of its own from the end of a top-level
test's setUp to the start of its tearDown: a case at the run's top or in a
suite, or a flow that no other flow holds (its blocks are covered by the
flow's monitor). ``fail_test`` fails the test, as a failed ``expect*``
would: the test goes on and fails at the end of its tearDown. A monitor that
raises is logged and stopped; the run goes on.

Rotest's decorators limit a handler's or monitor's method (one that takes
the test first) to some tests: :func:`skip_if_case`, :func:`skip_if_flow`,
:func:`skip_if_block`, :func:`skip_if_not_main` and :func:`require_attr`.
"""
from __future__ import annotations

import logging
import sys
import threading
import unittest
from functools import wraps
from typing import Any, Callable, TypeVar

from .result import AbstractResultHandler, describe

__all__ = ["AbstractMonitor", "AbstractResourceMonitor", "require_attr", "skip_if_block",
           "skip_if_case", "skip_if_flow", "skip_if_not_main"]

log = logging.getLogger(__name__)
#: How long the end of a test waits for a check in progress.
JOIN_SECONDS = 30.0


class AbstractMonitor(AbstractResultHandler):
    """Calls :meth:`run_monitor` every :attr:`CYCLE` seconds during the
    top-level tests.

    Attributes:
        CYCLE: seconds between two calls of :meth:`run_monitor` (the first
            call is at the end of the test's setUp).
        SINGLE_FAILURE: after :meth:`fail_test` failed a test, stop watching
            that test (one failure per test is enough).
    """

    CYCLE: float = 0.0
    SINGLE_FAILURE = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cycle = self.CYCLE
        if isinstance(cycle, bool) or not isinstance(cycle, (int, float)) or cycle <= 0:
            raise ValueError(f"{type(self).__name__}.CYCLE must be a number of seconds "
                             f"above 0, not {cycle!r}")
        self._lock = threading.Lock()
        self._watches: dict[int, _Watch] = {}
        self._stopped = False  # a run_monitor raised: no more monitoring this run

    # --- for subclasses ----------------------------------------------------

    def run_monitor(self, test: Any) -> None:
        """One check of ``test``; call :meth:`fail_test` to fail it."""
        raise NotImplementedError(f"{type(self).__name__} must define run_monitor")

    def fail_test(self, test: Any, message: str) -> None:
        """Fail ``test``: it goes on, and fails at the end of its tearDown with
        ``message``. Safe from the monitor's thread and any other."""
        text = f"monitor {self._name()}: {message}"
        logger = getattr(test, "logger", None)
        if isinstance(logger, logging.Logger):
            logger.error("%s", text)
        with self._lock:
            watch = self._watches.get(id(test))
            if watch is None:  # the test's watch ended: it failed too late
                log.warning("%s came after the test %s ended; not reported", text,
                            describe(test))
                return
            watch.failures.append(text)
            if self.SINGLE_FAILURE:
                watch.stop.set()

    def should_monitor(self, test: Any) -> bool:
        """Whether this monitor watches ``test`` (a top-level test)."""
        return True

    # --- events ------------------------------------------------------------

    def setup_finished(self, test: Any) -> None:
        if self._stopped or not is_top_level(test) or not self.should_monitor(test):
            return
        watch = _Watch()
        with self._lock:
            self._watches[id(test)] = watch
        watch.thread = threading.Thread(target=self._watch, args=(test, watch),
                                        name=f"rotest-monitor-{self._name()}",
                                        daemon=True)
        watch.thread.start()

    def start_teardown(self, test: Any) -> None:
        self._end(test)

    def stop_test(self, test: Any) -> None:
        # An interrupted test never reaches its tearDown.
        self._end(test)

    def stop_composite(self, test: Any) -> None:
        self._end(test)  # a flow that ends with no tearDown of its own

    def stop_test_run(self) -> None:
        for watch in list(self._watches.values()):
            watch.stop.set()

    # --- the thread --------------------------------------------------------

    def _watch(self, test: Any, watch: "_Watch") -> None:
        while not watch.stop.is_set() and not self._stopped:
            try:
                self.run_monitor(test)
            except Exception as error:  # noqa: BLE001 - a monitor must not break the run
                self._broke(test, error)
                return
            watch.stop.wait(self.CYCLE)

    def _end(self, test: Any) -> None:
        """Stop watching ``test``; its monitor failures fail it now, in the
        test's own thread (the failures of its current part, tearDown's)."""
        with self._lock:
            watch = self._watches.get(id(test))
        if watch is None:
            return
        watch.stop.set()
        if watch.thread is not None and watch.thread is not threading.current_thread():
            # A check in progress may still fail the test; a hung one must not
            # hang the run (what it reports later is logged, not counted).
            watch.thread.join(JOIN_SECONDS)
        with self._lock:
            self._watches.pop(id(test), None)
            failures = list(watch.failures)
        if failures:
            _fail(test, failures)

    def _broke(self, test: Any, error: Exception) -> None:
        self._stopped = True
        text = (f"monitor {self._name()} raised {type(error).__name__}: {error}; it is "
                f"off for the rest of this run")
        logger = getattr(test, "logger", None)
        if isinstance(logger, logging.Logger):
            logger.error("%s", text, exc_info=error)
        print(f"rotest: {text}", file=sys.stderr)

    def _name(self) -> str:
        return self.NAME or type(self).__name__


class AbstractResourceMonitor(AbstractMonitor):
    """A monitor of one resource: it watches only the tests holding a resource
    requested as :attr:`RESOURCE_NAME`, which it finds as :attr:`resource`."""

    RESOURCE_NAME = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.RESOURCE_NAME:
            raise ValueError(f"{type(self).__name__}.RESOURCE_NAME must name the "
                             f"resource request it monitors")
        self.resource: Any = None

    def should_monitor(self, test: Any) -> bool:
        resource = (getattr(test, "locked_resources", None) or {}).get(self.RESOURCE_NAME)
        if resource is None:
            return False
        self.resource = resource
        return True


class _Watch:
    """One test under one monitor: its thread, its stop signal, its failures."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.failures: list[str] = []


def is_top_level(test: Any) -> bool:
    """A case at the run's top or in suites, or a flow no flow holds."""
    node = getattr(test, "parent", None)
    while node is not None:
        if getattr(node, "REPORT_KIND", None) == "flow":
            return False
        node = getattr(node, "parent", None)
    return isinstance(test, unittest.TestCase) or getattr(test, "REPORT_KIND", None) == "flow"


def _fail(test: Any, failures: list[str]) -> None:
    """Monitor failures as failed expectations: the test's current part
    (its tearDown) fails with them at its end."""
    expectations = getattr(test, "expectation_failures", None)
    if isinstance(expectations, list):
        expectations.extend(failures)
        return
    result = getattr(test, "result", None)  # a test with no expect*: fail it directly
    if result is not None:
        error = AssertionError("\n".join(failures))
        result.addFailure(test, (AssertionError, error, None))


# --------------------------------------------------------------------------
# Rotest's decorators of a handler's methods

Method = TypeVar("Method", bound=Callable[..., Any])


def _skip_when(skip: Callable[[Any], bool], why: str) -> Callable[[Method], Method]:
    """A decorator of ``method(self, test, ...)`` that returns None without
    calling it when ``skip(test)``."""
    def decorator(method: Method) -> Method:
        @wraps(method)
        def wrapper(self: Any, test: Any, *args: Any, **kwargs: Any) -> Any:
            if skip(test):
                return None
            return method(self, test, *args, **kwargs)
        wrapper.__doc__ = f"{method.__doc__ or ''}\n\n(Skipped {why}.)".strip()
        return wrapper  # type: ignore[return-value]
    return decorator


def _kind(test: Any) -> str:
    kind = getattr(test, "REPORT_KIND", None)
    if kind in ("block", "flow"):
        return kind
    return "case" if isinstance(test, unittest.TestCase) else "suite"


#: Skip the method for test cases (not blocks, which are cases here too).
skip_if_case = _skip_when(lambda test: _kind(test) == "case", "for test cases")
#: Skip the method for flows.
skip_if_flow = _skip_when(lambda test: _kind(test) == "flow", "for flows")
#: Skip the method for blocks.
skip_if_block = _skip_when(lambda test: _kind(test) == "block", "for blocks")
#: Run the method for main tests only: test cases and the flows no flow holds
#: (not blocks, sub-flows or suites), the tests a monitor's thread watches.
skip_if_not_main = _skip_when(lambda test: not is_top_level(test),
                              "but for main tests (cases, top-level flows)")


def require_attr(name: str) -> Callable[[Method], Method]:
    """Run the decorated method only for tests that have the attribute
    ``name`` (a resource, usually): ``@require_attr("dev")``."""
    return _skip_when(lambda test: not hasattr(test, name), f"for tests without {name!r}")
