"""Parallel runs (``rotest run -p N``): the top-level tests in N worker
processes, each with its own lock session; the main process alone drives the
report handlers, replaying the workers' events on its own tree, so every
report reads as after a serial run.

Tests a failfast or Ctrl-C left unstarted are not reported, as in a serial
run; the runner says how many on stderr.
"""
from __future__ import annotations

import sys

from ..result import Result
from .plan import Plan, Unit, conflicts, request_key
from .supervisor import Supervisor

__all__ = ["Plan", "Supervisor", "Unit", "conflicts", "request_key", "run_parallel"]


def run_parallel(supervisor: Supervisor, result: Result) -> tuple[bool, bool]:
    """Run the started workers' units into ``result``, then stop them and
    report the end. Returns (interrupted by Ctrl-C, every release went well)."""
    started = interrupted = False
    try:
        result.startTestRun()
        started = True
        interrupted = supervisor.run(result)
    except KeyboardInterrupt:  # before the loop counts Ctrl-C itself
        interrupted = True
    finally:
        released = supervisor.shutdown()
        supervisor.plan.stop_started(result.stopComposite)
        if supervisor.not_run:
            why = ("the run was interrupted" if interrupted else
                   "failfast" if result.shouldStop else "no worker could run them")
            print(f"rotest: {supervisor.not_run} test{'s' * (supervisor.not_run != 1)} "
                  f"not run ({why})", file=sys.stderr)
        if started:
            if interrupted:
                result.mark_interrupted()
            result.stopTestRun()
    return interrupted, released
