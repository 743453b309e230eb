"""The real server in a subprocess (gunicorn, gthread workers), for tests that
need several server processes, a restart, or clients in other processes."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from app.serving import free_port, gunicorn_command

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def server_env(database_url: str, workdir: Path, **settings: object) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)]),
        "ROTEST_DATABASE_URL": database_url,
        "ROTEST_WORKDIR": str(workdir),
        "ROTEST_SECRET_KEY": "test-secret",
        "ROTEST_PLUGINS": "lab_plugin",
    })
    env.update({f"ROTEST_{k.upper()}": str(v) for k, v in settings.items()})
    return env


class GunicornServer:
    """``gunicorn -k gthread wsgi:app`` on a free port; start, stop, restart."""

    def __init__(self, env: dict[str, str], workers: int = 4, threads: int = 16,
                 log: Path | None = None) -> None:
        self.env, self.workers, self.threads = env, workers, threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "GunicornServer":
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            gunicorn_command(port=self.port, workers=self.workers, threads=self.threads),
            cwd=ROOT, env=self.env, stdout=out, stderr=out)
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

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "GunicornServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
