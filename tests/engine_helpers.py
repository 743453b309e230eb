"""Helpers for the lock-engine tests: a lab database opened the way the
embedded client opens it, users acting through the engine, and the worker
functions the concurrency tests run in separate (spawned) processes.

Every engine call gets its own ``sqlalchemy.orm.Session`` and loads the acting
``User`` in that same Session, as the embedded client does.
"""
from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import lab_plugin  # noqa: F401 - maps the plugin's tables before create_all
from rotest_app import engine as lock_engine
from rotest_app.engine import notify, open_engine
from rotest_app.models import Group, LockRequest, LockSession, ResourceData, User, db


def dev(**properties: Any) -> dict[str, Any]:
    return {"type": "DeviceData", "properties": properties}


def port(**properties: Any) -> dict[str, Any]:
    return {"type": "PortData", "properties": properties}


def lic(**properties: Any) -> dict[str, Any]:
    return {"type": "LicenseData", "properties": properties}


class Lab:
    """One database with the lab plugin's tables, seen through the engine."""

    def __init__(self, url: str, create: bool = True) -> None:
        self.url = url
        self.engine = open_engine(url)
        if create:
            db.metadata.create_all(self.engine)

    def dispose(self) -> None:
        forget = getattr(notify, "forget", None)
        if forget is not None:  # stop this database's notification listener
            forget(self.engine)
        self.engine.dispose()

    # -- set-up, straight into the database -------------------------------
    def add_group(self, name: str) -> int:
        with Session(self.engine) as s:
            group = Group(name=name)
            s.add(group)
            s.commit()
            return group.id

    def add_user(self, username: str, *, is_admin: bool = False,
                 groups: tuple[str, ...] = ()) -> "Actor":
        with Session(self.engine) as s:
            user = User(username=username, is_admin=is_admin)
            user.groups = [s.scalar(select(Group).filter_by(name=g)) for g in groups]
            s.add(user)
            s.commit()
        return Actor(self, username)

    def add(self, model: type[ResourceData], name: str, **fields: Any) -> int:
        """A resource; ``port="p1"`` / ``group="qa"`` name related rows."""
        with Session(self.engine) as s:
            if "port" in fields and isinstance(fields["port"], str):
                fields["port"] = s.scalar(select(ResourceData).filter_by(name=fields["port"]))
            if "group" in fields and isinstance(fields["group"], str):
                fields["group"] = s.scalar(select(Group).filter_by(name=fields["group"]))
            resource = model(name=name, **fields)
            s.add(resource)
            s.commit()
            return resource.id

    # -- reading the database directly, not through the engine ------------
    def row(self, name: str) -> dict[str, Any]:
        with Session(self.engine) as s:
            r = s.scalar(select(ResourceData).filter_by(name=name))
            assert r is not None, name
            return {"owner": r.owner, "session_id": r.session_id, "dirty": r.dirty,
                    "is_usable": r.is_usable, "owner_time": r.owner_time,
                    "reserved": r.reserved, "comment": r.comment,
                    "mode": getattr(r, "mode", None)}

    def holders(self) -> dict[str, str | None]:
        """{resource name: session id holding it (or None)} for every resource."""
        with Session(self.engine) as s:
            return {r.name: r.session_id for r in s.scalars(select(ResourceData))}

    def request_state(self, request_id: int) -> str:
        with Session(self.engine) as s:
            return s.get(LockRequest, request_id).state

    def session_state(self, session_id: str) -> str:
        with Session(self.engine) as s:
            return s.get(LockSession, session_id).state

    def waiting_requests(self) -> int:
        with Session(self.engine) as s:
            return len(list(s.scalars(select(LockRequest).filter_by(
                state=LockRequest.WAITING))))

    def sweep(self) -> int:
        with Session(self.engine) as s:
            return lock_engine.sweep(s)


class Actor:
    """A user calling the engine: ``alice.request_lock(sid, [...])`` calls
    ``rotest_app.engine.request_lock(session, alice, sid, [...])`` in a fresh Session,
    with the User loaded in that Session."""

    OPERATIONS = {"open_session", "heartbeat", "close_session", "request_lock",
                  "get_request", "wait_for", "cancel", "release", "query",
                  "update_fields"}

    def __init__(self, lab: Lab, username: str, *, keep_session: bool = False) -> None:
        """With ``keep_session``, one long-lived Session (and the User loaded
        in it once) serves every call, as a client process would keep it;
        otherwise every call gets a fresh Session."""
        self.lab, self.username = lab, username
        self._kept: tuple[Session, User] | None = None
        if keep_session:
            s = Session(lab.engine)
            self._kept = (s, s.scalar(select(User).filter_by(username=username)))

    def __getattr__(self, name: str):
        if name not in self.OPERATIONS:
            raise AttributeError(name)
        function = getattr(lock_engine, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._kept is not None:
                return function(*self._kept, *args, **kwargs)
            with Session(self.lab.engine) as s:
                user = s.scalar(select(User).filter_by(username=self.username))
                return function(s, user, *args, **kwargs)
        return call

    def session(self, lease_seconds: float = 60.0) -> str:
        return self.open_session(lease_seconds=lease_seconds)["id"]

    def lock(self, session_id: str, descriptors: list[dict], **kwargs: Any) -> dict:
        return self.request_lock(session_id, descriptors, **kwargs)

    def names(self, answer: dict) -> list[str]:
        assert answer["state"] == "granted", answer
        return [r["name"] for r in answer["resources"]]


# ---------------------------------------------------------------------------
# Workers for the multi-process tests. They run in spawned processes, so they
# take only picklable arguments and open their own engine.
# ---------------------------------------------------------------------------

def _actor(url: str, username: str) -> Actor:
    return Actor(Lab(url, create=False), username, keep_session=True)


def stress_worker(url: str, username: str, devices: list[str], loops: int,
                  out_path: str, seed: int) -> None:
    """Lock a device (a named one or any), hold it briefly, release it; record
    (pid, device, t_granted, t_before_release) of every hold, one JSON line
    each, in this worker's own file."""
    rng = random.Random(seed)
    me = _actor(url, username)
    sid = me.session(lease_seconds=60)
    records, failures = [], []
    for _ in range(loops):
        wanted = dev(name=rng.choice(devices)) if rng.random() < 0.5 else dev()
        answer = me.request_lock(sid, [wanted], timeout=8.0)
        waited = answer["state"] == "waiting"
        if waited:
            answer = me.wait_for(answer["id"], 10.0)
        if answer["state"] != "granted":
            failures.append(answer)
            continue
        t_start = time.monotonic()
        name = answer["resources"][0]["name"]
        time.sleep(rng.uniform(0, 0.004))
        t_end = time.monotonic()
        released = me.release([name])
        records.append({"pid": os.getpid(), "device": name, "start": t_start,
                        "end": t_end, "released": released == [name],
                        "waited": waited})
    me.close_session(sid)
    with open(out_path, "w") as out:
        json.dump({"records": records, "failures": failures}, out)


def holder_worker(url: str, username: str, device: str, ready, go, out_path: str,
                  lease_seconds: float = 30.0, heartbeat_every: float | None = None
                  ) -> None:
    """Lock ``device``, say so on ``ready``; then either wait for ``go`` and
    release it (recording the time just before the release call), or, with
    ``heartbeat_every``, keep the lease alive until killed."""
    me = _actor(url, username)
    sid = me.session(lease_seconds=lease_seconds)
    answer = me.request_lock(sid, [dev(name=device)])
    assert answer["state"] == "granted", answer
    ready.set()
    if heartbeat_every is not None:
        while True:  # until SIGKILL
            time.sleep(heartbeat_every)
            me.heartbeat(sid)
    go.wait(30)
    t_release = time.time()
    me.release([device])
    with open(out_path, "w") as out:
        json.dump({"released_at": t_release}, out)


def waiter_worker(url: str, username: str, device: str, waiting, out_path: str,
                  max_wait: float = 20.0) -> None:
    """Ask for ``device`` with a long timeout, say so on ``waiting`` once the
    request is queued, block in wait_for, record when it returned."""
    me = _actor(url, username)
    sid = me.session(lease_seconds=60)
    answer = me.request_lock(sid, [dev(name=device)], timeout=max_wait)
    first_state = answer["state"]
    waiting.set()
    if answer["state"] == "waiting":
        answer = me.wait_for(answer["id"], max_wait)
    t_done = time.time()
    with open(out_path, "w") as out:
        json.dump({"first_state": first_state, "state": answer["state"],
                   "message": answer.get("message", ""), "done_at": t_done,
                   "resources": [r["name"] for r in answer.get("resources", [])]}, out)
    if answer["state"] == "granted":
        me.release([device])
    me.close_session(sid)
