"""The console extras (loginfo, logdebug, pretty, progress) on real runs with
every outcome, nested suites and hostile strings."""
from __future__ import annotations

import io
import logging
import re
import sys
import types

import pytest

from rotest_reports.console import (LogDebugHandler, LogInfoHandler, PrettyHandler,
                             ProgressHandler)
from rotest_core.case import TEST_LOG
from rotest_core.result import handler_class
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from rotest_core.result import test_path as path_of_test
from runtime_samples import chatty, outcomes
from runtime_samples.fixtures import workdir  # noqa: F401 - fixture
from test_report_record import Keeper


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def output_of(*handlers, tests=None, stream=None, name="console"):
    stream = stream if stream is not None else io.StringIO()
    report = run(tests or [*outcomes.TESTS, chatty.ChattyCase], load_config(),
                 RunOptions(outputs=list(handlers), name=name), stream=stream)
    return report, stream.getvalue()


def assert_clean(text: str) -> None:
    """Hostile strings reached the console cleaned, still readable."""
    assert "\x00" not in text and "\x07" not in text
    assert not re.search("[\ud800-\udfff]", text)
    assert "שלום ✓ 日本" in text


def test_loginfo_prints_the_tests_log_records_between_test_boundaries(workdir):
    report, out = output_of("loginfo")
    assert report.exit_code == 1
    lines = out.splitlines()
    start = lines.index(next(l for l in lines if "ChattyCase.test_logs started" in l))
    end = lines.index(next(l for l in lines if "ChattyCase.test_logs: OK" in l))
    between = "\n".join(lines[start:end])
    assert "an info line" in between and "a warning line" in between
    assert "a debug line" not in out
    assert "a line in the test's log" in out
    assert "the test ended with a failure" in out  # the failure as it was logged
    assert "\x1b" not in out  # no terminal, no colour, none of the tests' either
    assert_clean(out)
    assert out.rstrip().splitlines()[-2].startswith("FAILED")


def test_logdebug_prints_debug_records_too_and_lets_go_of_the_logger(workdir):
    before = list(TEST_LOG.handlers)
    _report, out = output_of("logdebug", tests=[chatty.ChattyCase])
    assert "a debug line" in out and "an info line" in out
    assert TEST_LOG.handlers == before
    stray = logging.getLogger("rotest.test.after")
    stray.info("logged after the run")
    _report, again = output_of(LogInfoHandler, tests=[chatty.ChattyCase])
    assert "logged after the run" not in again


def test_pretty_boxes_suites_and_indents_cases_with_their_outcome(workdir):
    report, out = output_of(PrettyHandler, tests=outcomes.TESTS)
    assert report.exit_code == 1
    assert "| OuterSuite |" in out and "| InnerSuite |" in out
    words = {"success": "OK", "failure": "FAIL", "error": "ERROR", "skip": "SKIP",
             "expected_failure": "EXPECTED FAILURE",
             "unexpected_success": "UNEXPECTED SUCCESS"}
    for name, outcome in outcomes.EXPECTED.items():
        [line] = [l for l in out.splitlines() if f" {name} ." in l]
        assert line.endswith(" " + words[outcome]), line
    inner = out.index("| InnerSuite |")
    problem = next(l for l in out.splitlines() if "ProblemCase.test_fails" in l)
    box = next(l for l in out.splitlines() if "| InnerSuite |" in l)
    assert len(problem) - len(problem.lstrip()) > len(box) - len(box.lstrip())
    assert out.index("ProblemCase.test_fails") > inner
    assert "\x1b" not in out
    assert_clean(out)


def test_pretty_colours_only_on_a_terminal(workdir):
    _report, out = output_of(PrettyHandler, tests=[outcomes.PassingCase],
                             stream=Terminal())
    assert "\x1b[32mOK\x1b[0m" in out


class EveryThree(ProgressHandler):
    EVERY_TESTS = 3


def test_progress_writes_a_line_every_few_tests_off_a_terminal(workdir):
    report, out = output_of(EveryThree, tests=outcomes.TESTS)
    counts = re.findall(r"^\[(\d+)/10\] (\d+) failed", out, re.MULTILINE)
    assert counts == [("3", "1"), ("6", "2"), ("9", "5"), ("10", "5")]
    assert "\r" not in out
    assert_clean(out)
    assert report.exit_code == 1


def test_progress_redraws_one_line_on_a_terminal(workdir):
    _report, out = output_of(ProgressHandler, tests=outcomes.TESTS, stream=Terminal())
    assert "\r[10/10] 5 failed" in out
    progress = out.split("\n")[0]
    assert progress.startswith("\r[") and progress.count("\r") >= 1


@pytest.fixture
def history(monkeypatch):
    """A rotest_reports.history whose past_durations says 100 s for every test of
    the outcomes sample, under the paths the record tree gives them."""
    calls = []
    paths = {}

    def past_durations(config, run_name):
        calls.append(run_name)
        return dict(paths)

    module = types.ModuleType("rotest_reports.history")
    module.past_durations = past_durations
    monkeypatch.setitem(sys.modules, "rotest_reports.history", module)
    return calls, paths


class EveryTest(ProgressHandler):
    EVERY_TESTS = 1


def test_progress_estimates_the_time_left_from_history(workdir, history):
    calls, paths = history
    run(outcomes.TESTS, load_config(), RunOptions(outputs=[Keeper], name="prog"),
        stream=io.StringIO())
    paths.update({record.path: 100.0 for record in Keeper.last.run.tests()})
    _report, out = output_of(EveryTest, tests=outcomes.TESTS, name="prog")
    assert calls == ["prog"]
    first = out.splitlines()[0]
    assert first.startswith("[1/10]") and first.endswith("about 15:00 left"), first


def test_progress_falls_back_to_this_runs_mean_when_history_fails(workdir, history,
                                                                  monkeypatch):
    def broken(config, run_name):
        raise ConnectionError("history is down")
    monkeypatch.setattr(sys.modules["rotest_reports.history"], "past_durations", broken)
    report, out = output_of(EveryTest, tests=outcomes.TESTS)
    first = out.splitlines()[0]
    assert first.startswith("[1/10]") and "left" in first and "15:00" not in first
    assert report.exit_code == 1


def test_test_path_is_the_record_path(workdir):
    seen = {}

    class Paths(ProgressHandler):
        def stop_test(self, test):
            super().stop_test(test)
            seen[type(test).__name__ + "." + test._testMethodName] = path_of_test(test)

    run(outcomes.TESTS, load_config(), RunOptions(outputs=[Paths, Keeper]),
        stream=io.StringIO())
    assert seen == {record.name: record.path for record in Keeper.last.run.tests()}


def test_the_handlers_are_found_by_their_names():
    assert [handler_class(name) for name in ("loginfo", "logdebug", "pretty", "progress")] \
        == [LogInfoHandler, LogDebugHandler, PrettyHandler, ProgressHandler]
