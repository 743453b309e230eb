"""How the server is served in production: gunicorn with threaded workers, so a
long-polling client holds a thread, not a whole worker."""
from __future__ import annotations

import socket
import sys

DEFAULT_WORKERS = 4
DEFAULT_THREADS = 16


def gunicorn_command(host: str = "127.0.0.1", port: int = 8000, *,
                     workers: int = DEFAULT_WORKERS, threads: int = DEFAULT_THREADS,
                     extra: list[str] | None = None) -> list[str]:
    """The command line that serves ``wsgi:app`` (see README, Serving)."""
    return [sys.executable, "-m", "gunicorn", "wsgi:app", "--worker-class", "gthread",
            "--workers", str(workers), "--threads", str(threads),
            "--bind", f"{host}:{port}", "--graceful-timeout", "5", *(extra or [])]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (for tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
