"""``rotest run`` end to end: sample test files run by the real console entry
(``python -m rotest_core.cli run``) in a subprocess, on the embedded database,
which the tests read straight from SQLite."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime_samples.fixtures import (ROTEST, SAMPLES, cli_env, lab,  # noqa: F401 - fixtures
                                      sample_dir, workdir)

CALC = str(SAMPLES / "calc_tests.py")
DEVICES = str(SAMPLES / "device_tests.py")


@pytest.fixture
def rotest(workdir, sample_dir, tmp_path):
    """``rotest run ARGS`` in a subprocess; returns the CompletedProcess."""
    def invoke(*args: str, input: str | None = None, cwd: Path = tmp_path,
               **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([*ROTEST, "run", *args], env=cli_env(workdir, sample_dir, **env),
                              cwd=cwd, capture_output=True, text=True, timeout=120,
                              input=input)
    return invoke


def steps(sample_dir: Path) -> list[str]:
    log = sample_dir / "steps.log"
    return log.read_text().split("\n")[:-1] if log.exists() else []


def held(lab) -> set[str]:
    return {name for name, session in lab.holders().items() if session is not None}


def assert_one_line_error(process: subprocess.CompletedProcess, *words: str) -> None:
    assert process.returncode == 2, process.stdout + process.stderr
    assert process.stderr.startswith("Error: "), process.stderr
    assert "Traceback" not in process.stderr
    for word in words:
        assert word in process.stderr, process.stderr


# ---------------------------------------------------------------------------
# Listing, filters, failfast, exit status
# ---------------------------------------------------------------------------

def test_list_prints_the_tree_with_tags_and_runs_nothing(rotest, workdir):
    process = rotest(CALC, "-l")
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines() == [
        "AllTests",
        "  CalcSuite  [nightly]",
        "    AddCase.test_add  [smoke, calc]",
        "    AddCase.test_add_negative  [smoke, calc]",
        "    DivideCase.test_divide  [calc]",
        "    DivideCase.test_divide_by_zero  [calc]",
        "  SlowCase.test_slow  [slow]",
    ]
    assert not (workdir / "runs").exists()


def test_run_prints_the_tree_and_exits_1_on_a_failure(rotest, workdir):
    process = rotest(CALC, "-n", "calc")
    assert process.returncode == 1, process.stderr
    out = process.stdout
    assert "    DivideCase.test_divide_by_zero ... FAIL" in out
    assert "  SlowCase.test_slow ... SKIP" in out
    assert "one over one is not zero" in out
    assert "FAILED (failures=1, skipped=1)" in out
    (run_dir,) = (workdir / "runs").iterdir()
    assert run_dir.name.endswith("-calc")
    # A test's work directory and test.log are made when it first logs: the
    # failed test logged its failure; the passing one, which logs nothing, has none.
    failed_log = run_dir / "CalcSuite" / "DivideCase.test_divide_by_zero" / "test.log"
    assert "one over one is not zero" in failed_log.read_text()
    assert not (run_dir / "CalcSuite" / "AddCase.test_add").exists()


def test_filter_selects_by_tag_class_and_method(rotest):
    process = rotest(CALC, "-f", "smoke or test_divide", "-o", "full")
    assert process.returncode == 0, process.stdout + process.stderr
    ran = [line.split(" ... ")[0].rsplit(".", 2)[-2:] for line in process.stdout.splitlines()
           if " ... " in line]
    assert ran == [["AddCase", "test_add"], ["AddCase", "test_add_negative"],
                   ["DivideCase", "test_divide"]]


def test_filter_on_suite_tags_and_negation(rotest):
    process = rotest(CALC, "-f", "nightly and not Add*", "-l")
    assert process.stdout.splitlines() == [
        "AllTests", "  CalcSuite  [nightly]", "    DivideCase.test_divide  [calc]",
        "    DivideCase.test_divide_by_zero  [calc]"]


def test_a_bad_filter_says_where_and_exits_2(rotest):
    process = rotest(CALC, "-f", "smoke and or slow")
    assert process.returncode == 2
    assert "bad filter: unexpected 'or' at column 10" in process.stderr
    assert "Traceback" not in process.stderr


def test_a_filter_that_selects_nothing_exits_5(rotest):
    process = rotest(CALC, "-f", "no_such_tag")
    assert process.returncode == 5
    assert "no tests to run" in process.stdout


def test_failfast_stops_after_the_first_failure(rotest):
    process = rotest(CALC, "-F")
    assert process.returncode == 1
    assert "test_divide_by_zero ... FAIL" in process.stdout
    assert "SlowCase" not in process.stdout


def test_a_passing_run_exits_0_and_skips_count_as_passes(rotest):
    process = rotest(CALC, "-f", "smoke or slow", "-o", "dots")
    assert process.returncode == 0, process.stdout
    assert process.stdout.startswith("..s\n")
    assert "OK (skipped=1)" in process.stdout


# ---------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------

def test_resources_are_released_at_the_end(rotest, lab, sample_dir):
    process = rotest(DEVICES, "-f", "DeviceTest")
    assert process.returncode == 0, process.stdout + process.stderr
    assert (sample_dir / "locked.txt").read_text() == "dev1"
    assert held(lab) == set() and not lab.row("dev1")["owner"]
    assert steps(sample_dir) == ["connect dev1", "initialize dev1", "finalize dev1"]


def test_resources_option_picks_another_resource_by_name(rotest, lab, sample_dir):
    process = rotest(DEVICES, "-f", "DeviceTest", "-r", "dev=dev2")
    assert process.returncode == 0, process.stdout + process.stderr
    assert (sample_dir / "locked.txt").read_text() == "dev2"


def test_resources_option_filters_on_a_field(rotest, lab, sample_dir):
    process = rotest(DEVICES, "-f", "AnyDeviceTest", "-r", "dev.ip_address=10.0.0.2")
    assert process.returncode == 0, process.stdout + process.stderr
    assert (sample_dir / "locked.txt").read_text() == "dev2"


def test_a_bad_resources_option_exits_2(rotest):
    assert_one_line_error(rotest(DEVICES, "-r", "dev"), "REQUEST=NAME")


def test_skip_init_connects_without_initializing(rotest, lab, sample_dir):
    process = rotest(DEVICES, "-f", "DeviceTest", "-S")
    assert process.returncode == 0, process.stdout + process.stderr
    assert steps(sample_dir) == ["connect dev1", "finalize dev1"]


def test_save_state_stores_the_state_of_a_failed_test(rotest, lab, sample_dir):
    process = rotest(DEVICES, "-f", "FailingDeviceTest", "-s")
    assert process.returncode == 1
    work_dir = Path((sample_dir / "work_dir.txt").read_text())
    assert (work_dir / "state" / "dev" / "device.txt").read_text() == "dev1 was here\n"
    assert lab.row("dev1")["dirty"] is True and held(lab) == set()


def test_no_state_without_save_state(rotest, lab, sample_dir):
    assert rotest(DEVICES, "-f", "FailingDeviceTest").returncode == 1
    assert not (Path((sample_dir / "work_dir.txt").read_text()) / "state").exists()


def test_ctrl_c_stops_the_run_and_releases_everything(workdir, lab, sample_dir, tmp_path):
    process = subprocess.Popen([*ROTEST, "run", str(SAMPLES / "sleepy.py")],
                               env=cli_env(workdir, sample_dir), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (sample_dir / "started").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the test never started"
            time.sleep(0.05)
        assert held(lab) == {"dev1"}
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, out + err
    assert "SleepyTest.test_sleeps ... ERROR" in out and "interrupted" in out
    assert not (sample_dir / "reached").exists()
    assert held(lab) == set() and lab.row("dev1")["dirty"] is True
    assert steps(sample_dir)[-1] == "finalize dev1"


# ---------------------------------------------------------------------------
# Clear errors: settings, test files, options of later issues
# ---------------------------------------------------------------------------

def test_a_broken_config_file_names_the_file_and_the_key(rotest, tmp_path):
    config = tmp_path / "rotest.yml"
    config.write_text("rotest:\n  port: ninety\n")
    assert_one_line_error(rotest(CALC), "bad configuration", str(config), "'port'")
    other = tmp_path / "other.yml"
    other.write_text("rotest:\n  smart_client: sometimes\n")
    assert_one_line_error(rotest(CALC, "--settings", str(other)), str(other), "'smart_client'")


def test_a_test_file_that_cannot_be_imported_is_named(rotest):
    process = rotest(str(SAMPLES / "broken_import.py"), CALC)
    assert_one_line_error(process, "broken_import.py", "ModuleNotFoundError",
                          "no_such_module_here", "broken_import.py:4")
    assert process.stdout == ""  # nothing ran


@pytest.mark.parametrize("args, words", [
    (["-o", "nosuch"], ["unknown output handler 'nosuch'", "dots,", "tree"]),
    (["-d", "1", "-p", "2"], ["--delta cannot be used with -p/--processes above 1"]),
    (["-D", "-p", "2"], ["-D/--debug cannot be used with -p/--processes above 1"]),
])
def test_options_that_cannot_go_together_exit_2(rotest, args, words):
    assert_one_line_error(rotest(CALC, *args), *words)


def test_one_process_is_accepted(rotest):
    assert rotest(CALC, "-p", "1", "-f", "smoke").returncode == 0


def test_debug_opens_pdb_on_a_failure(rotest):
    process = rotest(CALC, "-f", "test_divide_by_zero", "-D", input="p 6 * 7\nc\n")
    assert process.returncode == 1
    assert "(Pdb)" in process.stdout and "42" in process.stdout
    assert "post-mortem" in process.stderr


def test_a_test_file_runs_itself_with_main(workdir, sample_dir, tmp_path):
    script = [sys.executable, str(SAMPLES / "self_running.py")]
    env = cli_env(workdir, sample_dir)
    listed = subprocess.run([*script, "-l"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["AllTests", "  SelfCase.test_fails  [self]",
                                          "  SelfCase.test_passes  [self]"]
    ran = subprocess.run([*script, "-f", "test_passes", "-o", "full"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "success: ran by itself" in ran.stdout
    failing = subprocess.run(script, env=env, cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)
    assert failing.returncode == 1 and "1 expectation failed" in failing.stdout


def test_a_run_of_plain_cases_loads_only_what_it_uses(workdir, tmp_path):
    # Start-up time is import time: a run of cases that lock nothing must not
    # pay for flows, monitors, the lock clients, the server's commands,
    # SQLAlchemy or Flask (see rotest_app.engine.lazy).
    (tmp_path / "test_plain.py").write_text(
        "from rotest_core import TestCase\n\n"
        "class PlainCase(TestCase):\n"
        "    def test_it(self):\n"
        "        self.assertTrue(True)\n")
    script = ("import runpy, sys\n"
              "sys.argv = ['rotest', 'run', '-o', 'dots', 'test_plain.py']\n"
              "try:\n"
              "    runpy.run_module('rotest_core.cli', run_name='__main__')\n"
              "finally:\n"
              "    print(' '.join(sorted(sys.modules)), file=sys.stderr)\n")
    finished = subprocess.run([sys.executable, "-c", script], env=cli_env(workdir),
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    loaded = set(finished.stderr.split())
    assert "rotest_core.case" in loaded  # what was printed is the list of modules
    unused = {"rotest_core.flow", "rotest_core.block", "rotest_core.monitor",
              "rotest_core.resources.manager", "rotest_core.store.embedded",
              "rotest_core.store.remote", "rotest_core.multiprocess", "rotest_app.cli",
              "sqlalchemy", "flask", "requests", "yaml"}
    assert loaded & unused == set()
