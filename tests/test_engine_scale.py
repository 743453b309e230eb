"""The queue's promises where the engine now cuts corners for speed: a release
serves only the waiters its freed resources may serve, candidates are chosen
in SQL with blocking as a SQL condition, and rows are read FOR UPDATE SKIP
LOCKED on PostgreSQL. Each test here fails if such a shortcut skips a waiter
it owes, or grants past one. On SQLite and PostgreSQL."""
from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

import lab_plugin as lab_models
from rotest_app.models import LockRequest, ResourceData
from engine_helpers import Lab, dev, port


@pytest.fixture
def lab(database_url):
    """Devices d0..d9 (d0..d2 wired to ports p0..p2), users u0..u3."""
    lab = Lab(database_url)
    lab.users = [lab.add_user(f"u{i}") for i in range(4)]
    lab.root = lab.add_user("root", is_admin=True)
    for i in range(3):
        lab.add(lab_models.PortData, f"p{i}", number=i)
    for i in range(10):
        lab.add(lab_models.DeviceData, f"d{i}", **({"port": f"p{i}"} if i < 3 else {}))
    yield lab
    lab.dispose()


def granted_to(lab: Lab, request_ids: dict[int, str]) -> dict[str, str]:
    """{label: state} of the requests."""
    return {label: lab.request_state(rid) for rid, label in request_ids.items()}


def test_many_waiters_are_served_by_priority_then_arrival(lab):
    """60 waiters of four users for "any device", with mixed priorities and
    some for a named device: as the holder lets devices go one at a time, each
    goes to the first waiter (priority, then arrival) that may use it."""
    holder = lab.root
    hsid = holder.session()
    holder.lock(hsid, [dev(name__in=[f"d{i}" for i in range(10)])] * 10)
    rng = random.Random(7)
    sessions = [user.session() for user in lab.users]
    queue = []  # (priority, arrival, request id, wanted name or None)
    for arrival in range(60):
        who = arrival % 4
        priority = rng.choice([0, 0, 0, 1, -1])
        named = f"d{rng.randrange(10)}" if rng.random() < 0.2 else None
        answer = lab.users[who].lock(sessions[who], [dev(name=named) if named else dev()],
                                     timeout=600, priority=priority)
        assert answer["state"] == "waiting"
        queue.append((-priority, arrival, answer["id"], named, who))
    queue.sort()
    for step in range(20):
        name = f"d{rng.randrange(10)}"
        if lab.row(name)["owner"] != "root":
            continue
        holder.release([name], force=True)
        # The first waiter in queue order that may use this device got it.
        expected = next(entry for entry in queue if entry[3] in (None, name))
        state = lab.request_state(expected[2])
        assert state == "granted", (step, name, expected)
        assert lab.row(name)["owner"] == f"u{expected[4]}"
        queue.remove(expected)
        assert all(lab.request_state(entry[2]) == "waiting" for entry in queue[:10])


def test_a_release_serves_the_waiter_that_can_use_it_and_nobody_past_a_blocker(lab):
    root = lab.root
    sid = root.session()
    root.lock(sid, [dev(name="d3")])
    root.lock(sid, [dev(name="d4")])
    root.lock(sid, [dev(name="d5")])
    for i in range(6, 10):
        root.lock(sid, [dev(name=f"d{i}")])
    for i in range(3):
        root.lock(sid, [dev(name=f"d{i}")])
    u0, u1, u2, u3 = lab.users
    # u0 wants two devices of d3..d5, u1 wants d4 alone, u2 any device, u3 d9.
    pair = u0.lock(u0.session(), [dev(name__in=["d3", "d4", "d5"])] * 2, timeout=600)
    alone = u1.lock(u1.session(), [dev(name="d4")], timeout=600)
    anyone = u2.lock(u2.session(), [dev()], timeout=600)
    nine = u3.lock(u3.session(), [dev(name="d9")], timeout=600)
    ids = {pair["id"]: "pair", alone["id"]: "alone", anyone["id"]: "any",
           nine["id"]: "nine"}
    # d9: u0's and u1's pools do not hold it; u2 (any device) comes before u3.
    root.release(["d9"])
    assert granted_to(lab, ids) == {"pair": "waiting", "alone": "waiting",
                                    "any": "granted", "nine": "waiting"}
    # d4 is free now but promised to u0 (the pair needs two of d3..d5): u1 waits.
    root.release(["d4"])
    assert granted_to(lab, ids)["alone"] == "waiting"
    assert lab.row("d4")["owner"] == ""
    # A second of u0's pool frees: u0 takes both; u1 still waits for d4.
    root.release(["d5"])
    assert granted_to(lab, ids)["pair"] == "granted"
    assert {lab.row("d4")["owner"], lab.row("d5")["owner"]} == {"u0"}
    # u0 lets d4 go: u1, next in line for it, gets it (u3 waits for d9, taken).
    u0.release(["d4"])
    assert granted_to(lab, ids)["alone"] == "granted"
    assert granted_to(lab, ids)["nine"] == "waiting"


def test_a_device_whose_port_an_older_waiter_wants_is_not_granted_past_it(lab):
    """Blocking through a part: u0 waits for port p1 and device d5 (held);
    a younger request for d1 (made of p1) must wait, not take p1 from under u0."""
    root = lab.root
    root.lock(root.session(), [dev(name="d5")])
    u0, u1 = lab.users[:2]
    older = u0.lock(u0.session(), [port(name="p1"), dev(name="d5")], timeout=600)
    assert older["state"] == "waiting" and lab.row("p1")["owner"] == ""
    younger = u1.lock(u1.session(), [dev(name="d1")], timeout=600)
    assert younger["state"] == "waiting"
    assert lab.row("d1")["owner"] == "" and lab.row("p1")["owner"] == ""
    # Another device with a free port is granted at once: no head-of-line block.
    assert u1.names(u1.lock(u1.session(), [dev(name="d2")])) == ["d2"]
    root.release(["d5"], force=True)
    assert lab.request_state(older["id"]) == "granted"
    assert lab.request_state(younger["id"]) == "waiting"
    u0.release(["p1", "d5"])
    assert lab.request_state(younger["id"]) == "granted"
    assert lab.row("p1")["owner"] == "u1"


def test_waiters_with_many_distinct_pools_do_not_hide_a_free_resource(lab):
    """1,100 waiters, each for a device of its own (held): every one is
    a blocking condition when the queue is served (past SQLite's limit of
    1,000 for an expression's depth, were they one flat AND). A device none
    of them names is still granted at once, and the one each waits for
    reaches it. (SQLite only: the limit is its own, the logic is shared.)"""
    if not lab.url.startswith("sqlite"):
        pytest.skip("the expression depth limit is SQLite's")
    with Session(lab.engine) as s:
        s.execute(insert(ResourceData), [{"type": "DeviceData", "name": f"x{i}",
                                           "is_usable": True, "comment": "",
                                           "owner": "", "reserved": "",
                                           "dirty": False} for i in range(1100)])
        ids = s.scalars(select(ResourceData.id).where(ResourceData.name.like("x%"))).all()
        s.execute(insert(lab_models.DeviceData.__table__),
                  [{"id": i, "ip_address": "", "mode": "normal"} for i in ids])
        s.commit()
    root = lab.root
    rsid = root.session()
    with Session(lab.engine) as s:  # root holds them all
        s.execute(update(ResourceData).where(ResourceData.name.like("x%"))
                  .values(session_id=rsid, owner="root"))
        s.commit()
    u0 = lab.users[0]
    usid = u0.session()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with Session(lab.engine) as s:  # queued straight into the table: faster
        s.execute(insert(LockRequest), [
            {"session_id": usid, "priority": 0, "created": now, "state": "waiting",
             "deadline": now + timedelta(hours=1), "message": "",
             "descriptors": [dev(name=f"x{i}")]} for i in range(1100)])
        s.commit()
        waiting = {int(row.descriptors[0]["properties"]["name"][1:]): row.id
                   for row in s.execute(select(LockRequest.descriptors, LockRequest.id))}
    u1 = lab.users[1]
    assert u1.names(u1.lock(u1.session(), [dev(name__startswith="d")])) == ["d0"]
    for i in (1099, 0):
        root.release([f"x{i}"])
        assert lab.request_state(waiting[i]) == "granted"
    with Session(lab.engine) as s:
        states = [s.get(LockRequest, waiting[i]).state for i in range(1100)]
    assert states.count("waiting") == 1098


def test_a_row_another_transaction_holds_is_skipped_not_waited_for(lab):
    """PostgreSQL: an admin's transaction holds d3's row (FOR UPDATE). A lock
    for any device takes another one at once instead of queueing behind that
    row lock, and nothing is granted twice."""
    if not lab.url.startswith("postgresql"):
        pytest.skip("row locks and SKIP LOCKED are PostgreSQL's")
    dsn = lab.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as admin:
        admin.execute("SELECT id FROM resource WHERE name = 'd3' FOR UPDATE")
        results = []
        u0 = lab.users[0]
        sid = u0.session()
        worker = threading.Thread(target=lambda: results.append(
            u0.lock(sid, [dev(name__in=["d3", "d4"])], timeout=0)))
        worker.start()
        worker.join(20)
        blocked = worker.is_alive()
        admin.rollback()
        worker.join(20)
    assert not blocked, "the lock waited for another transaction's row lock"
    assert u0.names(results[0]) == ["d4"]
    assert lab.row("d3")["owner"] == ""
