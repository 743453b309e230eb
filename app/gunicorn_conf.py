"""gunicorn's settings for the rotest server, with the graceful stop.

``rotest server`` uses them; to run gunicorn yourself, name this module::

    gunicorn -c python:rotest_app.gunicorn_conf 'rotest_app:create_app()' --bind 0.0.0.0:8000

Flags after it override its settings (``--workers``, ``--threads``). The
hooks make SIGTERM (``systemctl stop`` or ``restart``) a stop in seconds: each
worker stops accepting at once, answers what it is serving and ends its lock
polls with "poll again" (503, see :mod:`rotest_app.api.polls`) instead of holding
them until their timeout. Without this module, gunicorn waits out every poll
(up to ``long_poll_seconds``) before it exits.
"""
from __future__ import annotations

import signal
import threading
from typing import Any

from .engine import lifecycle
from rotest_app.serving import DEFAULT_BIND, DEFAULT_THREADS, DEFAULT_WORKERS, GRACEFUL_TIMEOUT

# Threaded workers: a client waiting in the lock queue holds a thread, not a
# whole worker (see README, "Long polls cannot take the server").
worker_class = "gthread"
workers = DEFAULT_WORKERS
threads = DEFAULT_THREADS
bind = [DEFAULT_BIND]
# Only a request still running this long after the stop began is cut off: the
# API's calls are short and the stop ends the long ones.
graceful_timeout = GRACEFUL_TIMEOUT


def post_worker_init(worker: Any) -> None:
    """SIGTERM to a worker (gunicorn's graceful stop) also stops the app."""
    stop_gracefully_on(worker, signal.SIGTERM)


def worker_int(worker: Any) -> None:
    """SIGINT or SIGQUIT (gunicorn's quick stop): end the polls all the same."""
    stop_serving(worker.wsgi)


def stop_serving(wsgi_app: Any) -> None:
    """Begin this process's stop: :func:`rotest_app.engine.lifecycle.begin_stop`, and wake
    the lock polls now rather than at their next recheck."""
    lifecycle.begin_stop()
    # Not in the caller, a signal handler: the wake-up takes locks.
    threading.Thread(target=_wake_waiters, args=(wsgi_app,), daemon=True,
                     name="rotest-stop").start()


def _wake_waiters(wsgi_app: Any) -> None:
    # Lazy: gunicorn reads this file before the app exists; Flask only once it does.
    from flask import Flask
    if not isinstance(wsgi_app, Flask):
        return
    # Lazy: as above.
    from rotest_app.engine.notify import notifier_for
    from rotest_app.models import db
    with wsgi_app.app_context():
        notifier_for(db.engine).committed()


def stop_gracefully_on(worker: Any, *signums: int) -> None:
    """Make each of ``signums`` to this gunicorn worker its graceful stop
    (answer what is in flight, then exit), which also stops the app
    (:func:`stop_serving`) and stops accepting at once."""
    def stop(signum: int, frame: Any) -> None:
        stop_serving(worker.wsgi)
        worker.handle_exit(signum, frame)
        _stop_accepting(worker)

    for signum in signums:
        signal.signal(signum, stop)
        signal.siginterrupt(signum, False)


def _stop_accepting(worker: Any) -> None:
    """Close this worker's copy of the listening sockets now, not at its exit.

    The master and every worker share each listening socket, and the kernel
    queues connections on it until the last of them closes it: a connection
    queued there while the worker finishes its requests would hang for the
    whole stop, then be reset. So the worker takes (and serves) what is
    queued, then closes its copy; once all are closed, a new connection is
    refused at once. Done on the worker's own loop (gthread's method queue),
    in two turns: a socket is closed only once the loop no longer watches it.
    """
    calls = getattr(worker, "method_queue", None)
    if calls is None:  # not a gthread worker: it closes them at its exit
        return

    def close() -> None:
        for listener in worker.sockets:
            _take_queued(worker, listener)
            listener.close()

    def unwatch() -> None:
        worker.set_accept_enabled(False)
        calls.defer(close)

    calls.defer(unwatch)


def _take_queued(worker: Any, listener: Any) -> None:
    # gthread's accept() takes one connection, or none when none is queued
    # (the listener does not block).
    while True:
        taken = worker.nr_conns
        worker.accept(listener)
        if worker.nr_conns == taken:
            return
