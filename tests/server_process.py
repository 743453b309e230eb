"""The real server in a subprocess (gunicorn, gthread workers), for tests that
need several server processes, a restart, or clients in other processes."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from werkzeug.serving import make_server

from rotest_app.serving import GunicornServer  # noqa: F401 - re-exported for tests

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


class ThreadedServer:
    """The real Flask app over HTTP on 127.0.0.1, served by werkzeug in a
    thread of the test process (``port=0``: a free one)."""

    def __init__(self, app, port: int = 0) -> None:
        self.http = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self.http.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(10)
