"""Fixtures of the runtime's tests: a lab in the embedded database, the lock
server over HTTP, and run settings for either mode.

Test modules import the fixtures they use; importing one makes pytest see it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

from api_helpers import add_user
from rotest_app.engine.settings import default_database_url
from engine_helpers import Lab
from lab_plugin import DeviceData
from rotest_core.config import RunConfig, load_config
from rotest_core.embedded_db import prepare_database
from server_process import ThreadedServer

from . import cases, lab as lab_module

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
SAMPLES = Path(__file__).resolve().parent


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """ROTEST_WORKDIR in a fresh folder, no other ROTEST_* setting, no stray
    rotest.yml, and the samples' records emptied."""
    for name in list(os.environ):
        if name.startswith("ROTEST_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "workdir"
    monkeypatch.setenv("ROTEST_WORKDIR", str(folder))
    monkeypatch.setenv("ROTEST_PLUGINS", "lab_plugin")
    monkeypatch.chdir(tmp_path)
    lab_module.STEPS.clear()
    cases.SEEN.clear()
    return folder


@pytest.fixture
def lab(workdir) -> Iterator[Lab]:
    """The embedded database of ``workdir``, migrated as the runtime does it,
    with dev1 (10.0.0.1) and dev2 (10.0.0.2); read straight from SQLite."""
    url = default_database_url(str(workdir))
    prepare_database(url, ["lab_plugin"])
    lab = Lab(url, create=False)
    lab.add(DeviceData, "dev1", ip_address="10.0.0.1")
    lab.add(DeviceData, "dev2", ip_address="10.0.0.2")
    yield lab
    lab.dispose()


@pytest.fixture
def server(lab, workdir) -> Iterator[tuple[ThreadedServer, str]]:
    """The lock server on the lab's database, and a token of user 'tester'."""
    from rotest_app import create_app
    app = create_app({"database_url": lab.url, "plugins": ["lab_plugin"],
                      "workdir": str(workdir.parent / "server"), "secret_key": "test"})
    token = add_user(app, "tester")
    http = ThreadedServer(app)
    yield http, token
    http.stop()
    app.extensions["rotest_sweeper"].stop()


@pytest.fixture(params=["embedded", "remote"])
def config(request, lab) -> RunConfig:
    """Run settings for the embedded mode, then for the remote one."""
    if request.param == "embedded":
        return load_config()
    http, token = request.getfixturevalue("server")
    return load_config(overrides={"host": "127.0.0.1", "port": http.port, "token": token})


@pytest.fixture
def sample_dir(tmp_path) -> Path:
    """A folder the sample tests note what they did in (ROTEST_SAMPLE_DIR)."""
    folder = tmp_path / "sample"
    folder.mkdir()
    return folder


def cli_env(workdir: Path, sample_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a ``rotest run`` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEST_")}
    env.update(ROTEST_WORKDIR=str(workdir), ROTEST_PLUGINS="lab_plugin",
               PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS)]), **extra)
    if sample_dir is not None:
        env["ROTEST_SAMPLE_DIR"] = str(sample_dir)
    return env


ROTEST = [sys.executable, "-m", "rotest_core.cli"]
