"""A cap on the lock polls a server process holds open at once.

A long poll (``GET /locks/{id}?wait=N``) parks a thread until the request
leaves the queue. A threaded server has a fixed number of threads per process
(gunicorn ``--threads``): were they all parked, health checks and every short
call would queue behind the polls. So each process holds at most
``long_poll_limit`` polls (fewer than its threads: the rest stay free for
short calls). Each user is sure of ``long_poll_user_limit`` of them: a user
holds more only while that many stay free for the next user, so one user
cannot take a team's slots, and a CI account whose many jobs share one user
is not held to a few polls on an idle server (its waiters would otherwise
learn of their grants a Retry-After late). A poll over either cap is
answered at once with 429 and ``Retry-After``; the client waits that long
and asks again.

A poll open when the server process begins to stop (:mod:`rotest_app.engine.lifecycle`) is
answered at once with 503 and ``Retry-After``: the request keeps its place in
the queue, and the client polls again, on this server once restarted or on
another instance.
"""
from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from flask import Flask, current_app

from ..engine import EngineError

__all__ = ["LongPolls", "PollEndedByStop", "TooManyPolls", "init_app", "long_polls"]

EXTENSION = "rotest_long_polls"


class TooManyPolls(EngineError):
    """No poll slot is free: answered 429 with ``Retry-After``."""

    status, code = 429, "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class PollEndedByStop(EngineError):
    """The server process is stopping: answered 503 with ``Retry-After``, the
    request's state in ``details``."""

    status, code = 503, "stopping"
    retry_after = 1

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(
            f"the server is stopping (a restart); lock request {request['id']} keeps "
            f"its place in the queue: poll it again in {self.retry_after} s "
            f"(Retry-After), here once the server is back or on another instance",
            request=request)


class LongPolls:
    """Counts the polls open in this process, in all and per user."""

    def __init__(self, limit: int, per_user: int, retry_after: int) -> None:
        self.limit, self.per_user, self.retry_after = limit, per_user, retry_after
        self._lock = threading.Lock()
        self._open: Counter[Any] = Counter()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LongPolls:
        return cls(settings["long_poll_limit"], settings["long_poll_user_limit"],
                   settings["long_poll_retry_after"])

    @property
    def open(self) -> int:
        """How many polls are open now."""
        return self._open.total()

    @contextmanager
    def slot(self, user: Any) -> Iterator[None]:
        """Hold one poll slot for ``user`` (any hashable key) while the block
        runs, or raise :class:`TooManyPolls` at once."""
        with self._lock:
            free = self.limit - self._open.total()
            if self._open[user] >= self.per_user and free <= self.per_user:
                raise TooManyPolls(
                    f"you already have {self._open[user]} lock polls open on this server "
                    f"process, and the {free} slots left are kept for other users "
                    f"(long_poll_user_limit); poll again in {self.retry_after} s "
                    f"(Retry-After)", self.retry_after)
            if self._open.total() >= self.limit:
                raise TooManyPolls(
                    f"the server process holds its most lock polls open "
                    f"({self.limit}, long_poll_limit), keeping threads free for other "
                    f"calls; poll again in {self.retry_after} s (Retry-After)",
                    self.retry_after)
            self._open[user] += 1
        try:
            yield
        finally:
            with self._lock:
                self._open[user] -= 1
                if not self._open[user]:
                    del self._open[user]


def init_app(app: Flask) -> None:
    """Give the app its poll counter, sized by its settings."""
    app.extensions[EXTENSION] = LongPolls.from_settings(app.config["ROTEST"])


def long_polls() -> LongPolls:
    """The current app's poll counter."""
    return current_app.extensions[EXTENSION]
