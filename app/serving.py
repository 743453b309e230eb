"""How the server is served in production: gunicorn with threaded workers, so a
long-polling client holds a thread, not a whole worker, and the graceful stop
of :mod:`rotest_app.gunicorn_conf`. Each client session also holds one thread for
its presence stream (see app/api/presence.py) for as long as it runs: 64
threads a worker leave room for ``presence_limit`` (40) streams,
``long_poll_limit`` (12) polls and a dozen short calls at once.

The one place of the defaults of ``rotest server`` and of that module. Light:
the ``rotest`` command imports it.
"""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_WORKERS = 4
DEFAULT_THREADS = 64
DEFAULT_BIND = "127.0.0.1:8000"
#: Seconds a stopping worker lets a request run before it is cut off.
GRACEFUL_TIMEOUT = 10
#: gunicorn's ``-c`` for the settings and hooks of :mod:`rotest_app.gunicorn_conf`.
GUNICORN_CONFIG = "python:rotest_app.gunicorn_conf"
#: gunicorn's app: the factory, called once in each worker.
WSGI_APP = "rotest_app:create_app()"


def gunicorn_command(host: str = "127.0.0.1", port: int = 8000, *,
                     workers: int = DEFAULT_WORKERS, threads: int = DEFAULT_THREADS,
                     extra: list[str] | None = None,
                     config: str | None = GUNICORN_CONFIG) -> list[str]:
    """The command line that serves ``rotest_app:create_app()`` (see README, Serving).
    ``config=None``: gunicorn's own settings, without the graceful stop (the
    baseline of bench/restart.py)."""
    settings = ["-c", config] if config else ["--worker-class", "gthread"]
    return [sys.executable, "-m", "gunicorn", *settings, WSGI_APP,
            "--workers", str(workers), "--threads", str(threads),
            "--bind", f"{host}:{port}", *(extra or [])]


# --- for tests and benchmarks ---------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (for tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class GunicornServer:
    """gunicorn serving the app in a subprocess on a free local port, for tests and
    benchmarks: start (waits for /api/v1/health), stop, start again."""

    def __init__(self, env: dict[str, str], workers: int = DEFAULT_WORKERS,
                 threads: int = DEFAULT_THREADS, log: Path | None = None,
                 cwd: Path | None = None, config: str | None = GUNICORN_CONFIG,
                 extra: list[str] | None = None) -> None:
        self.env, self.workers, self.threads = env, workers, threads
        self.config, self.extra = config, extra or []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.cwd = cwd
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "GunicornServer":
        """Start gunicorn, unless it runs already (``with server.start():``
        starts it once); return once it answers /api/v1/health."""
        if self.process and self.process.poll() is None:
            return self
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        # No control socket: its default path is one per machine, and tests run
        # several servers at once.
        command = gunicorn_command(port=self.port, workers=self.workers,
                                   threads=self.threads,
                                   extra=["--no-control-socket", *self.extra],
                                   config=self.config)
        self.process = subprocess.Popen(command, cwd=self.cwd, env=self.env,
                                        stdout=out, stderr=out)
        # Lazy: only a test or a bench waiting for its server needs requests.
        import requests
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; "
                                   f"see {self.log}")
            try:
                if requests.get(self.url + "/api/v1/health", timeout=5).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer /api/v1/health in time")

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM, as ``systemctl stop`` sends; the seconds until gunicorn exited
        (killed after ``timeout``)."""
        began = time.monotonic()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        return time.monotonic() - began

    def __enter__(self) -> "GunicornServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
