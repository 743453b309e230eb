"""Several gunicorn instances on one PostgreSQL database, as a team behind a
load balancer runs them: no device held twice, one queue order across the
instances (checked with the server's own timestamps), and a release on one
instance wakes the waiter long-polling on the other."""
from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from rotest_app.engine import open_engine
from rotest_app.models import LockRequest
from rotest_core.store import RemoteClient, descriptor
from server_process import ROOT, GunicornServer, server_env
from test_server_gunicorn import seed

CLIENTS, CYCLES = 8, 5


@pytest.fixture
def instances(postgres_url, tmp_path):
    tokens = seed(postgres_url, devices=2)
    servers = []
    try:
        for number in range(2):
            env = server_env(postgres_url, tmp_path / f"workdir{number}", sweep_interval=0.5)
            servers.append(GunicornServer(env, workers=2, cwd=ROOT,
                                          log=tmp_path / f"gunicorn{number}.log").start())
        yield servers, tokens, postgres_url
    finally:
        for server in servers:
            server.stop()


def overtaken(database_url: str) -> list[str]:
    """Grants made while an older request of the same pool and priority (or
    higher) waited, by the server's own created/resolved times."""
    engine = open_engine(database_url)
    with Session(engine) as session:
        requests = list(session.scalars(select(LockRequest).order_by(LockRequest.id)))
    engine.dispose()
    found = []
    for late in requests:
        if late.state != LockRequest.GRANTED:
            continue
        for early in requests:
            if early.id >= late.id:
                break
            if early.descriptors == late.descriptors and early.priority >= late.priority \
                    and early.created < late.resolved \
                    and (early.resolved is None or early.resolved > late.resolved):
                found.append(f"request {late.id} granted at {late.resolved} while "
                             f"{early.id} (made {early.created}) waited")
    return found


def test_two_instances_never_hold_a_device_twice_and_keep_one_queue_order(instances):
    servers, tokens, database_url = instances
    spans: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    errors: list[BaseException] = []
    users = ["alice", "bob", "carol"]

    def client(number: int) -> None:
        server = servers[number % 2]
        try:
            with RemoteClient(server.url, tokens[users[number % 3]]) as lock:
                for _ in range(CYCLES):
                    resource, = lock.lock([descriptor("DeviceData")], timeout=60)
                    start = time.monotonic()
                    time.sleep(0.005)
                    end = time.monotonic()
                    lock.release([resource["name"]])
                    spans[resource["name"]].append((start, end, number))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not errors, errors
    assert sum(len(s) for s in spans.values()) == CLIENTS * CYCLES
    for name, held in spans.items():
        held.sort()
        for (_, end, first), (start, _, second) in zip(held, held[1:]):
            assert start >= end, f"{name} held by clients {first} and {second} at once"
    # Requests queued (two devices, eight clients), and none was overtaken.
    with Session(open_engine(database_url)) as session:
        assert session.scalar(select(LockRequest.id).where(
            LockRequest.resolved > LockRequest.created).limit(1)) is not None
    assert overtaken(database_url) == []


def test_a_release_on_one_instance_wakes_the_waiter_on_the_other(instances):
    servers, tokens, database_url = instances
    holder = RemoteClient(servers[0].url, tokens["alice"])
    holder.open()
    holder.lock([descriptor("DeviceData", name="dev0")])
    granted: list[float] = []

    def waiter() -> None:
        with RemoteClient(servers[1].url, tokens["bob"]) as client:
            client.lock([descriptor("DeviceData", name="dev0")], timeout=30)
            granted.append(time.monotonic())
            client.release(["dev0"])

    thread = threading.Thread(target=waiter)
    thread.start()
    engine = open_engine(database_url)
    deadline = time.monotonic() + 20
    with Session(engine) as session:
        while session.scalar(select(LockRequest.id).where(
                LockRequest.state == LockRequest.WAITING)) is None:
            assert time.monotonic() < deadline, "the waiter never queued"
            session.rollback()
            time.sleep(0.05)
    engine.dispose()
    time.sleep(0.3)  # the waiter is in its long poll on the other instance
    released = time.monotonic()
    holder.release(["dev0"])
    thread.join(30)
    holder.close()
    assert granted, "the waiter never got the device"
    # Its NOTIFY reached the other instance: well before the 1 s recheck.
    assert granted[0] - released < 0.8
