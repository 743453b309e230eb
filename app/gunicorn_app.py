"""``rotest server``: gunicorn in this process, with :mod:`rotest_app.gunicorn_conf`."""
from __future__ import annotations

import signal
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from . import gunicorn_conf
from .serving import DEFAULT_BIND, DEFAULT_THREADS, DEFAULT_WORKERS


class _Arbiter(Arbiter):
    """gunicorn's master, with Ctrl-C the graceful stop that SIGTERM is."""

    def handle_int(self) -> None:
        raise StopIteration  # as handle_term: the master's halt() stops gracefully


def _graceful_worker(worker: Any) -> None:
    # The terminal's Ctrl-C reaches the workers too: graceful there as well.
    gunicorn_conf.stop_gracefully_on(worker, signal.SIGTERM, signal.SIGINT)


class RotestGunicorn(BaseApplication):
    """gunicorn with :mod:`rotest_app.gunicorn_conf`'s settings and ``options``
    (gunicorn setting names) over them; each worker builds the app."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in vars(gunicorn_conf).items():
            if name in self.cfg.settings:
                self.cfg.set(name, value)
        self.cfg.set("post_worker_init", _graceful_worker)
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        # Lazy: in each worker after the fork, as gunicorn loads an app.
        from . import create_app
        return create_app()

    def run(self) -> None:
        try:
            _Arbiter(self).run()
        except RuntimeError as error:  # e.g. the address is in use
            sys.exit(f"Error: {error}")


def serve(bind: str = DEFAULT_BIND, workers: int = DEFAULT_WORKERS,
          threads: int = DEFAULT_THREADS) -> None:
    """Serve the app with gunicorn until SIGTERM or Ctrl-C, both a graceful stop."""
    RotestGunicorn({"bind": [bind], "workers": workers, "threads": threads}).run()
