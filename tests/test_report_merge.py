"""``rotest report merge`` end to end: a small tree run whole, then as two
separate ``rotest run`` processes (``-f``), merged; the merged JUnit,
workbook and HTML page hold what the whole run's hold. And a per-test lock
wait that shows when two runs contend for one device (embedded SQLite)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import lxml.html
import pytest
from lxml import etree
from openpyxl import load_workbook

from runtime_samples.fixtures import (ROTEST, SAMPLES, cli_env, lab,  # noqa: F401 - fixtures
                                      sample_dir, workdir)
from test_report_html import (browser, needs_chromium, open_report,  # noqa: F401 - fixtures
                              shown_tests, wait_drawn)
from test_report_junit import SCHEMAS, needs_schemas, schema
from test_run_cli import assert_one_line_error

TREE = str(SAMPLES / "merge_samples.py")
#: Two shards that together are the whole tree; BrokenFixture's failing
#: setUpClass is met by both.
SHARDS = ("a or test_in_a", "b or test_in_b")
REPORTS = "junit,excel,html"


def rotest(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ROTEST, *args], env=cli_env(workdir, **env),
                          capture_output=True, text=True, timeout=180)


def run_dir_of(process: subprocess.CompletedProcess) -> Path:
    match = re.search(r"^Work directory: (.+)$", process.stdout, re.MULTILINE)
    assert match, process.stdout + process.stderr
    return Path(match.group(1))


def run_tree(workdir: Path, *args: str, **env: str) -> Path:
    process = rotest(workdir, "run", "-o", f"dots,{REPORTS}", *args, TREE, **env)
    assert process.returncode == 1, process.stdout + process.stderr  # it has failures
    return run_dir_of(process)


def merge(workdir: Path, *args: str | Path) -> subprocess.CompletedProcess:
    return rotest(workdir, "report", "merge", *map(str, args))


# --- reading the three reports -------------------------------------------------

def junit_cases(path: Path) -> Counter:
    """(classname, name, outcome) of every testcase, counted."""
    cases = Counter()
    for case in etree.parse(str(path)).iter("testcase"):
        outcome = next((child.tag for child in case
                        if child.tag in ("error", "failure", "skipped")), "passed")
        cases[case.get("classname"), case.get("name"), outcome] += 1
    return cases


def junit_totals(path: Path) -> dict[str, str]:
    root = etree.parse(str(path)).getroot()
    return {key: root.get(key) for key in ("tests", "failures", "errors")}


def workbook_rows(path: Path) -> tuple[Counter, dict]:
    """((name, result) of each Results row, counted; the Summary's counts)."""
    workbook = load_workbook(path)
    rows = list(workbook["Results"].iter_rows(values_only=True))
    header = rows[0]
    results = Counter((row[0], row[1]) for row in rows[1:])
    summary = {row[0]: row[1] for row in workbook["Summary"].iter_rows(values_only=True)
               if row[0] in ("Success", "Failure", "Error", "Skip", "Expected Failure",
                             "Unexpected Success", "Total")}
    return results, summary, [dict(zip(header, row)) for row in rows[1:]]


def html_view(path: Path) -> dict:
    document = lxml.html.parse(str(path)).getroot()
    (script,) = document.xpath("//script[@id='run-data']")
    return json.loads(script.text)


def html_leaves(node: dict) -> list[dict]:
    if node["kind"] in ("suite", "flow"):
        return [leaf for child in node["children"] for leaf in html_leaves(child)]
    return [node]


# --- the tests -------------------------------------------------------------------

@needs_schemas
def test_merged_shards_report_what_the_whole_run_reports(workdir, lab, tmp_path):
    whole = run_tree(workdir)
    shards = [run_tree(workdir, "-f", expression) for expression in SHARDS]
    out = tmp_path / "merged"
    process = merge(workdir, *shards, "-o", out)
    assert process.returncode == 0, process.stdout + process.stderr
    assert sorted(path.name for path in out.iterdir()) == [
        "junit.xml", "report.html", "results.xlsx"]

    # JUnit: the same test cases with the same outcomes, the same totals, valid.
    assert junit_cases(out / "junit.xml") == junit_cases(whole / "junit.xml")
    assert junit_totals(out / "junit.xml") == junit_totals(whole / "junit.xml") == {
        "tests": "11", "failures": "1", "errors": "2"}
    for name in SCHEMAS:
        checker = schema(name)
        assert checker.validate(etree.parse(str(out / "junit.xml"))), checker.error_log

    # The workbook: the same rows (suites, tests, results) and summary.
    merged_rows, merged_summary, _ = workbook_rows(out / "results.xlsx")
    whole_rows, whole_summary, _ = workbook_rows(whole / "results.xlsx")
    assert merged_rows == whole_rows
    assert merged_summary == whole_summary and merged_summary["Total"] == 11

    # The page: the same counts and tests; the totals are the shards' summed
    # (the fixture error both shards met counts once, as in the whole run).
    merged, full = html_view(out / "report.html"), html_view(whole / "report.html")
    assert merged["counts"] == full["counts"]
    assert (sorted((leaf["name"], leaf["outcome"]) for leaf in html_leaves(merged["tree"]))
            == sorted((leaf["name"], leaf["outcome"]) for leaf in html_leaves(full["tree"])))
    shard_counts = [html_view(shard / "report.html")["counts"] for shard in shards]
    summed = {outcome: sum(counts[outcome] for counts in shard_counts)
              for outcome in merged["counts"]}
    assert merged["counts"] == {**summed, "error": summed["error"] - 1}
    assert "merged 2 run(s): 11 tests" in process.stdout


@needs_schemas
def test_shards_made_by_shard_k_of_n_merge_into_the_whole_run(workdir, lab, tmp_path):
    """``--shard K/3`` (no run id: the split by count every host computes
    alike), each shard's run directory merged."""
    whole = run_tree(workdir)
    shards = []
    for index in (1, 2, 3):
        process = rotest(workdir, "run", "-o", f"dots,{REPORTS}", "--shard", f"{index}/3",
                         TREE)
        assert process.returncode in (0, 1), process.stdout + process.stderr
        shards.append(run_dir_of(process))
    process = merge(workdir, *shards, "-o", tmp_path / "merged")
    assert process.returncode == 0, process.stdout + process.stderr
    merged = tmp_path / "merged" / "junit.xml"
    assert junit_cases(merged) == junit_cases(whole / "junit.xml")
    assert junit_totals(merged) == junit_totals(whole / "junit.xml")
    assert workbook_rows(tmp_path / "merged" / "results.xlsx")[:2] == \
        workbook_rows(whole / "results.xlsx")[:2]


def test_the_shards_of_a_rotest_work_directory_and_of_copies_merge(workdir, lab,
                                                                   tmp_path):
    """Shards made with separate work directories (hosts), copied back as CI
    artifacts: merge takes the work directories whole."""
    copies = []
    for index, expression in enumerate(SHARDS):
        # The second in two worker processes: their waits reach the reports too.
        shard_dir = run_tree(workdir, "-f", expression, *(("-p", "2") if index else ()))
        copy = tmp_path / f"artifact-{index}" / "runs" / shard_dir.name
        shutil.copytree(shard_dir, copy)
        copies.append(copy.parent.parent)
    # A journal of the version before lock waits (no format number) merges,
    # with a warning that its waits are unknown.
    (old_journal,) = copies[0].glob("runs/*/journal.jsonl")
    lines = old_journal.read_text().splitlines(keepends=True)
    first = json.loads(lines[0])
    del first["local"]["format"]
    old_journal.write_text(json.dumps(first) + "\n" + "".join(lines[1:]))
    process = merge(workdir, *copies, "-o", tmp_path / "merged", "--name", "nightly")
    assert process.returncode == 0, process.stdout + process.stderr
    assert "older rotest: its tests' lock waits are unknown" in process.stderr
    assert etree.parse(str(tmp_path / "merged" / "junit.xml")).getroot().get(
        "name") == "nightly"
    assert junit_totals(tmp_path / "merged" / "junit.xml")["tests"] == "11"
    cases = {case.get("name"): case.findtext("system-out") or "" for case in
             etree.parse(str(tmp_path / "merged" / "junit.xml")).iter("testcase")}
    assert cases["test_holds_the_device"].startswith("rotest.lock_wait: ")  # -p 2
    assert cases["test_holds_the_device_too"].startswith("rotest.lock_wait: ")


def assert_refused(process: subprocess.CompletedProcess, *words: str) -> None:
    assert_one_line_error(process, *words)
    assert process.stderr.startswith("Error: cannot merge: "), process.stderr


def test_what_cannot_be_merged_is_refused_saying_why(workdir, lab, tmp_path):
    shard_a, shard_b = (run_tree(workdir, "-f", expression) for expression in SHARDS)
    whole = run_tree(workdir)
    out = tmp_path / "out"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert_refused(merge(workdir, empty, "-o", out), str(empty),
                   "is not a run's work directory", "journal.jsonl")
    old = tmp_path / "old"
    old.mkdir()
    (old / "junit.xml").write_text("<testsuites/>")
    assert_refused(merge(workdir, old, "-o", out), "older rotest", "again")
    assert_refused(merge(workdir, shard_a, shard_a, "-o", out), "given twice")
    copy = tmp_path / "copy-of-a"
    shutil.copytree(shard_a, copy)
    assert_refused(merge(workdir, shard_a, copy, "-o", out), "the same run", "copied twice")
    # Runs that share tests: the shard and the whole run; the test is named.
    assert_refused(merge(workdir, shard_b, whole, "-o", out), "is in two runs",
                   "the test 'runtime_samples.merge_samples.", str(shard_b), str(whole))
    # The whole work directory holds all three runs: the same refusal.
    assert_refused(merge(workdir, workdir, "-o", out), "is in two runs")
    out.mkdir()
    (out / "junit.xml").write_text("keep me")
    assert_refused(merge(workdir, shard_a, shard_b, "-o", out), "holds files")
    assert (out / "junit.xml").read_text() == "keep me"
    assert_refused(merge(workdir, shard_a, "-o", tmp_path / "new", "--outputs", "journal"),
                   "not a file report")


def test_a_run_that_waited_for_a_device_shows_the_wait_per_test(workdir, lab, tmp_path):
    """Two runs at once, each with a test holding dev1 for 5 s: one of them
    waits in the queue for the other, and the merged reports say so. (The
    runs start together; one waits for most of the other's hold unless its
    start lags by seconds.)"""
    hold = 5.0
    env = cli_env(workdir, ROTEST_HOLD=str(hold), ROTEST_RESOURCE_REQUEST_TIMEOUT="120")
    runs = [subprocess.Popen([*ROTEST, "run", "-o", f"dots,{REPORTS}", "-f",
                              f"device and {tag}", TREE], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for tag in ("a", "b")]
    outputs = [process.communicate(timeout=180)[0] for process in runs]
    for process, output in zip(runs, outputs):
        assert process.returncode == 0, output
    run_dirs = [Path(re.search(r"^Work directory: (.+)$", output, re.MULTILINE).group(1))
                for output in outputs]
    out = tmp_path / "merged"
    process = merge(workdir, *run_dirs, "-o", out)
    assert process.returncode == 0, process.stdout + process.stderr

    # JUnit: each device test says its wait first in system-out; one waited
    # for most of the other's hold (a loaded machine only waits longer).
    waits = {}
    for case in etree.parse(str(out / "junit.xml")).iter("testcase"):
        text = case.findtext("system-out") or ""
        match = re.match(r"rotest\.lock_wait: ([\d.]+) s", text)
        if case.get("name").startswith("test_holds"):
            assert match, text
            waits[case.get("name")] = float(match.group(1))
    assert len(waits) == 2 and max(waits.values()) > 1.0, waits
    assert min(waits.values()) < hold, waits  # the first in got it at once
    for name in SCHEMAS:
        checker = schema(name)
        assert checker.validate(etree.parse(str(out / "junit.xml"))), checker.error_log

    # The workbook: a Lock wait column, the same figures.
    _rows, _summary, rows = workbook_rows(out / "results.xlsx")
    by_name = {row["Name"]: row["Lock wait"] for row in rows}
    excel_waits = {name.split(".")[-1]: wait for name, wait in by_name.items()
                   if name.split(".")[-1] in waits}
    assert excel_waits == pytest.approx(waits, abs=0.002)
    summary = {row[0]: row[1] for row in load_workbook(out / "results.xlsx")["Summary"]
               .iter_rows(values_only=True)}
    assert summary["Lock wait"] >= sum(waits.values()) - 0.01

    # The page: per test, and the run's total in the header.
    view = html_view(out / "report.html")
    html_waits = {leaf["name"].split(".")[-1]: leaf["lock_wait"]
                  for leaf in html_leaves(view["tree"]) if leaf["name"].endswith("device")
                  or leaf["name"].endswith("device_too")}
    assert html_waits == pytest.approx(waits, abs=0.002)
    header = lxml.html.parse(str(out / "report.html")).getroot().xpath(
        "//*[@id='lock-wait']")[0].text_content()
    assert header.startswith("waited ") and header.endswith(" for locks")


@needs_chromium
def test_the_merged_page_shows_every_test_and_its_wait_in_a_browser(workdir, lab, tmp_path,
                                                                    open_report):
    shards = [run_tree(workdir, "-f", expression, ROTEST_HOLD="0.05")
              for expression in SHARDS]
    out = tmp_path / "merged"
    assert merge(workdir, *shards, "-o", out).returncode == 0
    page = open_report(out / "report.html")
    page.click("#expand-all")
    wait_drawn(page)
    names = shown_tests(page)
    assert len(names) == 11 and "DeviceCase.test_holds_the_device" in names
    assert page.locator("#lock-wait").inner_text().startswith("waited ")
    row = page.locator(".leaf > .row", has_text="DeviceCase.test_holds_the_device")
    assert row.locator(".wait").inner_text().startswith("waited ")
