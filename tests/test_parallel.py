"""Parallel runs (``-p N``): results as after a serial run, every fault of a
worker (a timeout, os._exit, SIGSEGV, SIGKILL) costs only its test, failfast
and Ctrl-C end cleanly, and nothing is left locked; embedded and remote."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rotest_app.models import LockSession
from rotest_reports.record import RecordingHandler
from rotest_core import ResourceRequest
from rotest_core.config import load_config
from rotest_core.multiprocess import conflicts, request_key, supervisor
from rotest_core.runner import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, RunOptions, run

from record_paths import named_path
from runtime_samples import outcomes, parallel as samples
from runtime_samples.fixtures import (ROTEST, SAMPLES, cli_env, config, lab,  # noqa: F401
                                      server, workdir)
from runtime_samples.lab import Device

PARALLEL = str(SAMPLES / "parallel.py")


class Recording(RecordingHandler):
    """Keeps the last run's handler, to read its tree of records."""

    NAME = "recording"
    last: "Recording | None" = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Recording.last = self


@pytest.fixture
def sample_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "sample"
    folder.mkdir()
    monkeypatch.setenv("ROTEST_SAMPLE_DIR", str(folder))
    return folder


def run_tests(tests, config, processes, **options):
    report = run(tests, config, RunOptions(outputs=[Recording], processes=processes,
                                           **options), stream=open(os.devnull, "w"))
    return report, Recording.last.run


def outcomes_of(record_run) -> dict[str, str | None]:
    return {named_path(record): record.outcome for record in record_run.tests()}


def held(lab) -> set[str]:
    return {name for name, session in lab.holders().items() if session is not None}


def active_sessions(lab) -> int:
    with Session(lab.engine) as db:
        return db.scalar(select(func.count()).select_from(LockSession)
                         .where(LockSession.state == LockSession.ACTIVE))


def assert_nothing_locked(lab) -> None:
    assert held(lab) == set()
    assert not lab.row("dev1")["owner"] and not lab.row("dev2")["owner"]
    assert active_sessions(lab) == 0


def comparable(record_run) -> list[tuple]:
    """What a report shows of each record, in tree order (times aside)."""
    return [(named_path(record), record.kind, record.outcome, record.infos,
             dict(record.resources), [(kind, text.strip().splitlines()[-1] if text.strip()
                                       else "") for kind, text in record.details])
            for record in record_run.root.walk()]


# ---------------------------------------------------------------------------
# The same results as a serial run
# ---------------------------------------------------------------------------

def test_every_outcome_is_reported_as_after_a_serial_run(workdir):
    serial_report, serial = run_tests(outcomes.TESTS, load_config(), 1)
    parallel_report, parallel = run_tests(outcomes.TESTS, load_config(), 3)
    assert parallel_report.exit_code == serial_report.exit_code == EXIT_FAILED
    assert sorted(comparable(parallel)) == sorted(comparable(serial))
    assert {p.split("/")[-1]: o for p, o in outcomes_of(parallel).items()} \
        == outcomes.EXPECTED
    # Suites bracket their tests: each starts before and ends after them.
    for suite in (r for r in parallel.root.walk() if r.is_composite and r.parent):
        assert all(suite.start <= t.start and t.end <= suite.end for t in suite.tests())
    # The test's log is where a serial run writes it, with its failure.
    failed = next(r for r in parallel.tests() if r.name == "ProblemCase.test_fails")
    assert failed.work_dir.relative_to(parallel.run_dir) == Path(
        "OuterSuite/InnerSuite/ProblemCase.test_fails")
    assert "one is not two" in failed.log_text()


def test_class_fixtures_run_once_as_in_a_serial_run(workdir, sample_dir):
    tests = [samples.BadClassSetUpCase, samples.ClassFixtureCase, samples.FreeCase]
    serial_report, serial = run_tests(tests, load_config(), 1)
    samples.ClassFixtureCase.set_ups = 0  # the workers are forked from this process
    parallel_report, parallel = run_tests(tests, load_config(), 3)
    assert sorted(comparable(parallel)) == sorted(comparable(serial))
    errors = {r.name: r.message for r in parallel.tests() if r.kind == "error"}
    assert errors == {"setUpClass (runtime_samples.parallel.BadClassSetUpCase)":
                      "RuntimeError: no bench today",
                      "tearDownClass (runtime_samples.parallel.ClassFixtureCase)":
                      "ValueError: torn down after 1 set-up"}
    assert len(parallel_report.result.errors) == len(serial_report.result.errors) == 2
    assert not list(sample_dir.glob("BadClassSetUpCase.*"))


def test_a_composite_unit_runs_whole_in_one_worker(workdir, sample_dir, lab):
    tests = [samples.WholeSuite, samples.Dev1Case]
    serial_report, serial = run_tests(tests, load_config(), 1)
    parallel_report, parallel = run_tests(tests, load_config(), 2)
    assert sorted(comparable(parallel)) == sorted(comparable(serial))
    suite = next(r for r in parallel.root.children if r.name == "WholeSuite")
    assert suite.work_dir.parent == parallel.run_dir and suite.work_dir.is_dir()
    assert all(suite.start <= t.start and t.end <= suite.end for t in suite.tests())
    pids = {path.name: path.read_text() for path in sample_dir.iterdir()
            if path.name.startswith(("FreeCase.", "Dev2Case."))}
    assert len(pids) == 6 and len(set(pids.values())) == 1
    assert_nothing_locked(lab)


def test_a_worker_dying_in_a_composite_unit_ends_it_with_the_error(workdir, sample_dir,
                                                                   lab):
    report, record = run_tests([samples.WholeCrashingSuite, samples.FreeCase],
                               load_config(), 2)
    assert report.exit_code == EXIT_FAILED
    results = outcomes_of(record)
    assert results.pop("WholeCrashingSuite/ExitsCase.test_exits") == "error"
    # The unit's tests before the crash stand; the rest of the unit is lost
    # with its worker; the other units ran.
    assert results == {**{f"WholeCrashingSuite/Dev1Case.test_{n}": "success"
                          for n in ("one", "two", "three")},
                       **{f"FreeCase.test_{x}": "success" for x in "abcd"}}
    suite = next(r for r in record.root.children if r.name == "WholeCrashingSuite")
    assert suite.end is not None and suite.outcome == "error"
    assert "exited with code 7" in next(
        r for r in record.tests() if r.name == "ExitsCase.test_exits").traceback
    assert_nothing_locked(lab)
    assert lab.row("dev2")["dirty"] is True


def test_lab_tests_get_what_a_serial_run_gives_them(config, sample_dir, lab):
    tests = [samples.LabSuite, samples.FreeCase]
    serial_report, serial = run_tests(tests, config, 1)
    assert_nothing_locked(lab)
    parallel_report, parallel = run_tests(tests, config, 2)
    assert parallel_report.exit_code == serial_report.exit_code == EXIT_FAILED
    assert sorted(comparable(parallel)) == sorted(comparable(serial))
    assert_nothing_locked(lab)


def test_tests_that_want_the_same_resources_share_a_worker_and_its_set_ups(
        workdir, sample_dir, lab):
    tests = [samples.LabSuite, samples.FreeCase]
    report, record = run_tests(tests, load_config(), 2)
    assert report.exit_code == EXIT_FAILED  # Dev2Case.test_fails, as it should
    assert outcomes_of(record)["LabSuite/Dev2Case.test_fails"] == "failure"
    pids = {path.name: path.read_text() for path in sample_dir.iterdir()
            if "." in path.name and path.name != "steps.log"}
    assert len({pids[f"Dev1Case.test_{n}"] for n in ("one", "two", "three")}) == 1
    assert len(set(pids.values())) == 2  # both workers worked
    steps = (sample_dir / "steps.log").read_text().split("\n")
    assert steps.count("initialize dev1") == 1  # kept between its three tests
    assert steps.count("connect dev1") == 1
    # The workers' set-ups and finalizes reach the main process's summary.
    assert report.resource_counts["make"] == steps.count("connect dev1") + steps.count(
        "connect dev2") and report.resource_counts["clean"] >= 2
    assert_nothing_locked(lab)


def test_tests_that_want_any_of_a_pool_run_at_once_up_to_its_size(config, sample_dir,
                                                                   lab):
    report, record = run_tests([samples.AnyDeviceCase], config, 3)
    assert report.exit_code == EXIT_OK, [r.details for r in record.tests()]
    used = [line.split() for line in (sample_dir / "devices.log").read_text().splitlines()]
    assert len(used) == 4
    # Two devices free: two workers at once, each keeping its own device.
    assert {device for _pid, device in used} == {"dev1", "dev2"}
    assert len({pid for pid, _device in used}) == 2
    assert all(len({d for p, d in used if p == pid}) == 1 for pid, _ in used)
    assert_nothing_locked(lab)


def test_conflicting_requests_never_run_at_once():
    by_name = tuple(request_key(r) for r in samples.Dev1Case.get_resource_requests())
    other = tuple(request_key(r) for r in samples.Dev2Case.get_resource_requests())
    any_device = (request_key(ResourceRequest("dev", Device)),)
    assert conflicts(by_name, by_name)
    assert not conflicts(by_name, other)  # dev1 and dev2 by name
    assert conflicts(any_device, by_name) and conflicts(other, any_device)
    assert not conflicts((), by_name)


# ---------------------------------------------------------------------------
# Faults: each costs its test only, and nothing stays locked
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case, words", [
    (samples.HangsCase, ["TimeoutError", "timed out after 0.5 s"]),
    (samples.DeafCase, ["TimeoutError", "timed out after 0.5 s"]),
    (samples.ExitsCase, ["WorkerDied", "exited with code 7"]),
    (samples.SegfaultCase, ["WorkerDied", "killed by signal SIGSEGV"]),
    (samples.KilledCase, ["WorkerDied", "killed by signal SIGKILL"]),
])
def test_a_broken_worker_costs_only_its_test(workdir, sample_dir, lab, case, words,
                                             monkeypatch):
    monkeypatch.setattr(supervisor, "TERM_GRACE", 0.5)  # then SIGKILL (DeafCase)
    tests = [case, samples.FreeCase, samples.FreeCase]
    began = time.monotonic()
    report, record = run_tests(tests, load_config(), 2)
    assert time.monotonic() - began < 20  # the hung test did not hold the run
    assert report.exit_code == EXIT_FAILED
    results = outcomes_of(record)
    broken = f"{case.__name__}.{_method(case)}"
    assert results.pop(broken) == "error"
    text = next(r for r in record.tests() if named_path(r) == broken).traceback
    assert all(word in text for word in words), text
    # Every other test ran (twice: FreeCase is given twice), in the other
    # worker or a new one.
    assert results == {f"FreeCase.test_{x}": "success" for x in "abcd"}
    assert report.result.testsRun == 9
    assert all(len(r.reruns) == 1 for r in record.tests() if named_path(r) != broken)
    assert_nothing_locked(lab)
    # Its device went back dirty: the next user sets it up afresh.
    assert lab.row(case.dev.kwargs["name"])["dirty"] is True


def _method(case: type) -> str:
    return next(name for name in vars(case) if name.startswith("test_"))


def test_failfast_hands_out_no_more_tests(workdir, sample_dir, lab, capsys):
    tests = [samples.FailsFirstCase, samples.FreeCase, samples.LabSuite]
    report, record = run_tests(tests, load_config(), 2, failfast=True)
    assert report.exit_code == EXIT_FAILED
    results = outcomes_of(record)
    assert results["FailsFirstCase.test_fails_first"] == "failure"
    # Tests already running finish; none starts after the failure; those
    # not run are not reported (as in a serial run) and say so on stderr.
    ran = {path.name for path in sample_dir.iterdir() if path.name != "steps.log"}
    assert {p.split("/")[-1] for p in results} == ran
    assert len(ran) <= 3 and all(o is not None for o in results.values())
    assert f"{10 - len(ran)} tests not run (failfast)" in capsys.readouterr().err
    assert_nothing_locked(lab)


# ---------------------------------------------------------------------------
# The command line: Ctrl-C, --debug, the remote mode
# ---------------------------------------------------------------------------

def rotest_popen(workdir, sample_dir, tmp_path, *args, **env):
    return subprocess.Popen([*ROTEST, "run", *args], env=cli_env(workdir, sample_dir, **env),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_for(paths, process, seconds=60):
    deadline = time.monotonic() + seconds
    while not all(path.exists() for path in paths):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the tests never started"
        time.sleep(0.05)


@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "sigint-to-main"])
def test_ctrl_c_stops_the_workers_and_releases_every_lock(workdir, sample_dir, lab,
                                                          tmp_path, to_group):
    process = rotest_popen(workdir, sample_dir, tmp_path, PARALLEL, "-p", "2", "-f",
                           "SleepsOnDev1Case or SleepsOnDev2Case or NeverReachedCase")
    try:
        wait_for([sample_dir / "started-dev1", sample_dir / "started-dev2"], process)
        assert held(lab) == {"dev1", "dev2"}
        if to_group:  # as a terminal's Ctrl-C does
            os.killpg(process.pid, signal.SIGINT)
        else:  # kill -INT: the main process stops its workers itself
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == EXIT_INTERRUPTED, out + err
    assert "SleepsOnDev1Case.test_sleeps ... ERROR" in out
    assert "SleepsOnDev2Case.test_sleeps ... ERROR" in out
    assert out.count("interrupted") >= 2
    assert "NeverReachedCase" not in out and "1 test not run (the run was interrupted)" in err
    assert not (sample_dir / "NeverReachedCase.test_never_reached").exists()
    assert_nothing_locked(lab)
    assert lab.row("dev1")["dirty"] is True and lab.row("dev2")["dirty"] is True


def test_debug_with_processes_is_refused(workdir, sample_dir, tmp_path):
    process = rotest_popen(workdir, sample_dir, tmp_path, PARALLEL, "-p", "2", "-D")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.startswith("Error: -D/--debug cannot be used with -p/--processes above 1")
    assert "Traceback" not in err and out == ""


def test_against_the_server_a_dead_worker_leaves_nothing_locked(workdir, sample_dir, lab,
                                                                server, tmp_path):
    http, token = server
    process = rotest_popen(workdir, sample_dir, tmp_path, PARALLEL, "-p", "2", "-f",
                           "ExitsCase or HangsCase or LabSuite",
                           ROTEST_HOST="127.0.0.1", ROTEST_PORT=str(http.port),
                           ROTEST_TOKEN=token)
    out, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_FAILED, out + err
    for line in ["HangsCase.test_hangs ... ERROR", "ExitsCase.test_exits ... ERROR",
                 "Dev1Case.test_one ... OK", "Dev1Case.test_two ... OK",
                 "Dev1Case.test_three ... OK", "Dev2Case.test_one ... OK",
                 "Dev2Case.test_fails ... FAIL"]:
        assert line in out, out + err
    assert "timed out after 0.5 s" in out and "exited with code 7" in out
    assert "Ran 7 tests" in out
    assert_nothing_locked(lab)
    assert lab.row("dev1")["owner"] == "" and lab.row("dev2")["dirty"] is True
