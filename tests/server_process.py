"""The real server in a subprocess (gunicorn, gthread workers), for tests that
need several server processes, a restart, or clients in other processes."""
from __future__ import annotations

import os
from pathlib import Path

from app.serving import GunicornServer  # noqa: F401 - re-exported for tests

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
