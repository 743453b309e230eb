"""A worker process of a parallel run: runs the units it is sent, one at a
time, with a lock session of its own, and sends every event of the run back
to the main process as plain data.

Forked from the main process, a worker has the same tree of tests (the same
test classes, already imported) and finds a unit by its index. It ignores
SIGINT (the main process decides what Ctrl-C does) and takes SIGTERM as
KeyboardInterrupt: the test running is interrupted, its resources released
dirty, the lock session closed, and the worker ends.
"""
from __future__ import annotations

import signal
import traceback
import unittest
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Sequence

from ..case import RunContext
from ..result import AbstractResultHandler, Result, describe
from .plan import nodes_of

__all__ = ["Forwarder", "worker_main"]

#: Events forwarded with their arguments as they are (strings).
PLAIN_EVENTS = ("start_test", "setup_finished", "start_teardown", "add_success",
                "add_info", "add_skip", "add_failure", "add_error",
                "add_expected_failure", "add_unexpected_success")


class Channel:
    """The worker's end of its pipe. A message is sent whole: SIGTERM waits
    until it is written (a message cut in half would garble the pipe)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def send(self, *message: Any) -> None:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            self.conn.send(message)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Forwarder(AbstractResultHandler):
    """The worker's only report handler: every event goes to the main process,
    the test named by its index path (see :func:`~.plan.nodes_of`), or, for an
    error outside any test such as a failed setUpClass, by its description."""

    NAME = "forwarder"

    def __init__(self, channel: Channel, units: Sequence[Any]) -> None:
        super().__init__()
        self.channel = channel
        self.paths = {id(node): path for path, node in nodes_of(units)}

    def ident(self, test: Any) -> Any:
        path = self.paths.get(id(test))
        return path if path is not None else ("holder", describe(test))

    def start_composite(self, test: Any) -> None:
        # A composite unit (a flow) made its work directory here.
        work_dir = getattr(test, "work_dir", None)
        self.forward("start_composite", test, str(work_dir) if work_dir else None)

    def stop_composite(self, test: Any) -> None:
        self.forward("stop_composite", test, _timing(test))

    def forward(self, event: str, test: Any, *args: Any) -> None:
        self.channel.send("event", event, self.ident(test), args)

    def update_resources(self, test: Any, resources: dict[str, Any]) -> None:
        self.forward("update_resources", test, {
            name: (getattr(resource, "name", None) or type(resource).__name__,
                   type(resource).__name__, getattr(resource, "DATA_CLASS", None) is not None)
            for name, resource in resources.items()})

    def resource_event(self, action: str, resource_name: str) -> None:
        self.channel.send("resource", action, resource_name)

    def stop_test(self, test: Any) -> None:
        # The work directory is made on first use: known only now.
        work_dir = getattr(test, "_work_dir", None)
        output = vars(test).get("output")
        self.forward("stop_test", test, str(work_dir) if work_dir else None,
                     (output.stdout, output.stderr) if output is not None else None,
                     _timing(test))


def _timing(test: Any) -> tuple[float | None, float | None]:
    """The test's (or flow's) lock wait and set-up time, for the reports."""
    own = vars(test)
    return own.get("lock_wait"), own.get("setup_time")


def _forwarding(event: str) -> Callable[..., None]:
    def method(self: Forwarder, test: Any, *args: Any) -> None:
        self.forward(event, test, *args)
    method.__name__ = event
    return method


for _event in PLAIN_EVENTS:
    setattr(Forwarder, _event, _forwarding(_event))


def _stop_requested(_signum: int, _frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up runs undisturbed
    raise KeyboardInterrupt("stopped by the main process")


def worker_main(conn: Connection, others: Sequence[Connection], tests: Sequence[Any],
                context: RunContext, locks_anything: bool) -> None:
    """The worker's life: open the lock session, run units until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_requested)
    for other in others:  # the main process's ends: EOF here when it is gone
        other.close()
    channel = Channel(conn)
    result = Result([Forwarder(channel, tests)], context=context)
    context.on_resource_event = result.resourceEvent  # counted in the main's summary
    # Units are parts of one run: a composite unit (a flow) must not tear
    # down the class and module fixtures at its end, as a whole run does.
    result._testRunEntered = True
    try:
        if locks_anything:
            context.manager.open()
        channel.send("ready", context.manager.client.session_id if locks_anything else None)
    except Exception as error:  # noqa: BLE001 - said to the main process, which stops
        channel.send("fatal", f"{type(error).__name__}: {error}")
        context.close()
        return
    fixtures = unittest.TestSuite()  # setUpClass/setUpModule as a suite runs them
    try:
        _serve(conn, channel, tests, result, fixtures, context)
    except (KeyboardInterrupt, EOFError, OSError):
        pass  # stopped, or the main process is gone: clean up below
    finally:
        _end(channel, result, fixtures, context)


def _serve(conn: Connection, channel: Channel, tests: Sequence[Any], result: Result,
           fixtures: unittest.TestSuite, context: RunContext) -> None:
    while True:
        message = conn.recv()
        if message[0] == "run":
            _, index, parent_dir = message
            _run_unit(tests[index], Path(parent_dir), result, fixtures)
            channel.send("done", index, _keeps(context))
        elif message[0] == "release":
            if context._manager is not None:
                context._manager.release_kept()
            channel.send("released")
        else:  # "stop"
            return


def _run_unit(test: Any, parent_dir: Path, result: Result,
              fixtures: unittest.TestSuite) -> None:
    """Run one test as TestSuite.run would, class and module fixtures included
    (each runs once per worker that runs the class's tests); a composite unit
    runs whole."""
    parent = getattr(test, "parent", None)
    if parent is not None:
        parent.work_dir = parent_dir  # made by the main process
    if isinstance(test, unittest.TestSuite):
        test.run(result)
        return
    fixtures._tearDownPreviousClass(test, result)
    fixtures._handleModuleFixture(test, result)
    fixtures._handleClassSetUp(test, result)
    result._previousTestClass = test.__class__
    if (getattr(test.__class__, "_classSetupFailed", False)
            or getattr(result, "_moduleSetUpFailed", False)):
        return  # the setUpClass error is reported; the test is not run
    test(result)


def _keeps(context: RunContext) -> bool:
    manager = context._manager
    return manager is not None and manager.keeps_resources


def _end(channel: Channel, result: Result, fixtures: unittest.TestSuite,
         context: RunContext) -> None:
    """tearDownClass and tearDownModule, every lock released, then "bye"."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        fixtures._tearDownPreviousClass(None, result)
        fixtures._handleModuleTearDown(result)
    except Exception:  # noqa: BLE001 - the release below matters more
        traceback.print_exc()
    try:
        context.close()
    except Exception:  # noqa: BLE001 - the main process closes the session instead
        traceback.print_exc()
        return
    try:
        channel.send("bye")
    except OSError:
        pass
