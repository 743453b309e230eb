"""The lock engine under real concurrency: several OS processes (spawned, each
with its own engine and connections) against one database, a SQLite file and
PostgreSQL.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import lab_plugin as lab_models
from rotest_app.models import LockRequest, LockSession, User
from engine_helpers import Lab, holder_worker, stress_worker, waiter_worker

SPAWN = multiprocessing.get_context("spawn")
WORKERS, LOOPS = 6, 40
DEVICES = ["dev0", "dev1", "dev2"]


@pytest.fixture
def lab(database_url):
    lab = Lab(database_url)
    for index, name in enumerate(DEVICES):
        lab.add(lab_models.PortData, f"port{index}", number=index)
        lab.add(lab_models.DeviceData, name, port=f"port{index}")
    yield lab
    lab.dispose()


def start(target, *args, **kwargs):
    process = SPAWN.Process(target=target, args=args, kwargs=kwargs, daemon=True)
    process.start()
    return process


def finish(process, timeout: float) -> None:
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join(5)
        pytest.fail(f"worker {process.pid} did not finish within {timeout}s")
    assert process.exitcode == 0, f"worker {process.pid} exited with {process.exitcode}"


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_no_two_processes_ever_hold_one_device(lab, tmp_path):
    for i in range(WORKERS):
        lab.add_user(f"worker{i}")
    outputs = [tmp_path / f"worker{i}.json" for i in range(WORKERS)]
    processes = [start(stress_worker, lab.url, f"worker{i}", DEVICES, LOOPS,
                       str(outputs[i]), 1000 + i) for i in range(WORKERS)]
    for process in processes:
        finish(process, 120)

    records, failures = [], []
    for output in outputs:
        result = read(output)
        records += result["records"]
        failures += result["failures"]
    assert not failures, failures[:3]
    assert len(records) == WORKERS * LOOPS
    assert all(record["released"] for record in records)
    assert len({record["pid"] for record in records}) == WORKERS
    # The run did contend: some requests had to queue and were served from there.
    assert sum(record["waited"] for record in records) >= 5

    by_device = defaultdict(list)
    for record in records:
        by_device[record["device"]].append((record["start"], record["end"], record["pid"]))
    assert set(by_device) == set(DEVICES), "every device should have been used"
    overlaps = []
    for device, intervals in by_device.items():
        intervals.sort()
        for (s1, e1, p1), (s2, e2, p2) in zip(intervals, intervals[1:]):
            if s2 < e1:
                overlaps.append(f"{device}: pid {p1} held [{s1:.6f}, {e1:.6f}] and "
                                f"pid {p2} got it at {s2:.6f}")
    assert not overlaps, "\n".join(overlaps[:10])

    # Every lock ended with a release; nothing held, queued or open at the end.
    assert all(holder is None for holder in lab.holders().values()), lab.holders()
    with Session(lab.engine) as s:
        states = dict(s.execute(select(LockRequest.state, func.count())
                                .group_by(LockRequest.state)).all())
        sessions = dict(s.execute(select(LockSession.state, func.count())
                                  .group_by(LockSession.state)).all())
    assert states == {"granted": WORKERS * LOOPS}
    assert sessions == {"closed": WORKERS}


def test_waiter_in_another_process_is_granted_promptly_after_release(lab, tmp_path):
    lab.add_user("holder")
    lab.add_user("waiter")
    ready, go, waiting = SPAWN.Event(), SPAWN.Event(), SPAWN.Event()
    held_out, waited_out = tmp_path / "holder.json", tmp_path / "waiter.json"
    holder = start(holder_worker, lab.url, "holder", "dev1", ready, go, str(held_out))
    assert ready.wait(60), "the holder never got its lock"
    waiter = start(waiter_worker, lab.url, "waiter", "dev1", waiting, str(waited_out))
    assert waiting.wait(60), "the waiter never queued its request"
    time.sleep(0.5)  # the waiter is now blocked in wait_for
    assert waiter.is_alive()
    go.set()
    finish(holder, 30)
    finish(waiter, 30)
    released_at = read(held_out)["released_at"]
    result = read(waited_out)
    assert result["first_state"] == "waiting"
    assert result["state"] == "granted" and result["resources"] == ["dev1"]
    latency = result["done_at"] - released_at
    assert 0 < latency < 0.5, f"granted {latency:.3f}s after the release"


def test_lock_of_a_killed_process_goes_to_the_waiter_after_its_lease(lab, tmp_path):
    lab.add_user("doomed")
    lab.add_user("waiter")
    ready, go, waiting = SPAWN.Event(), SPAWN.Event(), SPAWN.Event()
    waited_out = tmp_path / "waiter.json"
    lease = 1.0
    holder = start(holder_worker, lab.url, "doomed", "dev2", ready, go,
                   str(tmp_path / "unused.json"), lease_seconds=lease,
                   heartbeat_every=0.2)
    assert ready.wait(60), "the holder never got its lock"
    waiter = start(waiter_worker, lab.url, "waiter", "dev2", waiting, str(waited_out))
    assert waiting.wait(60), "the waiter never queued its request"
    time.sleep(1.3)  # longer than the lease: the heartbeats keep the lock alive
    assert holder.is_alive() and waiter.is_alive()
    assert lab.row("dev2")["owner"] == "doomed"
    os.kill(holder.pid, signal.SIGKILL)
    killed_at = time.time()
    holder.join(10)
    assert holder.exitcode == -signal.SIGKILL
    # Nobody but the waiter calls the engine from here on.
    finish(waiter, 30)
    result = read(waited_out)
    assert result["first_state"] == "waiting"
    assert result["state"] == "granted", result
    delay = result["done_at"] - killed_at
    assert 0.5 < delay < lease + 1.5, f"granted {delay:.2f}s after the kill"
    with Session(lab.engine) as s:
        doomed = s.scalar(select(LockSession).join(LockSession.user)
                          .where(User.username == "doomed"))
        assert doomed.state == "expired"
