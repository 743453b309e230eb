"""A lock is bound to the session that holds it, and a client that dies loses
its locks at once: on gunicorn (its presence stream breaks) and embedded (its
process no longer holds its presence file). A frozen client is freed by its
lease, and when it resumes it can release nothing it no longer holds; its test
ends as an error that says so.

Waits in these tests are generous bounds, never timings: a waiter that gets a
lock well before the holder's lease could run out shows the lease did not free
it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from rotest_app.engine import lifecycle
from rotest_app.engine import Conflict, SessionExpired
from rotest_app.models import LockSession, utcnow
from engine_helpers import Lab, dev
from rotest_core.store import EmbeddedClient, RemoteClient, descriptor
from runtime_samples.fixtures import (ROTEST, SAMPLES, cli_env, lab,  # noqa: F401
                                      server, workdir)
from server_process import ROOT, TESTS, GunicornServer, ThreadedServer, server_env
from test_server_gunicorn import seed

import lab_plugin

#: The holders' lease in the kill tests: far longer than any wait here.
LONG_LEASE = 120.0
IN_CI = os.environ.get("CI", "").lower() == "true"
#: The most a waiter waits for a dead holder's lock (the lease is far longer).
GRANT_WITHIN = 30.0
DEV1 = [descriptor("DeviceData", name="dev1")]


def session_row(engine, session_id: str) -> LockSession:
    with Session(engine) as s:
        return s.get(LockSession, session_id)


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# The engine: release is bound to the session
# ---------------------------------------------------------------------------

@pytest.fixture
def bench(database_url):
    """A device d1; users alice and root (an admin), on SQLite and PostgreSQL."""
    found = Lab(database_url)
    found.add(lab_plugin.DeviceData, "d1")
    found.alice = found.add_user("alice")
    found.root = found.add_user("root", is_admin=True)
    yield found
    found.dispose()


def expire(bench: Lab, session_id: str) -> None:
    """Let the session's lease run out (as a frozen client's does)."""
    with Session(bench.engine) as s:
        s.execute(update(LockSession).where(LockSession.id == session_id)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()


def test_a_resumed_session_cannot_release_its_users_other_session(bench):
    frozen = bench.alice.session()
    bench.alice.lock(frozen, [dev(name="d1")])
    expire(bench, frozen)
    current = bench.alice.session()
    assert bench.alice.names(bench.alice.lock(current, [dev(name="d1")])) == ["d1"]
    # The frozen client resumes: it is told its session expired, never revived.
    with pytest.raises(SessionExpired) as told:
        bench.alice.release(["d1"], session_id=frozen)
    assert "your session expired at " in told.value.message
    assert "its locks were released" in told.value.message
    assert told.value.details["expired_at"].endswith("Z")
    with pytest.raises(SessionExpired):
        bench.alice.heartbeat(frozen)
    assert bench.row("d1")["session_id"] == current
    # It went back dirty: its holder stopped mid-way.
    assert bench.row("d1")["dirty"] is True
    # A live session releases only what it holds.
    other = bench.alice.session()
    with pytest.raises(Conflict, match="held by another of your lock sessions"):
        bench.alice.release(["d1"], session_id=other)
    assert bench.alice.release(["d1"], session_id=current) == ["d1"]
    assert bench.row("d1")["session_id"] is None


def test_release_without_a_session_acts_for_the_user_and_force_for_an_admin(bench):
    held_by = bench.alice.session()
    bench.alice.lock(held_by, [dev(name="d1")])
    assert bench.alice.release(["d1"]) == ["d1"]  # by hand: any session of the user
    bench.alice.lock(held_by, [dev(name="d1")])
    admin = bench.root.session()
    assert bench.root.release(["d1"], force=True, session_id=admin) == ["d1"]


def test_a_cancel_of_an_ended_session_changes_nothing(bench):
    session = bench.alice.session()
    granted = bench.alice.lock(session, [dev(name="d1")])
    expire(bench, session)
    other = bench.alice.session()
    bench.alice.lock(other, [dev(name="d1")])
    assert bench.alice.cancel(granted["id"])["state"] == "granted"
    assert bench.row("d1")["session_id"] == other


# ---------------------------------------------------------------------------
# The server: a killed client is noticed at once, a frozen one by its lease
# ---------------------------------------------------------------------------

@pytest.fixture
def team_url(request, tmp_path):
    """PostgreSQL in CI (the team's database); SQLite elsewhere."""
    if IN_CI:
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'rotest.db'}"


@pytest.fixture
def gunicorn(team_url, tmp_path):
    tokens = seed(team_url)
    env = server_env(team_url, tmp_path / "workdir", sweep_interval=0.5)
    with GunicornServer(env, workers=2, threads=16, log=tmp_path / "gunicorn.log",
                        cwd=ROOT) as running:
        running.tokens, running.database_url = tokens, team_url
        running.engine = Lab(team_url, create=False).engine
        yield running
        running.engine.dispose()


HOLDER = """
import sys, time
from rotest_core.store import RemoteClient, descriptor
client = RemoteClient(sys.argv[1], sys.argv[2])
client.open(lease_seconds=float(sys.argv[3]))
client.lock([descriptor("DeviceData", name="dev1")])
assert client.wait_present(30)
print(client.session_id, flush=True)
time.sleep(600)
"""


def start_holder(script: str, *args: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]))
    process = subprocess.Popen([sys.executable, "-c", script, *args],
                               stdout=subprocess.PIPE, env=env, text=True)
    session_id = process.stdout.readline().strip()
    assert session_id, "the holder never locked dev1"
    return process, session_id


def waiting_for_dev1(client) -> dict:
    request = client.submit(DEV1, timeout=GRANT_WITHIN + 30, priority=0)
    assert request["state"] == "waiting", request
    return request


def granted(client, request: dict, seconds: float) -> dict:
    until = time.monotonic() + seconds
    while request["state"] == "waiting" and time.monotonic() < until:
        request = client.poll(request["id"], max(0.05, until - time.monotonic()))
    return request


def test_a_killed_holder_s_lock_reaches_the_waiter_at_once(gunicorn):
    holder, session_id = start_holder(HOLDER, gunicorn.url, gunicorn.tokens["alice"],
                                      str(LONG_LEASE))
    with RemoteClient(gunicorn.url, gunicorn.tokens["bob"]) as waiter:
        request = waiting_for_dev1(waiter)
        holder.kill()
        holder.wait()
        answer = granted(waiter, request, GRANT_WITHIN)
        assert answer["state"] == "granted", answer
        assert [r["name"] for r in answer["resources"]] == ["dev1"]
        # Its process was gone, and what it held went back dirty.
        assert session_row(gunicorn.engine, session_id).state == "gone"
        assert answer["resources"][0]["dirty"] is True


def test_a_frozen_holder_is_freed_by_its_lease_not_by_its_presence(gunicorn):
    holder, session_id = start_holder(HOLDER, gunicorn.url, gunicorn.tokens["alice"], "2")
    try:
        holder.send_signal(signal.SIGSTOP)
        with RemoteClient(gunicorn.url, gunicorn.tokens["bob"]) as waiter:
            answer = granted(waiter, waiting_for_dev1(waiter), GRANT_WITHIN)
            assert answer["state"] == "granted", answer
        # Its connections stayed open: the lease ended it, not its presence.
        assert session_row(gunicorn.engine, session_id).state == "expired"
    finally:
        holder.kill()
        holder.send_signal(signal.SIGCONT)
        holder.wait()


def test_a_stopping_server_ends_presence_streams_but_not_their_sessions(workdir, lab,
                                                                         server):
    http, token = server
    client = RemoteClient(http.url, token)
    client.open(lease_seconds=LONG_LEASE)
    try:
        client.lock(DEV1)  # the stream opens with the first request
        assert client.wait_present(30)
        lifecycle.begin_stop()
        # The stream ends (and is made again, ending again, while stopping).
        wait_until(lambda: not client._presence.attached.is_set(), 30, "still attached")
        time.sleep(1.0)  # a few pulses more
        assert session_row(lab.engine, client.session_id).state == "active"
        lifecycle._stopping.clear()
        assert client.wait_present(30), "the client did not come back"
    finally:
        lifecycle._stopping.clear()
        client.close()


# ---------------------------------------------------------------------------
# Embedded: several processes on one SQLite file
# ---------------------------------------------------------------------------

EMBEDDED_HOLDER = """
import sys, time
import lab_plugin
from rotest_core.store import EmbeddedClient, descriptor
client = EmbeddedClient(sys.argv[1], username="alice")
client.open(lease_seconds=float(sys.argv[2]))
client.lock([descriptor("DeviceData", name="dev1")])
print(client.session_id, flush=True)
time.sleep(600)
"""


def test_a_killed_embedded_holder_s_lock_reaches_the_waiter(workdir, lab):
    holder, session_id = start_holder(EMBEDDED_HOLDER, lab.url, str(LONG_LEASE))
    waiter = EmbeddedClient(lab.url, username="bob")
    waiter.open(lease_seconds=LONG_LEASE)
    try:
        request = waiting_for_dev1(waiter)
        holder.kill()
        holder.wait()
        answer = granted(waiter, request, GRANT_WITHIN)
        assert answer["state"] == "granted", answer
        assert session_row(lab.engine, session_id).state == "gone"
        assert lab.row("dev1")["dirty"] is True
    finally:
        waiter.close()
    # A session closed by its client leaves no presence file behind.
    assert not [p for p in Path(lab.url.removeprefix("sqlite:///") + ".sessions")
                .iterdir()]


def test_a_live_embedded_session_is_never_taken_for_dead(workdir, lab):
    first = EmbeddedClient(lab.url, username="alice")
    second = EmbeddedClient(lab.url, username="alice")
    first.open(lease_seconds=LONG_LEASE)
    second.open(lease_seconds=LONG_LEASE)
    try:
        first.lock(DEV1)
        lab.sweep()  # looks at every presence file
        assert session_row(lab.engine, first.session_id).state == "active"
        assert second.lock([descriptor("DeviceData", name="dev2")])
        assert lab.row("dev1")["session_id"] == first.session_id
    finally:
        first.close()
        second.close()


# ---------------------------------------------------------------------------
# The runtime: a test whose resources were lost with its session
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["embedded", "remote"])
def test_a_frozen_then_resumed_test_errors_and_touches_nothing(workdir, lab, tmp_path,
                                                               mode):
    sample_dir = tmp_path / "sample"
    sample_dir.mkdir()
    env = cli_env(workdir, sample_dir, ROTEST_LEASE_SECONDS="1")
    http = None
    if mode == "remote":
        from api_helpers import add_user
        from rotest_app import create_app
        app = create_app({"database_url": lab.url, "plugins": ["lab_plugin"],
                          "workdir": str(tmp_path / "server"), "secret_key": "test",
                          "lease_seconds": 1.0, "sweep_interval": 0.2})
        token = add_user(app, "tester")
        http = ThreadedServer(app)
        env.update(ROTEST_HOST="127.0.0.1", ROTEST_PORT=str(http.port),
                   ROTEST_TOKEN=token)
        other = RemoteClient(http.url, token)
    else:
        other = EmbeddedClient(lab.url)  # the same local user as `rotest run`
    process = subprocess.Popen([*ROTEST, "run", str(SAMPLES / "frozen.py")], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (sample_dir / "started").exists()
                   or process.poll() is not None, 60, "the test never started")
        assert process.poll() is None, process.communicate()
        frozen_session = lab.row("dev1")["session_id"]
        process.send_signal(signal.SIGSTOP)
        # Another session of the same user gets dev1 once the lease ran out.
        other.open(lease_seconds=LONG_LEASE)
        other.lock(DEV1, timeout=GRANT_WITHIN)
        process.send_signal(signal.SIGCONT)
        (sample_dir / "resume").write_text("go")
        out, err = process.communicate(timeout=60)
        assert "FrozenTest.test_holds_dev1 ... ERROR" in out, out + err
        assert "were lost with the lock session" in out + err, out + err
        assert "your session expired at" in out + err, out + err
        # Nothing was touched: dev1 stays with the other session, unfinalized.
        assert lab.row("dev1")["session_id"] == other.session_id != frozen_session
        steps = (sample_dir / "steps.log").read_text().split("\n")
        assert "connect dev1" in steps and "finalize dev1" not in steps
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.communicate()
        other.close()
        if http is not None:
            http.stop()
            app.extensions["rotest_sweeper"].stop()


def test_the_api_binds_a_release_to_its_session(app):
    from api_helpers import Api, add_user
    from rotest_app.models import db
    with app.app_context():
        db.session.add(lab_plugin.DeviceData(name="dev9"))
        db.session.commit()
    alice = Api(app, add_user(app, "alice"))
    dev9 = descriptor("DeviceData", name="dev9")
    frozen = alice.open_session()
    assert alice.lock(frozen, dev9).status_code == 200
    with app.app_context():
        db.session.execute(update(LockSession).where(LockSession.id == frozen)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    current = alice.open_session()
    assert alice.lock(current, dev9).status_code == 200
    refused = alice.release("dev9", session_id=frozen)
    assert refused.status_code == 409 and refused.json["error"] == "session_expired"
    assert refused.json["message"].startswith("your session expired at ")
    assert refused.json["details"]["expired_at"].endswith("Z")
    presence = alice.get(f"/sessions/{frozen}/presence")
    assert presence.status_code == 409 and presence.json["error"] == "session_expired"
    assert alice.release("dev9", session_id=current).json == {"released": ["dev9"]}


def test_a_stream_ends_after_its_lifetime_and_the_client_makes_another(workdir, lab,
                                                                      server, monkeypatch):
    from rotest_app.api import presence
    monkeypatch.setattr(presence, "LIFETIME", 1.0)
    http, token = server
    client = RemoteClient(http.url, token)
    client.open(lease_seconds=LONG_LEASE)
    try:
        client.lock(DEV1)
        assert client.wait_present(30)
        wait_until(lambda: not client._presence.attached.is_set(), 30, "never ended")
        assert client.wait_present(30), "the client did not make another"
        assert session_row(lab.engine, client.session_id).state == "active"
    finally:
        client.close()
