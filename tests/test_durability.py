"""No result lost: a run killed part-way (kill -9, SIGTERM) keeps every test
it reached, in a JUnit file valid at every moment and in its journal, from
which the other reports are rebuilt; SIGTERM stops a run as Ctrl-C does."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from lxml import etree
from openpyxl import load_workbook

from runtime_samples.fixtures import (ROTEST, SAMPLES, cli_env,  # noqa: F401 - fixtures
                                      sample_dir, workdir)
from rotest_reports.journal import read_journal
from test_report_junit import SCHEMAS, needs_schemas, schema

KILLABLE = str(SAMPLES / "killable.py")
ENDED = ["test_01", "test_02_fails", "test_03", "test_04_fails", "test_05", "test_06",
         "test_07_fails", "test_08"]


def start_run(workdir: Path, sample_dir: Path, outputs: str, *options: str
              ) -> subprocess.Popen:
    """``rotest run`` of the killable sample, stopped at its ninth test."""
    process = subprocess.Popen([*ROTEST, "run", KILLABLE, "-n", "nightly", "-o", outputs,
                                *options],
                               env=cli_env(workdir, sample_dir), cwd=workdir.parent,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (sample_dir / "reached").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached its ninth test"
        time.sleep(0.05)
    return process


def run_dir_of(workdir: Path) -> Path:
    [run_dir] = (workdir / "runs").iterdir()
    return run_dir


def junit_cases(path: Path) -> dict[str, str]:
    """name -> outcome of each testcase of a JUnit file (validated first)."""
    document = etree.parse(str(path))
    for name in SCHEMAS:
        checker = schema(name)
        assert checker.validate(document), (name, checker.error_log)
    cases = {}
    for case in document.iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        cases[case.get("name")] = kinds[0] if kinds else "success"
    return cases


@needs_schemas
def test_after_kill_9_every_ended_test_is_in_junit_and_the_rest_rebuilds(
        workdir, sample_dir):
    process = start_run(workdir, sample_dir, "dots,junit,excel,html")
    process.kill()
    process.communicate(timeout=30)
    run_dir = run_dir_of(workdir)

    # Written as each test ended: valid, and every one of the eight is there.
    cases = junit_cases(run_dir / "junit.xml")
    assert sorted(cases) == ENDED
    assert [name for name, outcome in cases.items() if outcome == "failure"] == [
        "test_02_fails", "test_04_fails", "test_07_fails"]
    assert not (run_dir / "report.html").exists()  # written at the end only

    rebuilt = subprocess.run([*ROTEST, "report", "rebuild", str(run_dir)],
                             env=cli_env(workdir), capture_output=True, text=True,
                             timeout=60)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "report.html" in rebuilt.stdout and "results.xlsx" in rebuilt.stdout
    sheet = load_workbook(run_dir / "results.xlsx")["Results"]
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sum(1 for name in names if name and name.strip().startswith("Steps.test_")) == 8
    page = (run_dir / "report.html").read_text()
    assert "test_07_fails" in page and "test_09_hangs" not in page
    assert junit_cases(run_dir / "junit.xml") == cases  # the final shape, same tests


def test_the_next_run_in_the_work_directory_rebuilds_a_killed_runs_reports(
        workdir, sample_dir):
    process = start_run(workdir, sample_dir, "dots,html")
    process.kill()
    process.communicate(timeout=30)
    killed = run_dir_of(workdir)
    assert not (killed / "report.html").exists()

    (sample_dir / "no-hang").touch()
    after = subprocess.run([*ROTEST, "run", KILLABLE, "-o", "dots,junit"],
                           env=cli_env(workdir, sample_dir), cwd=workdir.parent,
                           capture_output=True, text=True, timeout=120)
    assert after.returncode == 1, after.stderr
    assert f"rebuilt 1 report(s) of the unfinished run {killed}" in after.stderr
    assert "test_08" in (killed / "report.html").read_text()


@needs_schemas
def test_sigterm_stops_the_run_as_ctrl_c_does(workdir, sample_dir):
    process = start_run(workdir, sample_dir, "dots,junit,html")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, out + err
    assert "stopped by SIGTERM" in err
    run_dir = run_dir_of(workdir)
    cases = junit_cases(run_dir / "junit.xml")
    assert sorted(cases) == [*ENDED, "test_09_hangs"]
    assert cases["test_09_hangs"] == "error"  # interrupted: no outcome, said so
    assert (run_dir / "report.html").stat().st_size > 0
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").open()]
    assert journal[-1]["finish"]["status"] == "interrupted"


@needs_schemas
def test_a_parallel_run_whose_main_process_is_killed_keeps_what_its_workers_ended(
        workdir, sample_dir):
    process = start_run(workdir, sample_dir, "dots,junit", "-p", "2")
    time.sleep(1)  # the other worker goes on meanwhile
    process.kill()
    process.wait(30)
    run_dir = run_dir_of(workdir)
    cases = junit_cases(run_dir / "junit.xml")
    (sample_dir / "release").touch()  # the orphaned worker ends; its pipes close
    process.communicate(timeout=60)
    assert set(ENDED) <= set(cases) and "test_09_hangs" not in cases
    journal = read_journal(run_dir)
    ended = {record["name"]: record["outcome"] for record in journal.records.values()
             if record["kind"] == "case"}
    assert all(outcome is not None for outcome in ended.values())
    assert set(ended) == {f"Steps.{name}" for name in cases}
