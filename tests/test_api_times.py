"""Every time the API writes is RFC 3339 with its UTC offset, as the document's
``format: date-time`` promises: a realistic flow through sessions, locks,
resources, signatures, runs and records, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import re
from datetime import datetime
from importlib.resources import files
from typing import Any, Iterator

from api_helpers import descriptor, lab  # noqa: F401 - lab is a fixture
from test_history_api import RECORDS

#: RFC 3339's date-time: a "T", and a "Z" or a numeric offset, never a bare local time.
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
LOOKS_LIKE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def date_time_keys() -> set[str]:
    """The property names the document declares ``format: date-time``."""
    document = json.loads(files("rotest_app.api").joinpath("openapi.json").read_text("utf-8"))
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, schema in node.get("properties", {}).items():
                if "date-time" in json.dumps(schema):
                    keys.add(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document["components"]["schemas"])
    return keys


def times_in(answer: Any, keys: set[str], where: str = "") -> Iterator[tuple[str, str]]:
    """(where, text) of every time in an answer: under a date-time key, or any
    text that looks like a time."""
    if isinstance(answer, dict):
        for name, value in answer.items():
            if name in keys and isinstance(value, str):
                yield f"{where}.{name}", value
            else:
                yield from times_in(value, keys, f"{where}.{name}")
    elif isinstance(answer, list):
        for index, value in enumerate(answer):
            yield from times_in(value, keys, f"{where}[{index}]")
    elif isinstance(answer, str) and LOOKS_LIKE_TIME.match(answer):
        yield where, answer


def is_rfc3339(text: str) -> bool:
    if not RFC3339.fullmatch(text):
        return False
    return datetime.fromisoformat(text).utcoffset() is not None


def realistic_flow(lab) -> list[tuple[str, Any]]:  # noqa: F811 - the fixture's value
    """Answers of one day's use of the API: (route, JSON answer)."""
    alice, bob = lab["alice"], lab["bob"]
    answers: list[tuple[str, Any]] = []

    def keep(route: str, response) -> Any:
        assert response.status_code < 400, (route, response.json)
        answers.append((route, response.json))
        return response.json

    session = keep("open session", alice.post("/sessions", {"description": "nightly"}))
    keep("heartbeat", alice.post(f"/sessions/{session['id']}/heartbeat"))
    granted = keep("lock", alice.lock(session["id"], descriptor("DeviceData", name="dev1")))
    keep("get lock", alice.get(f"/locks/{granted['id']}"))
    other = bob.open_session()
    waiting = keep("wait", bob.lock(other, descriptor("DeviceData", name="dev1"),
                                    timeout=60))
    keep("poll", bob.get(f"/locks/{waiting['id']}"))
    keep("cancel", bob.delete(f"/locks/{waiting['id']}"))
    keep("query", alice.post("/query", {"type": "DeviceData"}))
    keep("update", alice.post("/update_fields", {"type": "DeviceData",
                                                 "filters": {"name": "dev1"},
                                                 "values": {"comment": "flaky"}}))
    keep("release", alice.release("dev1"))
    signature = keep("signature", alice.post("/signatures", {"pattern": "boom",
                                                             "name": "Boom"}))
    keep("hit", alice.post(f"/signatures/{signature['id']}/hits"))
    keep("signatures", alice.get("/signatures"))
    run = keep("start run", alice.post("/runs", {"name": "nightly",
                                                 "start": "2026-11-21T09:00:00+02:00"}))
    keep("records", alice.post(f"/runs/{run['id']}/records", {"records": RECORDS}))
    keep("finish", alice.post(f"/runs/{run['id']}/finish",
                              {"end": "2026-11-21T07:01:00Z"}))
    keep("run", alice.get(f"/runs/{run['id']}"))
    keep("runs", alice.get("/runs?name=nightly"))
    keep("latest", alice.get("/runs/latest?name=nightly"))
    keep("close", alice.delete(f"/sessions/{session['id']}"))
    return answers


def test_every_time_in_every_answer_carries_its_offset(lab):  # noqa: F811
    keys = date_time_keys()
    assert {"created", "last_seen", "expires_at", "start", "end"} <= keys
    found = [(route + where, text) for route, answer in realistic_flow(lab)
             for where, text in times_in(answer, keys)]
    assert not [(where, text) for where, text in found if not is_rfc3339(text)]
    # The flow did write times of each kind (so the check above checked them).
    named = {where.rsplit(".", 1)[-1] for where, _ in found}
    assert {"created", "last_seen", "expires_at", "deadline", "start", "end",
            "owner_time", "lease_until"} <= named, named
    # A time sent with another offset comes back as the same moment, in UTC.
    starts = [text for where, text in found if where == "start run.start"]
    assert starts == ["2026-11-21T07:00:00.000Z"]


def test_the_strict_check_refuses_times_without_an_offset():
    assert is_rfc3339("2026-12-04T17:34:28.202Z")
    assert is_rfc3339("2026-12-04T17:34:28+02:00")
    assert not is_rfc3339("2026-12-04T17:34:28.202141")
    assert not is_rfc3339("2026-12-04 17:34:28Z")


def test_times_are_stored_and_read_back_aware_in_utc(app):
    """A time given in another zone is stored as its UTC moment and read back
    aware (PostgreSQL's timestamptz, SQLite's UTC text); a naive one is UTC."""
    from datetime import timedelta, timezone

    from rotest_app.models import LockSession, User, db
    with app.app_context():
        user = User(username="zoned")
        db.session.add(user)
        paris = timezone(timedelta(hours=1))
        session = LockSession(user=user, expires_at=datetime(2026, 12, 4, 13, 0, tzinfo=paris),
                              ended=datetime(2026, 12, 4, 12, 30))
        db.session.add(session)
        db.session.commit()
        db.session.expire_all()
        stored = db.session.get(LockSession, session.id)
        assert stored.expires_at == datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
        assert stored.expires_at.utcoffset() == timedelta(0)
        assert stored.ended == datetime(2026, 12, 4, 12, 30, tzinfo=timezone.utc)
        # Compared in SQL as moments, not as texts of different zones.
        assert db.session.scalar(db.select(LockSession.id).where(
            LockSession.expires_at < datetime(2026, 12, 4, 13, 30, tzinfo=paris))) == session.id
