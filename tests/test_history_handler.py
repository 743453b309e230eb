"""The history report handler on a real run with every outcome: into the
embedded database, and onto the real server over HTTP (SQLite, PostgreSQL)."""
from __future__ import annotations

import io
import socket

import pytest
import requests
from sqlalchemy.orm import Session

from api_helpers import add_user
from rotest_app.engine import history
from rotest_app.engine.settings import default_database_url
from rotest_app.engine import open_engine
from rotest_reports.history import HistoryHandler, past_durations
from rotest_core import TestCase
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import outcomes
from runtime_samples import merge_samples
from runtime_samples.fixtures import lab, workdir  # noqa: F401 - fixtures
from server_process import ThreadedServer


def run_outcomes(config, name="nightly", outputs=("history",), tests=outcomes.TESTS):
    return run(tests, config, RunOptions(outputs=list(outputs), name=name),
               stream=io.StringIO())


def embedded_runs(workdir, **query) -> list[dict]:
    """The runs of the embedded history, each with its records."""
    engine = open_engine(default_database_url(str(workdir)))
    try:
        with Session(engine) as db:
            return [history.get_run(db, found["id"])
                    for found in history.list_runs(db, **query)["runs"]]
    finally:
        engine.dispose()


def leaves(nodes: list[dict]) -> dict[str, dict]:
    """Leaf records by name."""
    found = {}
    for node in nodes:
        if node["children"]:
            found.update(leaves(node["children"]))
        elif node["kind"] != "suite":
            found[node["name"]] = node
    return found


def assert_recorded_as_it_ran(recorded: dict) -> None:
    assert recorded["name"] == "nightly" and recorded["status"] == "failed"
    assert recorded["end"] is not None and recorded["duration"] >= 0
    assert recorded["counts"] == {"error": 2, "failure": 2, "unexpected_success": 1,
                                  "expected_failure": 1, "skip": 1, "success": 3}
    tests = leaves(recorded["records"])
    assert {name: node["outcome"] for name, node in tests.items()} == outcomes.EXPECTED
    outer = recorded["records"][0]
    assert (outer["name"], outer["kind"], outer["tags"], outer["outcome"]) == (
        "OuterSuite", "suite", ["nightly"], "error")
    fails = tests["ProblemCase.test_fails"]
    assert fails["path"] == ("OuterSuite/InnerSuite/runtime_samples.outcomes."
                             "ProblemCase.test_fails")
    assert fails["classname"].endswith("outcomes.ProblemCase")
    assert "one is not two" in fails["details"][0][1]
    assert fails["duration"] >= 0 and fails["start"] <= fails["end"]
    messages = tests["PassingCase.test_with_messages"]
    assert messages["infos"] == ["the answer was right"]
    assert "a line in the test's log" in messages["log"]
    assert tests["PassingCase.test_passes"]["description"] == "Adds two numbers."
    hostile = tests["HostileCase.test_hostile_failure"]["details"][0][1]
    assert "\x00" not in hostile and "\x1b" not in hostile and "שלום" in hostile
    huge = tests["HostileCase.test_huge_traceback"]["details"][0][1]
    assert "characters cut" in huge and len(huge) < 40_000
    assert "runtime_samples.outcomes.HostileCase.test_ünïcödé_name" in {
        node["path"] for node in tests.values()}


def test_embedded_history_of_a_run_with_every_outcome(workdir):
    report = run_outcomes(load_config())
    assert report.exit_code == 1
    [recorded] = embedded_runs(workdir)
    assert_recorded_as_it_ran(recorded)
    assert recorded["run_dir"] == str(report.run_dir)
    assert recorded["environment"]["python"] and recorded["host"]
    durations = past_durations(load_config(), "nightly")
    assert set(durations) == {node["path"] for node in leaves(recorded["records"]).values()}
    assert past_durations(load_config(), "other") == {}


@pytest.fixture
def server(app):
    http = ThreadedServer(app)
    yield http, add_user(app, "tester")
    http.stop()


def test_server_history_over_http(workdir, server):
    http, token = server
    config = load_config(overrides={"host": "127.0.0.1", "port": http.port,
                                    "token": token})
    assert run_outcomes(config).exit_code == 1
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    listed = api.get(f"{http.url}/api/v1/runs?name=nightly").json()
    assert listed["total"] == 1 and listed["runs"][0]["user"] == "tester"
    recorded = api.get(f"{http.url}/api/v1/runs/{listed['runs'][0]['id']}").json()
    assert_recorded_as_it_ran(recorded)
    assert "OuterSuite/runtime_samples.outcomes.PassingCase.test_passes" in \
        past_durations(config, None)
    # Nothing was written locally: the server holds the history.
    assert not (workdir / "rotest.db").exists()


def test_records_are_stored_as_each_top_level_test_ends(workdir):
    seen = {}

    class First(TestCase):
        def test_one(self):
            pass

    class Second(TestCase):
        def test_reads_the_history_mid_run(self):
            [running] = embedded_runs(workdir)
            seen.update(status=running["status"],
                        paths=[node["path"] for node in running["records"]])

    report = run([First, Second], load_config(), RunOptions(outputs=["history"]),
                 stream=io.StringIO())
    assert report.exit_code == 0
    first = f"{First.__module__}.{First.__qualname__}.test_one"
    assert seen == {"status": "running", "paths": [first]}
    [finished] = embedded_runs(workdir)
    assert finished["status"] == "passed" and finished["name"] == "AllTests"
    assert [node["path"] for node in finished["records"]] == [
        first, f"{Second.__module__}.{Second.__qualname__}.test_reads_the_history_mid_run"]


def test_a_server_that_is_down_is_reported_once_and_the_run_goes_on(
        workdir, monkeypatch, capsys):
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = load_config(overrides={"host": "127.0.0.1", "port": port, "token": "t",
                                    "history_wait": 0.5})
    # OuterSuite only: HostileCase's log lines make logging print to stderr.
    report = run_outcomes(config, outputs=("history", "dots"), tests=[outcomes.OuterSuite])
    assert report.exit_code == 1
    assert report.result.testsRun == 7
    errors = capsys.readouterr().err
    assert errors.count("the run history could not be written") == 1, errors
    assert f"127.0.0.1:{port}" in errors and "Is it running?" in errors
    assert "the rest waits in" in errors and "rotest history push" in errors
    assert "output handler 'history' failed" not in errors  # it never raised


def test_a_refused_token_is_reported_once(workdir, server, capsys):
    http, _token = server
    config = load_config(overrides={"host": "127.0.0.1", "port": http.port,
                                    "token": "wrong"})
    assert run_outcomes(config, tests=[outcomes.OuterSuite]).exit_code == 1
    errors = capsys.readouterr().err
    assert errors.count("the run history could not be written") == 1
    assert "API token is not valid" in errors


def test_the_artifact_path_set_on_the_main_test_is_recorded(workdir):
    class Artifact(HistoryHandler):  # as the artifact handler does at the start
        def start_test_run(self):
            self.main_test.artifact_path = "/artifacts/run.zip"
            super().start_test_run()

    run(outcomes.TESTS[:1], load_config(), RunOptions(outputs=[Artifact]),
        stream=io.StringIO())
    [recorded] = embedded_runs(workdir)
    assert recorded["artifact_path"] == "/artifacts/run.zip"


def test_the_history_keeps_each_test_s_wait_for_its_locks(workdir, lab):
    report = run_outcomes(load_config(), tests=[merge_samples.DeviceCase,
                                                *outcomes.TESTS])
    assert report.exit_code == 1
    (recorded,) = embedded_runs(workdir)
    tests = leaves(recorded["records"])
    device = tests["DeviceCase.test_holds_the_device"]
    assert device["lock_wait"] is not None and device["lock_wait"] >= 0
    assert device["setup_time"] is not None and device["setup_time"] >= 0
    assert all(node["lock_wait"] is None for name, node in tests.items()
               if name != "DeviceCase.test_holds_the_device")  # they locked nothing
