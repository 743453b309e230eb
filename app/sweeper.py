"""The periodic sweep of each server process: reaps expired leases even when no
client calls, so a killed client loses its locks within lease + interval, and
its history run ends as aborted within its run lease + interval."""
from __future__ import annotations

import logging
import os
import threading

from flask import Flask
from sqlalchemy.orm import Session

from .engine import sweep
from .engine.history import end_expired_runs
from .models import db

log = logging.getLogger(__name__)

#: Sweeps between two passes over the whole queue (a minute at the default 5 s).
FULL_EVERY = 12


class Sweeper:
    """A daemon thread per process, started on the first request (so it is
    born after gunicorn forks its workers)."""

    def __init__(self, app: Flask, interval: float) -> None:
        self.app, self.interval = app, interval
        self._pid: int | None = None
        self._stop = threading.Event()
        self._start_lock = threading.Lock()

    def ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, daemon=True,
                                 name="rotest-sweeper").start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        with self.app.app_context():
            engine = db.engine
        sweeps = 0
        while not self._stop.wait(self.interval):
            sweeps += 1
            try:
                with Session(engine) as session:
                    # Each sweep serves what it freed; now and then the whole
                    # queue, for an admin's edits (made outside the engine).
                    ended = sweep(session, full=sweeps % FULL_EVERY == 0)
                    aborted = end_expired_runs(session)
                if ended:
                    log.info("sweep ended %d expired lock session(s)", ended)
                if aborted:
                    log.info("sweep ended %d silent run(s) as aborted", aborted)
            except Exception:  # noqa: BLE001 - a failed sweep must not end the thread
                log.exception("lock sweep failed; retrying in %.1fs", self.interval)


def init_app(app: Flask) -> None:
    sweeper = Sweeper(app, app.config["ROTEST"]["sweep_interval"])
    app.extensions["rotest_sweeper"] = sweeper
    app.before_request(sweeper.ensure_running)
