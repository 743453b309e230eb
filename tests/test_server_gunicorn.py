"""The server as a team runs it: gunicorn with several gthread workers, many
clients over HTTP, clients that die, and a server restart."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.engine import open_engine
from app.models import ApiToken, ResourceData, User, db
from rotest_core.resources import RemoteLockClient, ResourceUnavailableError, descriptor
from server_process import ROOT, TESTS, GunicornServer, server_env

import lab_plugin

SWEEP = 0.5


def seed(database_url: str, usernames=("alice", "bob", "carol"), devices: int = 4
         ) -> dict[str, str]:
    """Schema, users with tokens, and ``devices`` DeviceData; returns the tokens."""
    engine = open_engine(database_url)
    db.metadata.create_all(engine)
    tokens = {}
    with Session(engine) as session:
        for name in usernames:
            token, plain = ApiToken.issue(User(username=name, is_admin=name == "admin"))
            session.add(token)
            tokens[name] = plain
        session.add_all(lab_plugin.DeviceData(name=f"dev{i}") for i in range(devices))
        session.commit()
    engine.dispose()
    return tokens


@pytest.fixture
def server(database_url, tmp_path):
    tokens = seed(database_url)
    env = server_env(database_url, tmp_path / "workdir", sweep_interval=SWEEP)
    with GunicornServer(env, workers=4, log=tmp_path / "gunicorn.log", cwd=ROOT) as running:
        running.tokens = tokens
        running.database_url = database_url
        yield running


def holders(database_url: str) -> dict[str, str]:
    engine = open_engine(database_url)
    with Session(engine) as session:
        result = {r.name: r.owner for r in session.scalars(select(ResourceData))}
    engine.dispose()
    return result


def test_no_resource_is_ever_held_twice(server):
    """16 clients hammer 4 devices through 4 worker processes: the time spans in
    which each client held a device never overlap."""
    spans: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    errors: list[BaseException] = []
    users = ["alice", "bob", "carol"]

    def client(number: int) -> None:
        lock = RemoteLockClient(server.url, server.tokens[users[number % 3]])
        try:
            # A stress test of grants, not of leases: on a starved machine (the
            # suite runs beside others) the default 10 s lease may run out.
            lock.open(lease_seconds=120)
            for _ in range(15):
                resource, = lock.lock([descriptor("DeviceData")], timeout=30)
                start = time.monotonic()
                time.sleep(0.002)
                end = time.monotonic()
                lock.release([resource["name"]])
                spans[resource["name"]].append((start, end, number))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            lock.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sum(len(s) for s in spans.values()) == 16 * 15
    for name, held in spans.items():
        held.sort()
        for (_, end, first), (start, _, second) in zip(held, held[1:]):
            assert start >= end, f"{name} held by clients {first} and {second} at once"
    assert set(holders(server.database_url).values()) == {""}


def test_waiters_served_by_priority_then_arrival_soon_after_release(server):
    holder = RemoteLockClient(server.url, server.tokens["alice"])
    holder.open()
    holder.lock([descriptor("DeviceData", name="dev0")])
    order: list[tuple[str, float]] = []

    def waiter(label: str, priority: int, user: str) -> None:
        with RemoteLockClient(server.url, server.tokens[user]) as client:
            client.lock([descriptor("DeviceData", name="dev0")], timeout=20,
                        priority=priority)
            order.append((label, time.monotonic()))
            time.sleep(0.05)
            client.release(["dev0"])

    threads = []
    for label, priority, user in [("first", 0, "bob"), ("second", 0, "carol"),
                                  ("urgent", 5, "bob")]:
        threads.append(threading.Thread(target=waiter, args=(label, priority, user)))
        threads[-1].start()
        time.sleep(0.3)  # a clear arrival order
    released = time.monotonic()
    holder.release(["dev0"])
    for thread in threads:
        thread.join(30)
    holder.close()
    assert [label for label, _ in order] == ["urgent", "first", "second"]
    assert order[0][1] - released < 0.5, "the hand-off took longer than half a second"


CLIENT_SCRIPT = """
import sys, time
from rotest_core.resources import RemoteLockClient, descriptor
client = RemoteLockClient(sys.argv[1], sys.argv[2])
client.open(lease_seconds=float(sys.argv[3]))
client.lock([descriptor("DeviceData", name="dev1")])
assert client.wait_present(30)
print("locked", flush=True)
time.sleep(600)
"""


def test_killed_client_loses_its_locks_at_once_not_after_its_lease(server):
    """Its presence stream breaks: the server ends its session without waiting
    for the lease (a frozen client is freed by its lease: test_presence.py)."""
    lease = 120.0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]))
    process = subprocess.Popen([sys.executable, "-c", CLIENT_SCRIPT, server.url,
                                server.tokens["alice"], str(lease)],
                               stdout=subprocess.PIPE, env=env, text=True)
    assert process.stdout.readline().strip() == "locked"
    assert holders(server.database_url)["dev1"] == "alice"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = time.monotonic()
    while holders(server.database_url)["dev1"] == "alice":
        # A generous bound, far below the lease: no other client calls meanwhile.
        assert time.monotonic() - killed < 30, "the lock waited for the lease"
        time.sleep(0.1)


def test_restart_keeps_locks_sessions_and_queue(server):
    alice = RemoteLockClient(server.url, server.tokens["alice"])
    alice.open(lease_seconds=60)
    alice.lock([descriptor("DeviceData", name="dev2")])
    bob = RemoteLockClient(server.url, server.tokens["bob"])
    bob.open(lease_seconds=60)
    queued = bob.submit([descriptor("DeviceData", name="dev2")], timeout=60, priority=0)
    assert queued["state"] == "waiting"

    server.stop()
    server.start()

    assert holders(server.database_url)["dev2"] == "alice"
    status, _ = alice.call("POST", f"/sessions/{alice.session_id}/heartbeat")
    assert status == 200
    assert bob.poll(queued["id"], 0)["state"] == "waiting"
    alice.release(["dev2"])
    granted = bob.poll(queued["id"], 5)
    assert granted["state"] == "granted"
    assert [r["name"] for r in granted["resources"]] == ["dev2"]
    with pytest.raises(ResourceUnavailableError):
        alice.lock([descriptor("DeviceData", name="dev2")])
    alice.close()
    bob.close()
