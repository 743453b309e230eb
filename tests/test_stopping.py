"""A server you can restart (issue 22): what a stopping server process answers,
how the client rides it out, and ``rotest server`` stopped with Ctrl-C.

The stop under load, on gunicorn and PostgreSQL, and the rolling restart of two
instances are in tests/test_server_gunicorn.py.
"""
from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import lab_plugin
import pytest
import requests
from api_helpers import api_for, descriptor
from server_process import ROOT, ThreadedServer, server_env

from rotest_app.engine import lifecycle
from rotest_app.gunicorn_conf import stop_serving
from rotest_app.models import db
from rotest_app.serving import DEFAULT_BIND, DEFAULT_THREADS, DEFAULT_WORKERS, free_port
from rotest_core.config import SERVER_RETRY_SECONDS, ConfigError, load_config
from rotest_core.store import client_for
from rotest_core.store import RemoteClient

#: Far longer than a stop takes: a poll answered before it was ended by the stop.
POLL_WAIT = 20


@pytest.fixture
def stopping(monkeypatch) -> threading.Event:
    """This process's stopping flag, fresh, and unset again after the test."""
    flag = threading.Event()
    monkeypatch.setattr(lifecycle, "_stopping", flag)
    return flag


@pytest.fixture
def queue(app):
    """alice holds dev0; bob's request for it waits in the queue."""
    with app.app_context():
        db.session.add(lab_plugin.DeviceData(name="dev0"))
        db.session.commit()
    alice, bob = api_for(app, "alice"), api_for(app, "bob")
    assert alice.lock(alice.open_session(), descriptor("DeviceData", name="dev0")) \
        .status_code == 200
    waiting = bob.lock(bob.open_session(), descriptor("DeviceData", name="dev0"),
                       timeout=120)
    assert waiting.status_code == 202, waiting.json
    return alice, bob, waiting.json["id"]


def test_health_says_503_once_the_process_stops(app, stopping):
    health = app.test_client().get("/api/v1/health")
    assert health.status_code == 200 and health.json == {"status": "ok"}
    lifecycle.begin_stop()
    health = app.test_client().get("/api/v1/health")
    assert health.status_code == 503
    assert health.json["error"] == "stopping" and "elsewhere" in health.json["message"]


def test_health_says_503_while_the_database_is_unreachable(tmp_path, monkeypatch,
                                                           stopping):
    from rotest_app import create_app
    monkeypatch.chdir(tmp_path)
    app = create_app({"database_url": f"postgresql+psycopg://nobody@127.0.0.1:"
                                      f"{free_port()}/nothing",
                      "workdir": str(tmp_path), "secret_key": "test"})
    try:
        health = app.test_client().get("/api/v1/health")
    finally:
        app.extensions["rotest_sweeper"].stop()
    assert health.status_code == 503 and health.json["error"] == "database_unavailable"


def test_a_poll_open_when_the_process_stops_is_told_to_come_back_and_keeps_its_place(
        app, queue, stopping):
    alice, bob, request_id = queue
    answers = []
    poll = threading.Thread(target=lambda: answers.append(
        bob.get(f"/locks/{request_id}?wait={POLL_WAIT}")))
    poll.start()
    time.sleep(0.3)  # parked in the poll
    assert not answers
    stop_serving(app)
    poll.join(POLL_WAIT / 2)
    assert answers, "the poll was not ended by the stop"
    ended, = answers
    assert ended.status_code == 503 and ended.headers["Retry-After"] == "1"
    assert ended.json["error"] == "stopping" and "poll it again" in ended.json["message"]
    assert ended.json["details"]["request"]["state"] == "waiting"
    # A poll that comes in while the process stops is answered at once too.
    assert bob.get(f"/locks/{request_id}?wait={POLL_WAIT}").status_code == 503

    stopping.clear()  # the server is back
    state = bob.get(f"/locks/{request_id}").json
    assert (state["state"], state["queue_position"]) == ("waiting", 1)
    assert alice.release("dev0").status_code == 200
    assert bob.get(f"/locks/{request_id}?wait=5").json["state"] == "granted"


def test_the_client_polls_again_after_a_stop_and_gets_its_grant(
        app, queue, stopping, caplog):
    alice, bob, request_id = queue
    server = ThreadedServer(app)
    client = RemoteClient(server.url, bob.headers["Authorization"].split()[1],
                              retry_seconds=30)
    polled = []
    try:
        poll = threading.Thread(target=lambda: polled.append(
            client.poll(request_id, POLL_WAIT)))
        with caplog.at_level(logging.WARNING):
            poll.start()
            time.sleep(0.3)
            stop_serving(app)
            time.sleep(0.5)  # told to come back; the client waits its Retry-After
            stopping.clear()  # restarted meanwhile
            alice.release("dev0")
            poll.join(POLL_WAIT / 2)
        assert polled and polled[0]["state"] == "granted", polled
        assert re.search(r"unreachable for [\d.]+ s \(HTTP 503 stopping\); retrying in "
                         r"1.0 s, for up to 30 s more", caplog.text), caplog.text
    finally:
        client.close()
        server.stop()


def test_how_long_a_client_tries_is_a_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROTEST_HOST", "lab")
    monkeypatch.setenv("ROTEST_TOKEN", "secret")
    assert client_for(load_config()).retry_seconds == SERVER_RETRY_SECONDS
    assert RemoteClient("http://lab", "t").retry_seconds == SERVER_RETRY_SECONDS
    monkeypatch.setenv("ROTEST_SERVER_RETRY_SECONDS", "7.5")
    assert client_for(load_config()).retry_seconds == 7.5
    monkeypatch.setenv("ROTEST_SERVER_RETRY_SECONDS", "soon")
    with pytest.raises(ConfigError, match="ROTEST_SERVER_RETRY_SECONDS"):
        load_config()


def test_the_client_says_how_long_it_tried(monkeypatch):
    client = RemoteClient(f"http://127.0.0.1:{free_port()}", "t", retry_seconds=0.5)
    began = time.monotonic()
    with pytest.raises(Exception, match=r"tried for 0\.[1-5] s of the 0.5 s this client "
                                        r"waits \(server_retry_seconds, or "
                                        r"ROTEST_SERVER_RETRY_SECONDS\); last: "
                                        r"ConnectionError"):
        client.open()
    assert time.monotonic() - began < 2


# --- rotest server ------------------------------------------------------------------

def test_server_help_states_the_defaults_the_readme_uses():
    from click.testing import CliRunner

    from rotest_app.cli import server
    text = " ".join(CliRunner().invoke(server, ["--help"]).output.split())
    for option, default in (("--bind", DEFAULT_BIND), ("--workers", DEFAULT_WORKERS),
                            ("--threads", DEFAULT_THREADS)):
        assert re.search(rf"{option} .*?\[default: {default}[;\]]", text), (option, text)
    assert "gunicorn -c python:rotest_app.gunicorn_conf 'rotest_app:create_app()'" in text
    readme = (ROOT / "README.md").read_text()
    assert f"--workers {DEFAULT_WORKERS} --threads {DEFAULT_THREADS}" in readme
    for line in re.findall(r"^gunicorn .*create_app.*$", readme, re.MULTILINE):
        assert "-c python:rotest_app.gunicorn_conf" in line, line


def test_server_debug_needs_dev():
    from click.testing import CliRunner

    from rotest_app.cli import server
    result = CliRunner().invoke(server, ["--debug"])
    assert result.exit_code == 2 and "--debug needs --dev" in result.output


def test_rotest_server_serves_gunicorn_and_stops_on_ctrl_c(tmp_path):
    from test_server_gunicorn import seed
    database_url = f"sqlite:///{tmp_path / 'rotest.db'}"
    env = server_env(database_url, tmp_path / "workdir")
    env.pop("ROTEST_CONFIG", None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "rotest_core.cli", "server", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_health(url, process, tmp_path / "server.log")
        tokens = seed(database_url, devices=1)  # the server made the schema
        alice = RemoteClient(url, tokens["alice"], retry_seconds=1)
        alice.open()
        alice.lock([descriptor("DeviceData", name="dev0")])
        bob = RemoteClient(url, tokens["bob"], retry_seconds=1)
        bob.open()
        request_id = bob.submit([descriptor("DeviceData", name="dev0")], 120, 0)["id"]
        answers = []
        poll = threading.Thread(target=lambda: answers.append(requests.get(
            f"{url}/api/v1/locks/{request_id}?wait={POLL_WAIT}",
            headers={"Authorization": f"Bearer {tokens['bob']}"}, timeout=60)))
        poll.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)  # Ctrl-C
        poll.join(POLL_WAIT / 2)
        assert answers and answers[0].status_code == 503, answers
        assert answers[0].json()["error"] == "stopping"
        assert process.wait(POLL_WAIT / 2) == 0
        for client in (alice, bob):
            client._stop.set()  # no heartbeats to a server that is gone
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert "gthread" in output and "Traceback" not in output, output


def _wait_for_health(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if requests.get(f"{url}/api/v1/health", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("rotest server did not answer: " + log.read_text())
