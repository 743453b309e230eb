"""Attacks on the group rules, run as a teammate would: an ordinary token
against the real server (gunicorn) over HTTP, on SQLite and PostgreSQL.

The lab: alice is in no group; carol is in group ``secret``; root is an admin.
``calc1`` and ``calc2`` are public devices, ``calc2`` wired (by an admin) to
``secret-worker``, a port of group ``secret`` whose comment holds a password;
``secret-dev`` is a device of group ``secret``; ``resdev`` is reserved for
carol; bob holds ``bob-port``. Each test fails if a hole of issue 24 reopens:
a resource alice may not see must behave, in every answer, as one that does
not exist, and nothing she does may give her one.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from rotest_app.engine import open_engine
from rotest_app.models import ApiToken, Group, ResourceData, User, db
from lab_plugin import DeviceData, PortData
from server_process import ROOT, GunicornServer, server_env

SECRET = "password=hunter2-xyz"
PEOPLE = {"alice": (), "bob": (), "carol": ("secret",), "root": ()}


def seed(database_url: str) -> dict[str, Any]:
    """The lab above; returns the tokens and the ids of the resources."""
    engine = open_engine(database_url)
    db.metadata.create_all(engine)
    with Session(engine) as session:
        secret = Group(name="secret")
        tokens = {}
        for name, groups in PEOPLE.items():
            user = User(username=name, is_admin=name == "root",
                        groups=[secret] if groups else [])
            token, tokens[name] = ApiToken.issue(user, "attack")
            session.add(token)
        worker = PortData(name="secret-worker", group=secret, comment=SECRET)
        session.add_all([
            DeviceData(name="calc1"), DeviceData(name="calc2", port=worker),
            DeviceData(name="secret-dev", group=secret, comment=SECRET),
            DeviceData(name="resdev", reserved="carol", comment=SECRET),
            PortData(name="bob-port", comment="bob's own notes"),
        ])
        session.commit()
        ids = {r.name: r.id for r in session.scalars(select(ResourceData))}
    engine.dispose()
    return {"tokens": tokens, "ids": ids}


class Client:
    """One user's token against the live server."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url + "/api/v1"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: Any) -> requests.Response:
        response = self.http.post(self.url + path, json=body, timeout=30)
        assert response.status_code != 500, response.text
        return response

    def session(self) -> str:
        return self.post("/sessions", {"lease_seconds": 60}).json()["id"]

    def lock(self, session: str, type_name: str, timeout: float = 0,
             **properties: Any) -> requests.Response:
        return self.post("/locks", {"session_id": session, "timeout": timeout,
                                    "descriptors": [{"type": type_name,
                                                     "properties": properties}]})

    def query(self, type_name: str, **filters: Any) -> requests.Response:
        return self.post("/query", {"type": type_name, "filters": filters})

    def update(self, type_name: str, filters: dict, values: dict) -> requests.Response:
        return self.post("/update_fields", {"type": type_name, "filters": filters,
                                            "values": values})

    def release(self, *names: str) -> requests.Response:
        return self.post("/release", {"resources": list(names)})


@pytest.fixture
def lab(database_url, tmp_path):
    seeded = seed(database_url)
    env = server_env(database_url, tmp_path / "workdir")
    with GunicornServer(env, workers=1, threads=4, log=tmp_path / "gunicorn.log",
                        cwd=ROOT) as server:
        people = {name: Client(server.url, token)
                  for name, token in seeded["tokens"].items()}
        people["ids"] = seeded["ids"]
        people["database_url"] = database_url
        yield people
        for name in PEOPLE:
            people[name].http.close()


def owners(database_url: str) -> dict[str, str]:
    engine = open_engine(database_url)
    with Session(engine) as session:
        found = {r.name: r.owner for r in session.scalars(select(ResourceData))}
    engine.dispose()
    return found


def answer(response: requests.Response, *names: str) -> tuple[int, str]:
    """Status and body with the given names blanked: what tells a hidden
    resource from a missing one, if anything."""
    text = response.text
    for name in names:
        text = text.replace(name, "NAME")
    return response.status_code, re.sub(r'"id": ?\d+', '"id": N', text)


# -- 1. one rule on every path ---------------------------------------------------

def test_update_fields_cannot_point_a_held_resource_at_a_hidden_one(lab):
    """The issue's attack: rewire calc1 to a secret port, read its fields back,
    then own it by locking calc1 again."""
    alice = lab["alice"]
    session = alice.session()
    assert alice.lock(session, "DeviceData", name="calc1").status_code == 200
    rewired = alice.update("DeviceData", {"name": "calc1"},
                           {"port_id": lab["ids"]["secret-worker"]})
    assert rewired.status_code == 403, rewired.text
    assert "hunter2" not in rewired.text and "secret-worker" not in rewired.text
    assert alice.release("calc1").status_code == 200
    again = alice.lock(session, "DeviceData", name="calc1")
    assert again.status_code == 200 and "hunter2" not in again.text
    assert owners(lab["database_url"])["secret-worker"] == ""


def test_update_fields_cannot_point_at_what_another_user_holds(lab):
    alice, bob = lab["alice"], lab["bob"]
    assert bob.lock(bob.session(), "PortData", name="bob-port").status_code == 200
    assert alice.lock(alice.session(), "DeviceData", name="calc1").status_code == 200
    rewired = alice.update("DeviceData", {"name": "calc1"},
                           {"port_id": lab["ids"]["bob-port"]})
    assert rewired.status_code == 403, rewired.text
    assert "bob's own notes" not in rewired.text
    calc1, = alice.query("DeviceData", name="calc1").json()["resources"]
    assert calc1["port"] is None and calc1["port_id"] is None
    # Wired by an admin, calc1 is not available while bob holds its part.
    root = lab["root"]
    alice.release("calc1")
    wired = root.update("DeviceData", {"name": "calc1"},
                        {"port_id": lab["ids"]["bob-port"]})
    assert wired.status_code == 200, wired.text
    taken = alice.lock(alice.session(), "DeviceData", name="calc1")
    assert taken.status_code == 409 and taken.json()["error"] == "unavailable"
    assert owners(lab["database_url"])["bob-port"] == "bob"


def test_a_resource_made_of_a_hidden_part_is_hidden_whole(lab):
    """calc2 is public but made of a secret port: for alice it does not exist
    (showing it would show the port), and no grant gives her the port."""
    alice = lab["alice"]
    for path, body in [("/query", {"type": "DeviceData", "filters": {"name": "calc2"}}),
                       ("/update_fields", {"type": "DeviceData", "values": {"mode": "x"},
                                           "filters": {"name": "calc2"}})]:
        shown = alice.post(path, body)
        # (a query's answer also says no page follows: {"more": false, ...})
        assert shown.status_code == 200 and shown.json()["resources"] == []
        assert shown.json().get("more", False) is False
    taken = alice.lock(alice.session(), "DeviceData", name="calc2")
    nothing = alice.lock(alice.session(), "DeviceData", name="no-such")
    assert taken.status_code == 404
    assert answer(taken, "calc2") == answer(nothing, "no-such")
    assert answer(alice.release("calc2"), "calc2") == answer(alice.release("no-such"),
                                                              "no-such")
    assert owners(lab["database_url"])["secret-worker"] == ""
    # carol, in group secret, may take the whole of it.
    carol = lab["carol"]
    assert carol.lock(carol.session(), "DeviceData", name="calc2").status_code == 200
    assert owners(lab["database_url"])["secret-worker"] == "carol"


# -- 2. no oracle ------------------------------------------------------------------

def test_locking_a_hidden_resource_answers_as_locking_nothing(lab):
    """403 "belongs to group secret" against 404 told hidden from missing."""
    alice = lab["alice"]
    session = alice.session()
    for hidden in ("secret-dev", "resdev"):
        for timeout in (0, 5):
            seen = alice.lock(session, "DeviceData", timeout=timeout, name=hidden)
            missing = alice.lock(session, "DeviceData", timeout=timeout, name="no-such")
            assert seen.status_code == 404
            assert answer(seen, hidden) == answer(missing, "no-such")


def test_releasing_a_hidden_resource_answers_as_releasing_nothing(lab):
    alice, carol = lab["alice"], lab["carol"]
    assert carol.lock(carol.session(), "DeviceData", name="secret-dev").status_code == 200
    for hidden in ("secret-dev", "secret-worker"):
        seen, missing = alice.release(hidden), alice.release("no-such")
        assert seen.status_code == 404
        assert answer(seen, hidden) == answer(missing, "no-such")
    assert owners(lab["database_url"])["secret-dev"] == "carol"


def test_update_fields_of_hidden_resources_answers_as_of_nothing(lab):
    alice = lab["alice"]
    assert alice.lock(alice.session(), "DeviceData", name="calc1").status_code == 200
    for filters, missing in [({"name": "secret-dev"}, {"name": "no-such"}),
                             ({"name__in": ["calc1", "secret-dev"]},
                              {"name__in": ["calc1", "no-such"]})]:
        seen = alice.update("DeviceData", filters, {"comment": "mine"})
        nothing = alice.update("DeviceData", missing, {"comment": "mine"})
        assert answer(seen, "secret-dev") == answer(nothing, "no-such")
        assert "secret-dev" not in seen.text and "hunter2" not in seen.text
    calc1, = alice.query("DeviceData", name="calc1").json()["resources"]
    assert calc1["comment"] == "mine"
    root = lab["root"]
    secret_dev, = root.query("DeviceData", name="secret-dev").json()["resources"]
    assert secret_dev["comment"] == SECRET


GUESSES = [  # (a right guess, a wrong one) about a hidden resource
    ({"name": "secret-dev", "comment__startswith": "password="},
     {"name": "secret-dev", "comment__startswith": "nope"}),
    ({"name": "resdev", "comment__startswith": "password="},
     {"name": "resdev", "comment__startswith": "nope"}),
    ({"name": "calc2", "port__comment__startswith": "password="},
     {"name": "calc2", "port__comment__startswith": "nope"}),
    ({"name": "calc2", "port__name": "secret-worker"},
     {"name": "calc2", "port__name": "nope"}),
    ({"name": "calc2", "port__isnull": False}, {"name": "calc2", "port__isnull": True}),
]
GUESS_WORDS = ("nope", "password=", "secret-worker", "True", "False", "true", "false")


def test_filters_cannot_read_a_hidden_resource_back(lab):
    """The comment-guessing oracle: a right guess and a wrong one answer alike
    in query, lock and update_fields."""
    alice = lab["alice"]
    session = alice.session()

    def answers(filters: dict) -> list[tuple[int, str]]:
        return [answer(alice.query("DeviceData", **filters), *GUESS_WORDS),
                answer(alice.lock(session, "DeviceData", **filters), *GUESS_WORDS),
                answer(alice.update("DeviceData", filters, {"comment": "x"}),
                       *GUESS_WORDS)]
    for right, wrong in GUESSES:
        assert answers(right) == answers(wrong), right


ENGINE_FILTERS = [("session_id__startswith", None), ("session_id", None),
                  ("owner_time__gt", "2000-01-01T00:00:00"),
                  ("reserved_time__isnull", False), ("owner", "bob")]


def test_engine_fields_are_not_filterable_by_non_admins(lab):
    """The session-id oracle: bob's session id cannot be read back with
    session_id__startswith; engine fields answer as unknown fields."""
    alice, bob, root = lab["alice"], lab["bob"], lab["root"]
    bob_session = bob.session()
    assert bob.lock(bob_session, "DeviceData", name="calc1").status_code == 200
    for lookup, value in ENGINE_FILTERS:
        value = bob_session[:1] if value is None else value
        field, _, operator = lookup.partition("__")
        unknown_lookup = "nosuchfield" + (f"__{operator}" if operator else "")
        probed = alice.query("DeviceData", **{lookup: value})
        unknown = alice.query("DeviceData", **{unknown_lookup: value})
        assert probed.status_code == 400, lookup
        assert answer(probed, lookup, field) == \
            answer(unknown, unknown_lookup, "nosuchfield")
        locked = alice.lock(alice.session(), "DeviceData", **{lookup: value})
        assert locked.status_code == 400, lookup
        assert root.query("DeviceData", **{lookup: value}).status_code == 200, lookup


# -- 8. text operators on columns that are not text --------------------------------

TEXT_ON_OTHERS = [("id__startswith", "1"), ("id__contains", "1"),
                  ("is_usable__iexact", "true"), ("port__number__endswith", "0"),
                  ("owner_time__istartswith", "2"), ("dirty__icontains", "f"),
                  ("group__id__startswith", "1")]


def test_text_operator_on_a_non_text_column_is_400(lab):
    """500 on PostgreSQL and 200 on SQLite before: 400 on both."""
    root = lab["root"]  # an admin, who may filter on every field
    session = root.session()
    for lookup, value in TEXT_ON_OTHERS:
        queried = root.query("DeviceData", **{lookup: value})
        assert queried.status_code == 400, (lookup, queried.text)
        body = queried.json()
        assert body["error"] == "invalid_request" and "text" in body["message"]
        assert body["details"]["field"] == lookup
        locked = root.lock(session, "DeviceData", **{lookup: value})
        assert locked.status_code == 400 and locked.json()["details"]["field"] == lookup
    # Text columns keep them.
    assert root.query("DeviceData", name__startswith="calc").status_code == 200


def test_order_on_a_true_or_false_field_is_400_not_500(lab):
    """SQL has no order on true or false: ``is_usable__gt`` was a 500 (found by
    the contract fuzzer, tests/test_api_contract.py)."""
    for lookup in ("is_usable__gt", "dirty__lte"):
        queried = lab["root"].query("DeviceData", **{lookup: True})
        assert queried.status_code == 400, (lookup, queried.text)
        assert "true-or-false" in queried.json()["message"]
