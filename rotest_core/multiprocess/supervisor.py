"""The main process of a parallel run: starts the workers, hands out units,
replays their events, and handles whatever goes wrong.

- A unit that overruns its TIMEOUT: recorded as an error, its worker stopped
  (SIGTERM, then SIGKILL after :data:`TERM_GRACE`) and replaced.
- A worker that dies (a crash, os._exit, the OOM killer): its unit is
  recorded as an error that says how it died, a new worker is started.
- Either way the dead worker's lock session is ended by the main process,
  its test's resources released dirty: nothing stays locked.
- failfast: no unit is handed out after the first failure; the running ones
  finish. Ctrl-C: the workers are stopped (their tests interrupted and their
  resources released), killed after :data:`STOP_GRACE`, and their sessions ended.

Workers are forked (Linux): they inherit the imported test modules and the
tree, so a unit is known by its index and nothing is imported again.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Iterator

from ..case import RunContext
from ..resources.errors import LockClientError
from ..result import Result
from .plan import Plan, Unit, conflicts, node_at
from .replay import Replayer
from .worker import worker_main

__all__ = ["STOP_GRACE", "TERM_GRACE", "Supervisor"]

#: Seconds a worker stopped for a timeout gets to release its resources
#: before it is killed.
TERM_GRACE = 3.0
#: Seconds the workers get to stop after Ctrl-C (a second Ctrl-C: none).
STOP_GRACE = 10.0
#: The longest the main loop sleeps: how soon it sees Ctrl-C.
TICK = 0.2


@dataclass
class Worker:
    """One worker process as the main process sees it."""

    number: int
    process: Any
    conn: Connection
    session_id: str | None = None
    ready: bool = False
    fatal: str | None = None
    #: The unit it runs, when it was handed out, and its deadline.
    unit: Unit | None = None
    started: bool = False  # the unit's start event came
    stopped: bool = False  # the unit's stop event came
    #: The unit's tests started and not stopped (the main process's), outermost first.
    opened: list[Any] = field(default_factory=list)
    deadline: float | None = None
    #: Resources the unit locked (released dirty if the worker dies).
    locked: list[str] = field(default_factory=list)
    #: The key of the requests whose resources the smart client keeps.
    kept: tuple | None = None
    #: The class fixture it set up last (torn down when it changes class).
    fixture: str | None = None
    releasing: bool = False
    told_to_stop: bool = False
    #: Set once the main process gave up on it: its events are ignored.
    abandoned: bool = False
    kill_at: float | None = None
    said_bye: bool = False

    @property
    def idle(self) -> bool:
        return (self.ready and self.unit is None and not self.releasing
                and not self.told_to_stop and not self.abandoned)

    def holds(self) -> tuple[tuple, str | None]:
        """The requests whose resources it has or is getting, and its class fixture."""
        if self.unit is not None:
            return self.unit.key, self.unit.fixture
        return self.kept or (), self.fixture


class Supervisor:
    """Runs the plan's units in ``processes`` workers into ``result``."""

    def __init__(self, plan: Plan, context: RunContext, processes: int, *,
                 locks_anything: bool) -> None:
        self.plan = plan
        self.context = context
        self.processes = processes
        self.locks_anything = locks_anything
        self.pending: list[Unit] = list(plan.units)
        self.tests = [unit.test for unit in plan.units]
        self.workers: list[Worker] = []
        self.numbers = 0
        self.interrupts = 0
        self.start_error: str | None = None
        self.release_failed = False
        self.replayer: Replayer | None = None
        self.result: Result | None = None
        # Made before any fork: a bad setting fails now, and the embedded
        # database is created (or migrated) once, not by every worker at once.
        self.reaper = context.manager.client if locks_anything else None
        #: How many tests of a key may run at once (a pool of resources).
        self.capacity = plan.capacities(self.reaper) if locks_anything else {}
        self._started = False  # every first worker got its session
        self._stopping_all = False  # after Ctrl-C

    # --- starting workers -----------------------------------------------------

    def start(self) -> None:
        """Fork the workers and wait until each has its lock session. Raises
        LockClientError when they cannot get one (e.g. no server)."""
        for _ in range(min(self.processes, len(self.pending))):
            self._fork()
        while not self.start_error and not all(w.ready for w in self.workers):
            self._wait(None)
        if self.start_error is not None:
            self.shutdown()
            raise LockClientError(self.start_error)
        self._started = True

    def _fork(self) -> Worker:
        ctx = multiprocessing.get_context("fork")
        mine, theirs = ctx.Pipe()
        others = [w.conn for w in self.workers] + [mine]
        self.numbers += 1
        sys.stdout.flush()  # what is buffered would be written twice
        sys.stderr.flush()
        process = ctx.Process(target=worker_main, name=f"rotest-worker-{self.numbers}",
                              args=(theirs, others, self.tests,
                                    self._worker_context(), self.locks_anything),
                              daemon=True)
        process.start()
        theirs.close()
        worker = Worker(self.numbers, process, mine)
        self.workers.append(worker)
        return worker

    def _worker_context(self) -> RunContext:
        context = self.context
        return RunContext(context.config, context.run_dir, skip_init=context.skip_init,
                          save_state=context.save_state,
                          resource_overrides=context.resource_overrides)

    # --- the run ----------------------------------------------------------------

    def run(self, result: Result) -> bool:
        """Hand out every unit and replay the events; True if interrupted."""
        self.result, self.replayer = result, Replayer(result)
        with self._ctrl_c_counted():
            while self.workers:
                if self.interrupts and not self._stopping_all:
                    self._stop_all()
                if self.interrupts > 1:
                    for worker in self.workers:
                        worker.kill_at = min(worker.kill_at or 0, time.monotonic())
                self._dispatch()
                self._wait(TICK)
                self._enforce(time.monotonic())
        return bool(self.interrupts)

    @contextlib.contextmanager
    def _ctrl_c_counted(self) -> Iterator[None]:
        """Ctrl-C sets a count the loop reads, instead of raising in the
        middle of reading a worker's message."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def count(_signum: int, _frame: Any) -> None:
            self.interrupts += 1
        previous = signal.signal(signal.SIGINT, count)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    @property
    def halting(self) -> bool:
        """No more units are handed out: failfast, Ctrl-C, or no worker can start."""
        return bool(self.interrupts or self.start_error
                    or (self.result is not None and self.result.shouldStop))

    def _dispatch(self) -> None:
        for worker in list(self.workers):
            if not worker.idle:
                continue
            unit = None if self.halting else self._pick(worker)
            if unit is not None:
                self._hand_out(worker, unit)
            elif worker.kept is not None and not any(
                    u.key == worker.kept for u in self.pending):
                # Let the others have what it keeps.
                worker.releasing = self._send(worker, "release")
            elif self.halting or not self.pending:
                self._send(worker, "stop")
                worker.told_to_stop = True

    def _send(self, worker: Worker, *message: Any) -> bool:
        """Send a message; False if the worker is gone (its end is handled
        when the main loop sees its process end)."""
        try:
            worker.conn.send(message)
            return True
        except OSError:
            worker.told_to_stop = True  # not idle: nothing more is sent to it
            return False

    def _pick(self, worker: Worker) -> Unit | None:
        """Resource-aware: the next unit that wants what this worker keeps, or
        of the class whose fixture it set up (a set-up saved); else the first
        one that wants nothing another worker has or is getting."""
        for unit in self.pending:
            if (worker.kept is not None and unit.key == worker.kept) or \
                    (worker.fixture is not None and unit.fixture == worker.fixture):
                return unit
        taken = [w.holds() for w in self.workers if w is not worker]
        return next((unit for unit in self.pending if self._may_run(unit, taken)), None)

    def _may_run(self, unit: Unit, taken: list[tuple[tuple, str | None]]) -> bool:
        """Whether ``unit`` may start while the other workers hold ``taken``:
        not with a test that might want one of its resources, unless both
        want equal requests and the pool has one for each; not beside the
        worker that set up its class fixture."""
        same = 0
        for key, fixture in taken:
            if unit.fixture is not None and unit.fixture == fixture:
                return False
            if key and key == unit.key:
                same += 1
            elif conflicts(unit.key, key):
                return False
        return same < self.capacity.get(unit.key, same + 1)

    def _hand_out(self, worker: Worker, unit: Unit) -> None:
        parent_dir = self.plan.start_suites(unit, self.result.startComposite)
        if not self._send(worker, "run", unit.index, str(parent_dir)):
            return  # the unit stays for another worker
        self.pending.remove(unit)
        worker.unit, worker.started, worker.stopped, worker.locked = unit, False, False, []
        worker.opened = []
        worker.fixture = unit.fixture
        worker.deadline = None if unit.timeout is None else time.monotonic() + unit.timeout

    # --- messages ---------------------------------------------------------------

    def _wait(self, timeout: float | None) -> None:
        waits = {w.conn: w for w in self.workers}
        waits.update({w.process.sentinel: w for w in self.workers})
        for ready in wait(list(waits), timeout):
            worker = waits[ready]
            if worker not in self.workers:
                continue  # its end was handled with its pipe's
            if ready is worker.conn:
                self._read(worker)
            else:
                self._ended(worker)

    def _read(self, worker: Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, worker.conn.recv())
        except (EOFError, OSError):
            self._ended(worker)

    def _handle(self, worker: Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready, worker.session_id = True, message[1]
        elif kind == "fatal":
            worker.fatal = message[1]
        elif kind == "bye":
            worker.said_bye = True
        elif worker.abandoned:
            return
        elif kind == "event":
            self._event(worker, *message[1:])
        elif kind == "resource":  # a make, reset or clean, for the run's summary
            self.replayer.result.resourceEvent(*message[1:])
        elif kind == "done":
            self._finish(worker, keeps=message[2])
        elif kind == "released":
            worker.releasing, worker.kept = False, None

    def _event(self, worker: Worker, event: str, ident: Any, args: tuple) -> None:
        if ident[0] == "holder":
            self.replayer.apply(event, self.replayer.holder(ident[1]), args)
            return
        test = node_at(self.tests, ident)
        is_unit = len(ident) == 1
        if event in ("start_test", "start_composite"):
            worker.opened.append(test)
            worker.started = worker.started or is_unit
        elif event in ("stop_test", "stop_composite"):
            worker.opened = [t for t in worker.opened if t is not test]
            worker.stopped = worker.stopped or is_unit
        elif event == "update_resources":
            worker.locked += [name for name, _type, locked in args[0].values() if locked]
        self.replayer.apply(event, test, args)

    def _finish(self, worker: Worker, *, keeps: bool = False) -> None:
        unit = worker.unit
        if unit is None:
            return
        worker.unit, worker.deadline = None, None
        if not worker.abandoned:  # else released dirty when it has ended
            worker.locked = []
        worker.kept = unit.key if keeps and unit.key else None
        self.plan.finish(unit, self.result.stopComposite)

    # --- what goes wrong ----------------------------------------------------------

    def _enforce(self, now: float) -> None:
        for worker in list(self.workers):
            if worker.deadline is not None and now >= worker.deadline and not worker.abandoned:
                self._time_out(worker, now)
            if worker.kill_at is not None and now >= worker.kill_at \
                    and worker.process.is_alive():
                worker.process.kill()
                worker.kill_at = None

    def _time_out(self, worker: Worker, now: float) -> None:
        unit = worker.unit
        if not worker.stopped:  # else it ended just now, with its own outcome
            self.replayer.error(worker.opened, unit.test,
                                f"TimeoutError: the test timed out after {unit.timeout:g} s "
                                f"(its TIMEOUT); the worker process running it was "
                                f"stopped and its resources released", worker.started)
        self._abandon(worker, now + TERM_GRACE)
        self._finish(worker)
        worker.kept = unit.key  # until it ends: it may still hold them

    def _abandon(self, worker: Worker, kill_at: float) -> None:
        worker.abandoned = True
        worker.kill_at = kill_at
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.process.pid, signal.SIGTERM)

    def _stop_all(self) -> None:
        """Ctrl-C: stop every worker; what they report still counts."""
        self._stopping_all = True
        for worker in self.workers:
            worker.kill_at = time.monotonic() + STOP_GRACE
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid, signal.SIGTERM)

    def _ended(self, worker: Worker) -> None:
        """The worker's process ended: read what it said last, account for its
        unit, end its lock session, start another if units are left."""
        with contextlib.suppress(EOFError, OSError):
            while worker.conn.poll():
                self._handle(worker, worker.conn.recv())
        worker.process.join()
        self.workers.remove(worker)
        worker.conn.close()
        if not worker.said_bye:  # first: its resources are free when its test is reported
            self._end_session(worker)
        if worker.unit is not None and not worker.abandoned:
            if not worker.stopped:
                self.replayer.error(worker.opened, worker.unit.test, self._death(worker),
                                    worker.started)
            self._finish(worker)
        if worker.fatal:
            self.start_error = worker.fatal
            if self._started:
                print(f"rotest: a worker process could not start: {worker.fatal}; "
                      f"no more tests are run", file=sys.stderr)
        if self.pending and not self.halting:
            self._fork()

    def _death(self, worker: Worker) -> str:
        if self.interrupts:
            return "KeyboardInterrupt: the run was interrupted"
        code = worker.process.exitcode
        if code is not None and code < 0:
            how = f"killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        return (f"WorkerDied: the worker process running the test died ({how}); "
                f"its resources were released")

    def _end_session(self, worker: Worker) -> None:
        """Release what a worker that did not end cleanly held: its test's
        resources dirty (their state is unknown), then everything its session has."""
        if worker.session_id is None or self.reaper is None:
            return
        for name in worker.locked:
            try:
                self.reaper.release([name], dirty=True)
            except LockClientError:
                pass  # released already; the session's end covers the rest
        try:
            self.reaper.end_session(worker.session_id)
        except Exception as error:  # noqa: BLE001 - said, and the run fails
            self.release_failed = True
            print(f"rotest: ending the lock session of worker {worker.number} failed: "
                  f"{type(error).__name__}: {error}; its lease runs out by itself",
                  file=sys.stderr)

    # --- the end ------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Stop whatever still runs (an error in the main process): SIGTERM,
        then SIGKILL; end the sessions of those that did not end cleanly.
        Returns whether every release went well."""
        deadline = time.monotonic() + TERM_GRACE
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid, signal.SIGTERM)
        for worker in list(self.workers):
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            with contextlib.suppress(EOFError, OSError):
                while worker.conn.poll():
                    message = worker.conn.recv()
                    if message[0] == "bye":
                        worker.said_bye = True
            if not worker.said_bye:
                self._end_session(worker)
            worker.conn.close()
        self.workers.clear()
        self.context.close()  # the main process's client: its connections
        return not self.release_failed

    @property
    def not_run(self) -> int:
        """Units never handed out (failfast, Ctrl-C, no worker)."""
        return len(self.pending)
