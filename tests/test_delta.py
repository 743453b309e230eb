"""``--delta N``: the tests that did not pass in the previous run of the same
name run again, each up to N times while it fails, in one run whose history
keeps one record per test (embedded, and on the server over HTTP)."""
from __future__ import annotations

import io
import subprocess
import textwrap

from sqlalchemy.orm import Session

from rotest_app.engine import history
from rotest_app.engine import open_engine
from rotest_core.runner import RunOptions, run
from runtime_samples import delta_cases
from runtime_samples.delta_cases import ALL, RAN, M
from runtime_samples.fixtures import (ROTEST, cli_env, config, lab,  # noqa: F401 - fixtures
                                      server, workdir)

FAILING = [f"OuterSuite/InnerSuite/{M}.InnerCase.test_errors_while_told",
           f"OuterSuite/{M}.OuterCase.test_always_fails",
           f"OuterSuite/{M}.OuterCase.test_flaky",
           f"{M}.TopCase.test_flaky"]
ALWAYS = f"OuterSuite/{M}.OuterCase.test_always_fails"


def delta_run(config, delta=None, name="nightly", filter=None, outputs=("dots",)):
    """Run the samples (the history is asked for only without --delta)."""
    RAN.clear()
    stream = io.StringIO()
    outputs = list(outputs) + (["history"] if delta is None else [])
    report = run(delta_cases.TESTS, config, RunOptions(
        outputs=outputs, name=name, delta=delta, filter=filter), stream=stream)
    return report, stream.getvalue()


def newest_run(database_url: str) -> dict:
    """The newest run in the history, with its cases by path in ``tests``."""
    engine = open_engine(database_url)
    try:
        with Session(engine) as db:
            newest = history.list_runs(db, limit=1)["runs"][0]
            recorded = history.get_run(db, newest["id"])
    finally:
        engine.dispose()
    tests, stack = {}, list(recorded["records"])
    while stack:
        node = stack.pop()
        stack.extend(node["children"])
        if node["kind"] == "case":
            tests[node["path"]] = node
    return {**recorded, "tests": tests}


def test_delta_runs_again_exactly_the_tests_that_did_not_pass(config, lab):
    delta_cases.reset(outer=1, inner=1, top=1)
    first, _ = delta_run(config)
    assert first.exit_code == 1 and RAN == ALL

    second, output = delta_run(config, delta=1)
    assert sorted(RAN) == FAILING
    assert "the base is run 'nightly' #1 of" in output and "4 did not" in output
    assert "running 4 of 8 test(s) again" in output
    assert second.exit_code == 1  # test_always_fails still fails
    recorded = newest_run(lab.url)  # --delta wrote the history without -o history
    assert recorded["name"] == "nightly" and sorted(recorded["tests"]) == FAILING
    assert recorded["tests"][ALWAYS]["outcome"] == "failure"
    assert recorded["tests"][f"{M}.TopCase.test_flaky"]["outcome"] == "success"

    # The next delta starts from the delta run: only what still fails.
    third, output = delta_run(config, delta=1)
    assert RAN == [ALWAYS] and "the base is run 'nightly' #2 of" in output
    # ... whose tests not run again count as they ended in #1.
    assert "7 test(s) passed, 1 did not" in output


def test_a_test_runs_up_to_n_times_while_it_fails_and_keeps_one_record(config, lab):
    delta_cases.reset(outer=5, top=1)
    delta_run(config)
    delta_cases.FAILS_LEFT["top"] = 1  # fails once more, in the delta run

    report, output = delta_run(config, delta=3)
    assert report.exit_code == 1
    assert "running 3 of 8 test(s) again, each up to 3 time(s)" in output
    assert RAN.count(ALWAYS) == 3
    assert RAN.count(f"OuterSuite/{M}.OuterCase.test_flaky") == 3  # fails all three times
    assert RAN.count(f"{M}.TopCase.test_flaky") == 2  # failed once, then passed
    tests = newest_run(lab.url)["tests"]
    assert len(tests) == 3  # one record per test, the attempts as its reruns
    flaky = tests[f"{M}.TopCase.test_flaky"]
    assert flaky["outcome"] == "success"
    assert [rerun["outcome"] for rerun in flaky["reruns"]] == ["failure"]
    assert "top fails 0 more time(s)" in flaky["reruns"][0]["details"][0][1]
    outer = tests[f"OuterSuite/{M}.OuterCase.test_flaky"]
    assert (outer["outcome"], len(outer["reruns"])) == ("failure", 2)


def test_a_flaky_test_that_passes_when_run_again_ends_the_run_as_a_pass(config):
    delta_cases.reset(top=1)
    report, output = delta_run(config, delta=2, filter="TopCase", name="flaky")
    # No previous run: everything runs, and what fails runs again.
    assert "no run 'flaky'" in output and "running every test" in output
    assert RAN == [f"{M}.TopCase.test_flaky", f"{M}.TopCase.test_flaky"]
    assert report.exit_code == 0


def test_nothing_runs_again_when_everything_passed(config):
    delta_run(config, filter="test_passes")
    report, output = delta_run(config, delta=2, filter="test_passes")
    assert report.exit_code == 0 and RAN == []
    assert "all 2 test(s) given passed in the base run" in output


def test_an_error_outside_tests_runs_its_tests_again(config):
    delta_cases.SETUP_CLASS_FAILS["left"] = 1
    first, _ = delta_run(config, filter="SetUpClassCase")
    assert first.exit_code == 1 and RAN == []  # setUpClass failed: nothing ran
    report, _ = delta_run(config, delta=1, filter="SetUpClassCase")
    assert RAN == [f"SetUpSuite/{M}.SetUpClassCase.test_one",
                   f"SetUpSuite/{M}.SetUpClassCase.test_two"]
    assert report.exit_code == 0


FLAKY_FILE = textwrap.dedent("""
    from pathlib import Path
    from rotest_core import TestCase

    COUNT = Path(__file__).with_name("count")


    class Flaky(TestCase):
        def test_flaky(self):
            runs = int(COUNT.read_text()) if COUNT.exists() else 0
            COUNT.write_text(str(runs + 1))
            self.assertGreaterEqual(runs, 1, "fails the first time")

        def test_passes(self):
            pass
""")


def test_rotest_run_delta_on_the_command_line(workdir, tmp_path):
    sample = tmp_path / "test_flaky.py"
    sample.write_text(FLAKY_FILE)
    env = cli_env(workdir)

    def rotest(*args):
        return subprocess.run([*ROTEST, "run", str(sample), "-o", "dots", *args],
                              env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)

    first = rotest("-o", "dots,history")
    assert first.returncode == 1, first.stderr
    again = rotest("--delta", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "the base is run 'AllTests' #1 of" in again.stdout
    assert "(the default name; name runs with -n)" in again.stdout
    assert "Ran 1 test" in again.stdout

    refused = rotest("--delta", "0")
    assert refused.returncode == 2 and "0 is not in the range x>=1" in refused.stderr


def record_unfinished_run(database_url: str, name: str, records: list[dict]) -> int:
    """What a run killed mid-way leaves in the history: started, some records,
    never finished."""
    from rotest_core.store.embedded import local_user
    engine = open_engine(database_url)
    try:
        with Session(engine) as db:
            run = history.start_run(db, local_user(db), name=name)
            history.add_records(db, local_user(db), run["id"], records)
            return run["id"]
    finally:
        engine.dispose()


def test_a_newer_run_that_never_finished_is_the_base_not_an_older_green_one(config, lab):
    first, _ = delta_run(config, filter="test_passes")
    assert first.exit_code == 0
    killed = record_unfinished_run(lab.url, "nightly", [
        {"path": "OuterSuite", "kind": "suite"},
        {"path": f"OuterSuite/{M}.OuterCase.test_passes", "parent": "OuterSuite",
         "kind": "case", "outcome": "failure"}])
    report, output = delta_run(config, delta=1, filter="test_passes")
    assert f"run 'nightly' #{killed} of" in output and "it has not finished" in output
    # The failed test, and the one the killed run never reached, run again.
    assert sorted(RAN) == [f"OuterSuite/InnerSuite/{M}.InnerCase.test_passes",
                           f"OuterSuite/{M}.OuterCase.test_passes"]
    assert report.exit_code == 0


def test_tests_that_failfast_never_reached_run_again(config):
    delta_cases.reset()
    first, _ = delta_run(config, filter="OuterCase")
    stopped = run(delta_cases.TESTS, config, RunOptions(
        outputs=["history"], name="nightly", filter="OuterCase", failfast=True),
        stream=io.StringIO())
    assert stopped.exit_code == 1
    RAN.clear()
    report, output = delta_run(config, delta=1, filter="OuterCase")
    # failfast stopped at the first failure: the two after it never ran.
    assert sorted(RAN) == [f"OuterSuite/{M}.OuterCase.test_always_fails",
                           f"OuterSuite/{M}.OuterCase.test_flaky",
                           f"OuterSuite/{M}.OuterCase.test_passes"]
    assert report.exit_code == 1


def test_a_test_new_since_the_base_run_runs(config):
    delta_run(config, filter="OuterCase and test_passes")
    report, output = delta_run(config, delta=1, filter="test_passes")
    assert RAN == [f"OuterSuite/InnerSuite/{M}.InnerCase.test_passes"]
    assert report.exit_code == 0


def test_delta_over_http_on_sqlite_and_postgresql(app, workdir):
    from api_helpers import add_user
    from rotest_core.config import load_config
    from server_process import ThreadedServer
    http = ThreadedServer(app)
    try:
        config = load_config(overrides={"host": "127.0.0.1", "port": http.port,
                                        "token": add_user(app, "tester")})
        delta_cases.reset(top=1)
        delta_run(config)
        delta_cases.FAILS_LEFT["top"] = 1
        report, output = delta_run(config, delta=2)
        assert "run 'nightly' #1 of" in output
        assert sorted(set(RAN)) == [ALWAYS, f"{M}.TopCase.test_flaky"]
        assert RAN.count(f"{M}.TopCase.test_flaky") == 2 and report.exit_code == 1
    finally:
        http.stop()
