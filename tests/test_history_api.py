"""The run history's API routes through Flask's test client, on SQLite and
PostgreSQL: the life of a run, the tree, --delta's lookup, auth, bad input."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy.orm import Session

from api_helpers import Api, api_for
from rotest_app.engine import history
from rotest_app.engine.serialize import timestamp
from rotest_app.models import ApiToken, HistoryRun, User, db, utcnow
from rotest_reports.record import PASSING
from server_process import ThreadedServer
from test_admin import CSRF_INPUT, PASSWORD, add_user as add_person

START = "2026-11-21T09:00:00+02:00"


def case(path: str, outcome: str | None, parent: str | None = None, **extra) -> dict:
    return {"path": path, "parent": parent, "name": path.rsplit("/", 1)[-1],
            "kind": "case", "outcome": outcome, **extra}


def suite(path: str, parent: str | None = None) -> dict:
    return {"path": path, "parent": parent, "name": path.rsplit("/", 1)[-1],
            "kind": "suite", "outcome": None}


RECORDS = [
    suite("Outer"),
    case("Outer/A.test_ok", "success", "Outer", duration=1.5, tags=["smoke"],
         resources={"dev": "dev1"}, infos=["fine"]),
    suite("Outer/Inner", "Outer"),
    case("Outer/Inner/B.test_fails", "failure", "Outer/Inner",
         details=[["failure", "Traceback...\nAssertionError: no"]], duration=0.5),
    case("Outer/Inner/B.test_skip", "skip", "Outer/Inner", details=[["skip", "later"]]),
    case("Top.test_errors", "error", log="a log line\n"),
    {"path": "setUpClass (m.C)", "kind": "error", "outcome": "error",
     "details": [["error", "boom"]]},
]


@pytest.fixture
def alice(app) -> Api:
    return api_for(app, "alice")


def start(api: Api, name: str = "nightly", expect: int = 201, **body) -> dict:
    response = api.post("/runs", {"name": name, "host": "bench1", "start": START,
                                  "settings": {"workdir": "/tmp/w"}, **body})
    assert response.status_code == expect, response.json
    assert response.headers["Location"].endswith(f"/api/v1/runs/{response.json['id']}")
    return response.json


def recorded_run(api: Api, name: str = "nightly", records=RECORDS) -> int:
    run_id = start(api, name)["id"]
    response = api.post(f"/runs/{run_id}/records", {"records": records})
    assert response.status_code == 200, response.json
    finished = api.post(f"/runs/{run_id}/finish", {"end": "2026-11-21T07:01:00Z"})
    assert finished.status_code == 200, finished.json
    return run_id


def test_a_run_is_started_recorded_and_finished(alice):
    run = start(alice)
    assert run["status"] == "running" and run["end"] is None
    assert run["start"] == "2026-11-21T07:00:00.000Z"  # stored in UTC
    assert run["user"] == "alice" and run["host"] == "bench1"

    stored = alice.post(f"/runs/{run['id']}/records", {"records": RECORDS[:3]})
    assert stored.json["stored"] == 3 and stored.json["counts"]["success"] == 1
    alice.post(f"/runs/{run['id']}/records", {"records": RECORDS[3:]})
    finished = alice.post(f"/runs/{run['id']}/finish",
                          {"end": "2026-11-21T07:01:00Z", "artifact_path": "/a/run.zip"})
    assert finished.json["status"] == "failed"
    assert finished.json["duration"] == 60.0
    assert finished.json["artifact_path"] == "/a/run.zip"
    assert finished.json["counts"] == {"error": 2, "failure": 1, "unexpected_success": 0,
                                       "expected_failure": 0, "skip": 1, "success": 1}

    tree = alice.get(f"/runs/{run['id']}").json["records"]
    assert [node["path"] for node in tree] == ["Outer", "Top.test_errors",
                                               "setUpClass (m.C)"]
    outer = tree[0]
    assert [node["name"] for node in outer["children"]] == ["A.test_ok", "Inner"]
    ok = outer["children"][0]
    assert (ok["tags"], ok["resources"], ok["infos"], ok["duration"]) == (
        ["smoke"], {"dev": "dev1"}, ["fine"], 1.5)
    fails = outer["children"][1]["children"][0]
    assert fails["details"] == [["failure", "Traceback...\nAssertionError: no"]]
    assert tree[1]["log"] == "a log line\n"


def test_a_run_of_passes_has_passed(alice):
    run_id = recorded_run(alice, records=[suite("S"), case("S/a", "success", "S"),
                                          case("S/b", "expected_failure", "S"),
                                          case("S/c", "skip", "S")])
    assert alice.get(f"/runs/{run_id}").json["status"] == "passed"


def test_a_record_sent_again_is_updated_in_place(alice):
    run_id = start(alice)["id"]
    alice.post(f"/runs/{run_id}/records", {"records": RECORDS})
    again = case("Outer/Inner/B.test_fails", "success", "Outer/Inner",
                 reruns=[{"outcome": "failure", "details": [["failure", "no"]],
                          "duration": 0.5}])
    alice.post(f"/runs/{run_id}/records", {"records": [again]})
    tree = alice.get(f"/runs/{run_id}").json["records"]
    inner = tree[0]["children"][1]["children"]
    assert [node["name"] for node in inner] == ["B.test_fails", "B.test_skip"]
    assert inner[0]["outcome"] == "success"
    assert inner[0]["reruns"] == [{"outcome": "failure", "details": [["failure", "no"]],
                                   "duration": 0.5}]


def test_runs_are_listed_newest_first_by_name_and_paginated(alice):
    ids = [recorded_run(alice, name) for name in ("a", "b", "a", "a")]
    listed = alice.get("/runs?name=a&limit=2").json
    assert listed["total"] == 3
    assert [run["id"] for run in listed["runs"]] == [ids[3], ids[2]]
    assert [run["id"] for run in alice.get("/runs?name=a&limit=2&offset=2").json["runs"]] \
        == [ids[0]]
    assert alice.get("/runs").json["total"] == 4


def test_latest_says_what_passed_in_the_newest_run_finished_or_not(alice):
    assert alice.get("/runs/latest?name=nightly").json == {
        "run": None, "passed": [], "not_passed": []}
    recorded_run(alice)
    newer = start(alice)  # newer, not finished: it counts with what it recorded
    alice.post(f"/runs/{newer['id']}/records", {"records": [
        suite("Outer"), case("Outer/A.test_ok", "failure", "Outer"),
        case("Top.test_errors", "success")]})
    found = alice.get("/runs/latest?name=nightly").json
    assert found["run"]["id"] == newer["id"] and found["run"]["end"] is None
    assert found["passed"] == ["Top.test_errors"]
    assert found["not_passed"] == ["Outer/A.test_ok"]


def test_latest_is_the_store_s_newest_whatever_the_client_clock_says(alice):
    recorded_run(alice)
    behind = start(alice, start="2020-01-01T00:00:00Z")  # a client clock far behind
    assert alice.get("/runs/latest?name=nightly").json["run"]["id"] == behind["id"]


def test_a_delta_run_counts_what_it_did_not_run_as_its_base_ended(alice):
    base = recorded_run(alice)
    delta = start(alice, base=base)
    assert delta["base"] == base
    alice.post(f"/runs/{delta['id']}/records", {"records": [
        suite("Outer"), suite("Outer/Inner", "Outer"),
        case("Outer/Inner/B.test_fails", "success", "Outer/Inner")]})
    found = alice.get("/runs/latest?name=nightly").json
    assert found["run"]["id"] == delta["id"]
    assert found["passed"] == ["Outer/A.test_ok", "Outer/Inner/B.test_fails",
                               "Outer/Inner/B.test_skip"]
    assert found["not_passed"] == ["Top.test_errors", "setUpClass (m.C)"]
    assert all(outcome not in PASSING for outcome in ("failure", "error"))


@pytest.mark.parametrize("base, status", [(0, 400), ("1", 400), (True, 400),
                                          (99999, 404), (1, 404)])
def test_a_base_must_be_an_earlier_run_of_the_same_name(alice, base, status):
    assert recorded_run(alice, name="other") == 1
    answer = alice.post("/runs", {"name": "nightly", "base": base})
    assert answer.status_code == status, answer.json
    assert answer.json["details"]["field"] == "base", answer.json


def test_durations_average_over_recent_runs(alice):
    recorded_run(alice)
    recorded_run(alice, records=[suite("Outer"), case("Outer/A.test_ok", "success",
                                                      "Outer", duration=2.5)])
    durations = alice.get("/runs/durations?name=nightly").json["durations"]
    assert durations["Outer/A.test_ok"] == 2.0
    assert durations["Outer/Inner/B.test_fails"] == 0.5
    assert alice.get("/runs/durations?name=other").json == {"durations": {}}


def test_text_is_stored_whatever_it_holds(alice):
    # Tracebacks keep their end, where the exception's message is.
    hostile = "x" * 100_000 + "nul\x00 esc\x1b[31m ]]> <b> שלום"
    run_id = recorded_run(alice, records=[case("T.test", "failure",
                                               details=[["failure", hostile]])])
    [node] = alice.get(f"/runs/{run_id}").json["records"]
    text = node["details"][0][1]
    assert "\x00" not in text and "שלום" in text and len(text) < 70_000
    assert "characters cut" in text


# --- durability: idempotent starts and records, leases, cut texts --------------

UID = "3f2b9c0d4e5a6b7c8d9e0f1a2b3c4d5e"


def test_a_start_sent_again_with_its_uid_returns_the_same_run(alice):
    first = alice.post("/runs", {"name": "nightly", "uid": UID, "planned": 20})
    assert first.status_code == 201, first.json
    assert (first.json["uid"], first.json["planned"]) == (UID, 20)
    assert first.json["lease_until"] > first.json["start"]
    again = alice.post("/runs", {"name": "nightly", "uid": UID, "planned": 20})
    assert again.status_code == 200, again.json
    assert again.json == first.json
    assert again.headers["Location"].endswith(f"/api/v1/runs/{first.json['id']}")
    assert alice.get("/runs").json["total"] == 1


def test_a_uid_of_another_user_s_run_is_a_conflict(app, alice):
    start(alice, uid=UID)
    bob = api_for(app, "bob")
    taken = bob.post("/runs", {"name": "nightly", "uid": UID})
    assert taken.status_code == 409, taken.json
    assert taken.json["error"] == "conflict" and "another user" in taken.json["message"]
    assert alice.get("/runs").json["total"] == 1


def test_records_sent_again_double_nothing(alice):
    run_id = start(alice, uid=UID)["id"]
    first = alice.post(f"/runs/{run_id}/records", {"records": RECORDS}).json
    assert start(alice, uid=UID, expect=200)["id"] == run_id  # the journal's start, again
    again = alice.post(f"/runs/{run_id}/records", {"records": RECORDS}).json
    assert again["counts"] == first["counts"] and sum(first["counts"].values()) == 5
    tree = alice.get(f"/runs/{run_id}").json["records"]
    assert len(tree) == 3 and len(tree[0]["children"]) == 2
    assert alice.get("/runs").json["total"] == 1


def test_a_long_name_is_cut_and_blocks_nothing(alice):
    long_suite = "S" * 2100
    long_case = f"{long_suite}/{'t' * 2100}"
    run_id = start(alice, planned=3)["id"]
    records = [suite(long_suite), case(long_case, "success", long_suite),
               case("bad", "passed"), case("short", "success"),
               case("T." + "x" * 2100, "success")]
    answer = alice.post(f"/runs/{run_id}/records", {"records": records}).json
    assert answer["stored"] == 4 and [r["index"] for r in answer["refused"]] == [2]
    # Sent again (the journal), the long paths find their records: one each.
    again = alice.post(f"/runs/{run_id}/records", {"records": records[:2]}).json
    assert again["counts"]["success"] == 3
    finished = alice.post(f"/runs/{run_id}/finish", {})
    assert finished.json["status"] == "passed", finished.json
    tree = alice.get(f"/runs/{run_id}").json["records"]
    assert len(tree) == 3
    [child] = tree[0]["children"]  # the child found its cut parent
    assert len(child["path"]) <= 2000 and "characters cut" in child["path"]
    assert child["path"] != tree[0]["path"]
    assert "characters cut" in child["name"] and "characters cut" in tree[2]["name"]


def test_a_finish_with_fewer_tests_than_planned_has_failed(alice):
    nothing = start(alice, planned=20)["id"]
    assert alice.post(f"/runs/{nothing}/finish", {}).json["status"] == "failed"
    empty = start(alice)["id"]  # planned unknown: a run of no test is not green
    assert alice.post(f"/runs/{empty}/finish", {}).json["status"] == "failed"
    some = start(alice, planned=3)["id"]
    alice.post(f"/runs/{some}/records", {"records": [case("a", "success"),
                                                     case("b", "success")]})
    assert alice.post(f"/runs/{some}/finish", {}).json["status"] == "failed"
    alice.post(f"/runs/{some}/records", {"records": [case("c", "success")]})
    assert alice.get(f"/runs/{some}").json["status"] == "passed"  # all three came


def test_a_finish_is_idempotent_and_the_client_may_say_how_it_ended(alice):
    run_id = start(alice, planned=20)["id"]
    alice.post(f"/runs/{run_id}/records", {"records": [case("a", "success")]})
    first = alice.post(f"/runs/{run_id}/finish", {"status": "interrupted"})
    assert first.status_code == 200 and first.json["status"] == "interrupted"
    assert first.json["lease_until"] is None
    assert alice.post(f"/runs/{run_id}/finish", {"status": "interrupted"}).json \
        == first.json
    refused = alice.post(f"/runs/{run_id}/finish", {"status": "passed"})
    assert refused.status_code == 400 and refused.json["details"]["field"] == "status"


@pytest.mark.parametrize("body, field", [
    ({"uid": "short"}, "uid"), ({"uid": "has spaces in it"}, "uid"),
    ({"uid": "x" * 65}, "uid"), ({"uid": 12345678}, "uid"),
    ({"planned": -1}, "planned"), ({"planned": "20"}, "planned"),
    ({"lease": 9}, "lease"), ({"lease": 86401}, "lease"), ({"lease": 60.5}, "lease"),
])
def test_bad_uids_plans_and_leases_are_refused(alice, body, field):
    response = alice.post("/runs", {"name": "nightly", **body})
    assert response.status_code == 400, response.json
    assert response.json["details"]["field"] == field, response.json
    assert "must be" in response.json["message"], response.json  # a known key, checked
    assert alice.get("/runs").json["total"] == 0


def expire(app, run_id: int) -> str:
    """As if the run's lease had run out a minute ago; when, as the API says it."""
    moment = utcnow() - timedelta(minutes=1)
    with app.app_context():
        db.session.get(HistoryRun, run_id).lease_until = moment
        db.session.commit()
    return timestamp(moment)


def sweep(app) -> int:
    with app.app_context():
        return history.end_expired_runs(db.session())


def test_a_silent_run_is_aborted_with_what_it_recorded(app, alice):
    silent = start(alice, planned=20, lease=60)
    assert isinstance(silent["lease_until"], str)
    alive = start(alice, lease=60)["id"]
    alice.post(f"/runs/{silent['id']}/records", {"records": [
        case("a", "success"), case("b", "failure"), case("c", None)]})
    lease_end = expire(app, silent["id"])
    expire(app, alive)
    beat = alice.post(f"/runs/{alive}/records", {"records": []})  # a heartbeat
    assert beat.status_code == 200 and beat.json["stored"] == 0
    assert sweep(app) == 1 and sweep(app) == 0
    aborted = alice.get(f"/runs/{silent['id']}").json
    assert aborted["status"] == "aborted" and aborted["lease_until"] is None
    assert aborted["end"] == lease_end  # when it was last due to be heard from
    assert (aborted["counts"]["success"], aborted["counts"]["failure"]) == (1, 1)
    assert alice.get(f"/runs/{alive}").json["status"] == "running"


def test_an_aborted_run_takes_its_journal_and_its_finish_later(app, alice):
    run_id = start(alice, planned=2)["id"]
    alice.post(f"/runs/{run_id}/records", {"records": [case("a", "success")]})
    expire(app, run_id)
    sweep(app)
    late = alice.post(f"/runs/{run_id}/records", {"records": [case("a", "success"),
                                                              case("b", "success")]})
    assert late.status_code == 200 and late.json["counts"]["success"] == 2
    assert alice.get(f"/runs/{run_id}").json["status"] == "aborted"  # until it finishes
    finished = alice.post(f"/runs/{run_id}/finish", {"end": "2026-11-21T07:01:00Z"})
    assert finished.json["status"] == "passed", finished.json
    # A finished run that gets a failure late is failed.
    alice.post(f"/runs/{run_id}/records", {"records": [case("b", "failure")]})
    assert alice.get(f"/runs/{run_id}").json["status"] == "failed"


# --- auth and bad input ------------------------------------------------------

ROUTES = [("GET", "/runs"), ("POST", "/runs"), ("GET", "/runs/1"),
          ("POST", "/runs/1/records"), ("POST", "/runs/1/finish"),
          ("GET", "/runs/latest?name=x"), ("GET", "/runs/durations")]


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY  # authentication does not depend on the database
@pytest.mark.parametrize("method, path", ROUTES)
def test_every_route_needs_a_valid_token(app, method, path):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = Api(app, "unused").call(method, path, headers=headers)
        assert response.status_code == 401
        assert response.json["error"] == "unauthorized"


def test_only_its_recorder_or_an_admin_writes_to_a_run(app, alice):
    run_id = start(alice)["id"]
    bob, root = api_for(app, "bob"), api_for(app, "root", is_admin=True)
    refused = bob.post(f"/runs/{run_id}/records", {"records": RECORDS})
    assert refused.status_code == 403 and "another user" in refused.json["message"]
    assert bob.post(f"/runs/{run_id}/finish", {}).status_code == 403
    assert bob.get(f"/runs/{run_id}").status_code == 200  # reading is for all
    assert root.post(f"/runs/{run_id}/finish", {}).status_code == 200


@pytest.mark.parametrize("body, words", [
    ({}, ["'name' is required"]),
    ({"name": ""}, ["'name' must be 1 to 255 characters"]),
    ({"name": "x" * 256}, ["1 to 255 characters"]),
    ({"name": 3}, ["'name' must be a string"]),
    ({"name": "n", "start": "yesterday"}, ["'start' must be an ISO 8601 time"]),
    ({"name": "n", "colour": "red"}, ["unknown key 'colour'"]),
])
def test_bad_runs_are_refused(alice, body, words):
    response = alice.post("/runs", body)
    assert response.status_code == 400
    assert all(word in response.json["message"] for word in words), response.json


def test_a_batch_that_is_not_a_list_is_refused_whole(alice):
    run_id = start(alice)["id"]
    response = alice.post(f"/runs/{run_id}/records", {"records": "nope"})
    assert response.status_code == 400
    assert "'records' must be a list" in response.json["message"]


@pytest.mark.parametrize("bad, words", [
    ("nope", ["record 1 must be an object"]),
    ({"kind": "case"}, ["record 1: 'path' must be"]),
    ({**case("b", "success"), "kind": "test"},
     ["record 1: 'kind' must be one of suite, flow, case"]),
    (case("b", "passed"), ["'outcome' must be null or one of error"]),
    (case("a/b", "success", parent="a/x"),
     ["names the parent 'a/x', which is not recorded"]),
    (case("b", "success", parent="b"), ["'parent' must be another record's path"]),
    (case("b", "success", colour="red"), ["unknown key 'colour'"]),
    (case("b", "success", start="soon"), ["record 1: 'start' must be an ISO 8601"]),
    (case("b", "success", details=[["oops", "x"]]), ["[outcome, text] pairs"]),
    (case("b", "success", duration="1s"), ["'duration' must be a number"]),
    (case("b", "success", tags="smoke"), ["'tags' must be a list"]),
    (case("b", "success", lock_wait=-1.0), ["'lock_wait' must be a number of seconds, "
                                            "not negative"]),
    (case("b", "success", setup_time="2s"), ["'setup_time' must be a number"]),
])
def test_a_bad_record_is_refused_alone(alice, bad, words):
    run_id = start(alice, planned=2)["id"]
    good = [case("a", "success"), bad, case("c", "success")]
    response = alice.post(f"/runs/{run_id}/records", {"records": good})
    assert response.status_code == 200, response.json
    [refused] = response.json["refused"]
    assert refused["index"] == 1, refused
    assert all(word in refused["message"] for word in words), refused
    assert response.json["stored"] == 2 and response.json["counts"]["success"] == 2
    finished = alice.post(f"/runs/{run_id}/finish", {})
    assert finished.json["status"] == "passed"  # the two planned tests passed
    assert [node["path"] for node in alice.get(f"/runs/{run_id}").json["records"]] \
        == ["a", "c"]


@SQLITE_ONLY  # routing and query checks do not depend on the database
@pytest.mark.parametrize("method, path, status", [
    ("GET", "/runs/999", 404), ("POST", "/runs/999/records", 404),
    ("POST", "/runs/999/finish", 404), ("GET", "/runs/99999999999", 404),
    ("GET", "/runs?limit=0", 400), ("GET", "/runs?limit=lots", 400),
    ("GET", "/runs?offset=-1", 400), ("GET", "/runs/latest", 400),
    ("GET", "/runs/durations?runs=0", 400),
])
def test_unknown_runs_and_bad_queries(alice, method, path, status):
    body = {"records": []} if path.endswith("/records") else None
    response = alice.call(method, path, body)
    assert response.status_code == status, response.json
    assert response.json["message"]


# --- the stores of the client, and the real server over HTTP -------------------

def test_the_embedded_store_ends_silent_runs_before_it_reads(database_url, monkeypatch,
                                                             tmp_path):
    from rotest_core.embedded_db import prepare_database
    from rotest_core.store import EmbeddedClient
    monkeypatch.chdir(tmp_path)
    prepare_database(database_url, [])
    store = EmbeddedClient(database_url)
    try:
        run = store.start_run(name="nightly", uid=UID, planned=4, lease=10)
        assert store.start_run(name="nightly", uid=UID)["id"] == run["id"]
        answer = store.add_records(run["id"], [case("a", "success"), case("b", "nope")])
        assert [refusal["index"] for refusal in answer["refused"]] == [1]
        assert store.renew_run(run["id"])["stored"] == 0
        with Session(store.engine) as session:  # ten seconds pass in silence
            session.get(HistoryRun, run["id"]).lease_until = utcnow() - timedelta(seconds=1)
            session.commit()
        latest = store.latest_results("nightly")
        assert latest["run"]["status"] == "aborted" and latest["passed"] == ["a"]
        finished = store.finish_run(run["id"], end="2026-11-21T07:01:00Z",
                                    artifact_path=None, status="interrupted")
        assert finished["status"] == "interrupted"
    finally:
        store.close()


@pytest.fixture
def quick_server(database_url, tmp_path, monkeypatch):
    """The real app over HTTP with a run lease of 1 s and a sweep every 0.2 s."""
    from rotest_app import create_app
    monkeypatch.chdir(tmp_path)
    server_app = create_app({"database_url": database_url, "secret_key": "test",
                             "workdir": str(tmp_path / "workdir"),
                             "run_lease_seconds": 1, "sweep_interval": 0.2})
    with server_app.app_context():
        db.create_all()
    add_person(server_app, "alice", is_admin=False)
    http = ThreadedServer(server_app)
    http.token = api_token(server_app, "alice")
    yield http
    http.stop()
    server_app.extensions["rotest_sweeper"].stop()
    with server_app.app_context():
        db.engine.dispose()


def api_token(app, username: str) -> str:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(username=username))
        token, plain = ApiToken.issue(user, "tests")
        db.session.add(token)
        db.session.commit()
        return plain


def test_a_run_whose_client_went_silent_ends_aborted_on_the_server(quick_server):
    from rotest_core.store import RemoteClient
    server = quick_server
    store = RemoteClient(server.url, server.token, retry_seconds=2)
    run = store.start_run(name="nightly", uid=UID, planned=20)
    assert store.start_run(name="nightly", uid=UID)["id"] == run["id"]
    store.add_records(run["id"], [case("a", "success"), case("b", "failure"),
                                  case("c", "success")])
    # The client is killed: nothing more comes. The server's own sweep ends it.
    deadline = time.monotonic() + 20
    while (found := store.call("GET", f"/runs/{run['id']}")[1])["status"] \
            == "running":
        assert time.monotonic() < deadline, "the run outlived its lease"
        time.sleep(0.2)
    store.close()
    assert found["status"] == "aborted" and found["end"] is not None
    assert (found["counts"]["success"], found["counts"]["failure"]) == (2, 1)

    browser = requests.Session()
    login = browser.get(server.url + "/admin/login").text
    browser.post(server.url + "/admin/login", data={
        "username": "alice", "password": PASSWORD,
        "csrf_token": CSRF_INPUT.search(login).group(1)})
    runs = browser.get(server.url + "/runs")
    assert runs.status_code == 200 and 'class="aborted">aborted after 3 of 20' in runs.text
    page = browser.get(server.url + f"/runs/{run['id']}").text
    assert "aborted after 3 of 20" in page and 'class="status-aborted"' in page


def test_the_wait_for_locks_is_stored_and_read_back(alice):
    run_id = start(alice)["id"]
    records = [case("W.test_waits", "success", lock_wait=2.5, setup_time=0.25),
               case("W.test_locks_nothing", "success")]
    assert alice.post(f"/runs/{run_id}/records", {"records": records}).status_code == 200
    stored = {node["path"]: node for node in alice.get(f"/runs/{run_id}").json["records"]}
    assert (stored["W.test_waits"]["lock_wait"], stored["W.test_waits"]["setup_time"]) \
        == (2.5, 0.25)
    assert stored["W.test_locks_nothing"]["lock_wait"] is None


def test_what_a_test_printed_is_stored_and_read_back(alice):
    run_id = start(alice)["id"]
    printed = case("P.test_prints", "success", stdout="out\n" * 3, stderr="err\n")
    assert alice.post(f"/runs/{run_id}/records", {"records": [printed]}).status_code == 200
    (stored,) = alice.get(f"/runs/{run_id}").json["records"]
    assert (stored["stdout"], stored["stderr"]) == ("out\n" * 3, "err\n")
