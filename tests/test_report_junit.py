"""The junit handler on real runs: the XML Jenkins reads, checked against
both JUnit schemas and read back for names, counts and messages."""
from __future__ import annotations

import functools
import io
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from lxml import etree

from rotest_reports.junit import JUnitHandler, build_document
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import merge_samples, outcomes, report_samples
from runtime_samples.fixtures import REPO, ROTEST, SAMPLES, cli_env, lab, workdir  # noqa: F401

SCHEMA_DIRS = [REPO.parent / "shared" / "schemas", Path("/work/shared/schemas")]
SCHEMA_DIR = next((folder for folder in SCHEMA_DIRS if folder.is_dir()), None)
needs_schemas = pytest.mark.skipif(
    SCHEMA_DIR is None, reason=f"the JUnit schemas are not here (looked in "
                               f"{', '.join(map(str, SCHEMA_DIRS))})")
SCHEMAS = ("junit-10.xsd", "jenkins-junit.xsd")
MODULE = "runtime_samples.outcomes"


@functools.lru_cache(maxsize=None)
def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / name)))


def run_junit(tests, name="nightly"):
    report = run(tests, load_config(), RunOptions(outputs=["junit"], name=name),
                 stream=io.StringIO())
    return report, report.run_dir / "junit.xml"


@pytest.fixture
def outcomes_xml(workdir):
    """The parsed junit.xml of the sample run with every outcome."""
    report, path = run_junit(outcomes.TESTS)
    assert report.exit_code == 1
    return etree.parse(str(path)), path


def cases_by_name(document) -> dict[str, etree._Element]:
    return {f"{case.get('classname').rpartition('.')[2]}.{case.get('name')}": case
            for case in document.iter("testcase")}


@needs_schemas
@pytest.mark.parametrize("schema_name", SCHEMAS)
def test_the_file_validates_against_both_schemas(outcomes_xml, schema_name):
    document, _path = outcomes_xml
    checker = schema(schema_name)
    assert checker.validate(document), checker.error_log


def test_classnames_are_dotted_and_each_test_has_its_outcome(outcomes_xml):
    document, _path = outcomes_xml
    cases = cases_by_name(document)
    assert set(cases) == set(outcomes.EXPECTED)
    problem = cases["ProblemCase.test_fails"]
    assert problem.get("classname") == f"{MODULE}.ProblemCase"
    assert float(problem.get("time")) >= 0
    failure = problem.find("failure")
    assert failure.get("type") == "AssertionError"
    assert failure.get("message") == "AssertionError: 1 != 2 : one is not two"
    assert "Traceback (most recent call last)" in failure.text
    error = cases["ProblemCase.test_errors"].find("error")
    assert error.get("type") == "RuntimeError" and "the device fell over" in error.text
    assert cases["ProblemCase.test_skipped"].find("skipped").text == "not on this bench"
    unexpected = cases["ProblemCase.test_unexpected_success"].find("failure")
    assert unexpected.get("type") == "UnexpectedSuccess"
    expected = cases["ProblemCase.test_expected_failure"]
    assert [child.tag for child in expected] == ["system-out"]
    assert "expected failure (counted as a pass)" in expected.find("system-out").text
    assert list(cases["PassingCase.test_passes"]) == []


def test_counts_suites_and_timestamps(outcomes_xml):
    document, _path = outcomes_xml
    root = document.getroot()
    assert (root.get("name"), root.get("tests"), root.get("failures"),
            root.get("errors")) == ("nightly", "10", "3", "2")
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert set(suites) == {"nightly", "OuterSuite", "OuterSuite/InnerSuite"}
    inner = suites["OuterSuite/InnerSuite"]
    assert [inner.get(key) for key in ("tests", "failures", "errors", "skipped")] == \
        ["5", "2", "1", "1"]
    assert suites["nightly"].get("tests") == "3"  # the run's own HostileCase tests
    case_times = sum(float(case.get("time")) for case in inner.iter("testcase"))
    assert float(inner.get("time")) == pytest.approx(case_times, abs=0.01)
    for suite in suites.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d",
                            suite.get("timestamp")), suite.get("timestamp")


def test_output_and_properties_carry_the_log_and_the_run(outcomes_xml, workdir):
    document, _path = outcomes_xml
    cases = cases_by_name(document)
    output = cases["PassingCase.test_with_messages"].find("system-out").text
    assert "success: the answer was right" in output
    assert "a line in the test's log" in output
    suite = document.getroot().find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["run"] == "nightly"
    assert properties["config.workdir"] == str(workdir)
    assert "environment.host" in properties


def test_hostile_strings_come_out_clean_and_capped(outcomes_xml):
    document, path = outcomes_xml
    raw = path.read_bytes()
    assert b"\x00" not in raw and b"\x1b" not in raw and b"\x07" not in raw
    cases = cases_by_name(document)
    message = cases["HostileCase.test_hostile_failure"].find("failure").get("message")
    assert "red ]]> <b>&amp;" in message and "שלום ✓ 日本" in message
    assert "[31m" not in message
    huge = cases["HostileCase.test_huge_traceback"].find("error")
    assert len(huge.text) < 70_000 and "characters cut" in huge.text
    assert len(huge.get("message")) < 1100
    assert path.stat().st_size < 300_000
    assert cases["HostileCase.test_ünïcödé_name"].get("name") == "test_ünïcödé_name"


def rerun_cases(workdir):
    report_samples.ATTEMPTS.clear()
    # The same case twice in one run: its second attempts re-run the first.
    _report, path = run_junit([report_samples.FlakyCase, report_samples.FlakyCase])
    return etree.parse(str(path)), path


def test_reruns_are_flaky_when_they_pass_at_last_and_reruns_when_not(workdir):
    document, _path = rerun_cases(workdir)
    cases = {case.get("name"): case for case in document.iter("testcase")}
    assert len(cases) == len(list(document.iter("testcase"))) == 4
    flaky = cases["test_fails_then_passes"]
    assert [child.tag for child in flaky] == ["flakyFailure"]
    assert "first attempt fails" in flaky.find("flakyFailure/stackTrace").text
    assert flaky.find("flakyFailure").get("type") == "AssertionError"
    assert [child.tag for child in cases["test_errors_then_passes"]] == ["flakyError"]
    broken = cases["test_always_fails"]
    assert [child.tag for child in broken] == ["failure", "rerunFailure", "system-out"]
    assert "attempt 2" in broken.find("failure").text
    assert "attempt 1" in broken.find("rerunFailure").get("message")
    assert list(cases["test_passes"]) == []
    assert document.getroot().get("failures") == "1"


@needs_schemas
def test_reruns_validate_against_surefires_schema(workdir):
    """Jenkins's older schema has no re-run elements: only they differ."""
    document, _path = rerun_cases(workdir)
    checker = schema("junit-10.xsd")
    assert checker.validate(document), checker.error_log
    jenkins = schema("jenkins-junit.xsd")
    assert not jenkins.validate(document)
    for element in list(document.iter("flakyFailure", "flakyError", "rerunFailure")):
        element.getparent().remove(element)
    assert jenkins.validate(document), jenkins.error_log


def test_the_file_is_written_after_the_first_top_level_test(workdir):
    report_samples.SEEN.clear()
    _report, path = run_junit([report_samples.FirstCase, report_samples.ProbeCase])
    seen = etree.fromstring(report_samples.SEEN["junit.xml"])
    assert [case.get("name") for case in seen.iter("testcase")] == ["test_first"]
    assert [case.get("name") for case in etree.parse(str(path)).iter("testcase")] == \
        ["test_first", "test_probe"]


def test_junit_path_is_configurable_relative_to_the_run_dir(workdir, tmp_path):
    target = tmp_path / "ci" / "out.xml"
    config = load_config(overrides={"junit_path": str(target)})
    run([report_samples.FirstCase], config, RunOptions(outputs=[JUnitHandler]),
        stream=io.StringIO())
    assert [case.get("name") for case in etree.parse(str(target)).iter("testcase")] == \
        ["test_first"]


def test_the_cli_writes_junit_and_excel_into_the_run_dir(workdir, tmp_path):
    process = subprocess.run(
        [*ROTEST, "run", str(SAMPLES / "outcomes.py"), "-o", "junit,excel", "-n", "ci"],
        env=cli_env(workdir, ROTEST_JUNIT_PATH="reports/junit-ci.xml"), cwd=tmp_path,
        capture_output=True, text=True, timeout=120)
    assert process.returncode == 1, process.stderr
    assert "output handler" not in process.stderr  # no handler broke
    [run_dir] = (workdir / "runs").iterdir()
    document = etree.parse(str(run_dir / "reports" / "junit-ci.xml"))
    assert document.getroot().get("tests") == "10"
    from openpyxl import load_workbook
    workbook = load_workbook(run_dir / "results.xlsx")
    assert workbook["Results"].max_row == 1 + 10 + 2  # the header, the tests, 2 suites


@needs_schemas
@settings(max_examples=60, deadline=None)
@given(text=st.text(), outcome=st.sampled_from(["failure", "error", "skip"]))
def test_any_text_gives_a_file_both_schemas_accept(text, outcome):
    written = etree.tostring(build_document(report_samples.one_test_run(text, outcome)),
                             encoding="UTF-8", xml_declaration=True)
    document = etree.ElementTree(etree.fromstring(written))
    for name in SCHEMAS:
        checker = schema(name)
        assert checker.validate(document), (name, checker.error_log)
    assert document.getroot().get("tests") == "1"


@needs_schemas
def test_a_test_that_locked_resources_says_how_long_it_waited(workdir, lab):
    """Neither schema has testcase properties: the wait opens system-out; each
    suite's properties sum its tests' waits, with a flow's own."""
    _report, path = run_junit([merge_samples.DeviceCase, merge_samples.DeviceFlow,
                               merge_samples.OutcomesA])
    document = etree.parse(str(path))
    cases = cases_by_name(document)
    device = cases["DeviceCase.test_holds_the_device"].findtext("system-out")
    match = re.match(r"rotest\.lock_wait: (\d+\.\d{3}) s \(set-up: \d+\.\d{3} s\)\n?",
                     device)
    assert match, device
    assert not (cases["OutcomesA.test_passes"].findtext("system-out") or "").startswith(
        "rotest.lock_wait")  # it locked nothing
    suites = {suite.get("name"): {p.get("name"): p.get("value")
                                  for p in suite.iter("property")}
              for suite in document.iter("testsuite")}
    flow = next(props for name, props in suites.items() if name.endswith("DeviceFlow"))
    assert float(flow["rotest.lock_wait"]) > 0  # the flow's own lock, for its blocks
    assert not any("rotest.lock_wait" in props for name, props in suites.items()
                   if "Outcomes" in name)
    for name in SCHEMAS:
        checker = schema(name)
        assert checker.validate(document), checker.error_log
