"""This server process's life: whether it is stopping.

A graceful stop (SIGTERM to gunicorn, Ctrl-C on ``rotest server``) sets the
flag once; whatever holds a request open (long-polls, a client's presence
stream) waits on it, so that the process answers them and exits in seconds
instead of waiting out their timeouts.
"""
from __future__ import annotations

import threading

_stopping = threading.Event()


def begin_stop() -> None:
    """Mark this process as stopping; wakes every :func:`wait_for_stop`."""
    _stopping.set()


def is_stopping() -> bool:
    """True once this process has begun to stop."""
    return _stopping.is_set()


def wait_for_stop(timeout: float) -> bool:
    """Sleep up to ``timeout`` seconds, returning early (True) if the process
    begins to stop meanwhile."""
    return _stopping.wait(timeout)
