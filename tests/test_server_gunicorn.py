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
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from rotest_app.engine import open_engine
from rotest_app.models import ApiToken, ResourceData, User, db
from rotest_core.resources import ResourceUnavailableError
from rotest_core.store import RemoteClient, descriptor
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
        lock = RemoteClient(server.url, server.tokens[users[number % 3]])
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


#: Tests that time a hand-off run one after the other with the restart test,
#: whose servers and clients would slow them down (pytest --dist loadgroup).
TIMING = pytest.mark.xdist_group("gunicorn-timing")


@TIMING
def test_waiters_served_by_priority_then_arrival_soon_after_release(server):
    holder = RemoteClient(server.url, server.tokens["alice"])
    holder.open()
    holder.lock([descriptor("DeviceData", name="dev0")])
    order: list[tuple[str, float]] = []

    def waiter(label: str, priority: int, user: str) -> None:
        with RemoteClient(server.url, server.tokens[user]) as client:
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
from rotest_core.store import RemoteClient, descriptor
client = RemoteClient(sys.argv[1], sys.argv[2])
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
    alice = RemoteClient(server.url, server.tokens["alice"])
    alice.open(lease_seconds=60)
    alice.lock([descriptor("DeviceData", name="dev2")])
    bob = RemoteClient(server.url, server.tokens["bob"])
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


# --- restarts (issue 22) -------------------------------------------------------------

class Probe:
    """Health requests on fresh connections to one instance, every 20 ms while
    it stops: how long each took and how it ended."""

    def __init__(self, url: str) -> None:
        self.url, self.results = url, []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.02):
            began = time.monotonic()
            try:
                outcome = str(requests.get(self.url + "/api/v1/health", timeout=60)
                              .status_code)
            except requests.RequestException as error:
                # Refused: nobody listens. Anything else (reset, no answer) is
                # a connection the server took in, or let queue, and dropped.
                outcome = "refused" if "Connection refused" in str(error) \
                    else f"dropped: {error}"
            self.results.append((time.monotonic() - began, outcome))

    def stop(self) -> list[tuple[float, str]]:
        self.done.set()
        self.thread.join(90)
        return self.results


#: Clients cycling through the two instances of the restart test, one user
#: each (no poll cap is reached), pausing between cycles: enough to have calls
#: in flight at every stop, light enough for the tests running beside it on
#: two cores. bench/restart.py runs 16 without pauses.
CYCLING = 6
PAUSE = 0.05


@TIMING
def test_restarting_instances_one_by_one_under_load_loses_nothing(postgres_url, tmp_path):
    """Two instances on one PostgreSQL database; clients cycle through them
    while a holder keeps dev0 and two waiters queue for it; each instance is
    stopped (SIGTERM) and started again in turn. A request sent during a stop
    is answered or refused, never dropped; the waiters' polls are ended by the
    stop (503); no worker is killed; no client call fails; the holder keeps
    dev0, the waiters their places, then their grants in order. The times are
    printed, not asserted (the machine may be busy)."""
    users = [f"user{n}" for n in range(CYCLING)]
    tokens = seed(postgres_url, usernames=("holder", "bob", "carol", *users), devices=5)
    servers = [GunicornServer(server_env(postgres_url, tmp_path / f"workdir{i}",
                                         sweep_interval=SWEEP),
                              workers=2, log=tmp_path / f"gunicorn{i}.log", cwd=ROOT,
                              # Room for a busy machine: a worker killed at
                              # this timeout is a stop that did not end.
                              extra=["--graceful-timeout", "30"])
               for i in range(2)]
    starting = [threading.Thread(target=server.start) for server in servers]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join(60)
    errors: list[BaseException] = []
    spans: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    requests_made: list[tuple[float, float, str, str]] = []  # start, end, url, outcome
    done = threading.Event()
    pool = [f"dev{i}" for i in range(1, 5)]

    def timed(client: RemoteClient) -> RemoteClient:
        send = client.http.request

        def request(method, url, **kwargs):
            began, outcome = time.monotonic(), "no answer"
            try:
                response = send(method, url, **kwargs)
                outcome = str(response.status_code)
                return response
            except requests.RequestException as error:
                outcome = type(error).__name__
                raise
            finally:
                requests_made.append((began, time.monotonic(), f"{method} {url}", outcome))
        client.http.request = request
        return client

    def cycle(number: int) -> None:
        client = timed(RemoteClient(servers[number % 2].url, tokens[users[number]]))
        try:
            with client:
                while not done.is_set():
                    resource, = client.lock([descriptor("DeviceData", name__in=pool)],
                                            timeout=60)
                    held = time.monotonic()
                    time.sleep(0.01)
                    end = time.monotonic()
                    client.release([resource["name"]])
                    spans[resource["name"]].append((held, end, number))
                    time.sleep(PAUSE)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    granted: list[str] = []

    def pinned(url: str, user: str) -> RemoteClient:
        # No load balancer stands in front of the two instances here: a client
        # pinned to one cannot renew its lease while that one restarts, which
        # on a busy machine takes longer than the default lease (10 s).
        client = RemoteClient(url, tokens[user])
        client.DEFAULT_LEASE = 60
        return client

    def wait_for_dev0(user: str, url: str) -> None:
        try:
            with timed(pinned(url, user)) as client:
                client.lock([descriptor("DeviceData", name="dev0")], timeout=120)
                granted.append(user)
                client.release(["dev0"])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    holder = pinned(servers[0].url, "holder")
    holder.open()
    holder.lock([descriptor("DeviceData", name="dev0")])
    waiters = [threading.Thread(target=wait_for_dev0, args=("bob", servers[0].url)),
               threading.Thread(target=wait_for_dev0, args=("carol", servers[1].url))]
    for waiter in waiters:
        waiter.start()
        time.sleep(0.5)  # a clear order in the queue
    clients = [threading.Thread(target=cycle, args=(n,)) for n in range(CYCLING)]
    for client in clients:
        client.start()

    stops, probes, polls_ended = [], [], []
    time.sleep(1.0)
    for server in servers:
        probe = Probe(server.url)
        time.sleep(0.1)
        began = time.monotonic()
        stops.append((began, server.stop()))
        probes.extend(probe.stop())
        # The waiter on this instance was polling: its poll was told to come back.
        polls_ended.append(any(
            url.startswith(f"GET {server.url}") and "wait=" in url and outcome == "503"
            and began <= end <= began + stops[-1][1]
            for _, end, url, outcome in list(requests_made)))
        server.start()
        time.sleep(0.5)
    done.set()
    for client in clients:
        client.join(120)
    try:
        assert not errors, errors
        assert holders(postgres_url)["dev0"] == "holder" and granted == []
        holder.release(["dev0"])
        for waiter in waiters:
            waiter.join(60)
        assert not errors, errors
        assert granted == ["bob", "carol"]
    finally:
        holder.close()
        for server in servers:
            server.stop()

    # The clients' requests sent while an instance stopped (polls excepted:
    # one may be held open as long as it asks): answered or refused at once.
    during = sorted((end - began, began - at, url, outcome)
                    for began, end, url, outcome in requests_made for at, took in stops
                    if "wait=" not in url and at <= began <= at + took)[-3:]
    report = (f"stops {[round(took, 2) for _, took in stops]} s; longest health probe "
              f"{max(took for took, _ in probes):.2f} s, longest client requests "
              f"{during} during them; "
              f"{sum(map(len, spans.values()))} cycles")
    print(report)
    assert {outcome for _, outcome in probes} <= {"200", "503", "refused"}, probes
    assert polls_ended == [True, True]
    for server in servers:
        # A worker still busy at the graceful timeout is killed, and says so.
        log = server.log.read_text()
        assert "SIGKILL" not in log and "Traceback" not in log, log[-3000:]
    assert sum(map(len, spans.values())) > CYCLING
    for name, held in spans.items():
        held.sort()
        for (_, end, first), (start, _, second) in zip(held, held[1:]):
            assert start >= end, f"{name} held by clients {first} and {second} at once"
    assert set(holders(postgres_url).values()) == {""}
