"""The record tree that file reports read, built from a real run's events."""
from __future__ import annotations

import io

from rotest_reports.record import RecordingHandler
from rotest_reports.text import cap, clean
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import outcomes
from runtime_samples.fixtures import workdir  # noqa: F401 - fixture


class Keeper(RecordingHandler):
    NAME = "keeper"
    last: RecordingHandler | None = None

    def stop_test_run(self) -> None:
        super().stop_test_run()
        Keeper.last = self


def recorded_run():
    report = run(outcomes.TESTS, load_config(), RunOptions(outputs=[Keeper], name="rec"),
                 stream=io.StringIO())
    return report, Keeper.last.run


def test_every_test_has_its_outcome_and_place(workdir):
    report, record = recorded_run()
    assert report.exit_code == 1
    assert {r.name: r.outcome for r in record.tests()} == outcomes.EXPECTED
    paths = {r.path for r in record.tests()}
    # Identities: module-qualified cases under their suites' names.
    assert "OuterSuite/InnerSuite/runtime_samples.outcomes.ProblemCase.test_fails" in paths
    assert not any(path.endswith("HostileCase.test_errors") for path in paths)
    counts = record.counts()
    assert counts == {"error": 2, "failure": 2, "unexpected_success": 1,
                      "expected_failure": 1, "skip": 1, "success": 3}


def test_composites_take_their_worst_child_and_times_nest(workdir):
    _report, record = recorded_run()
    outer = next(r for r in record.root.children if r.name == "OuterSuite")
    assert outer.outcome == "error" and outer.depth == 1 and outer.tags == ["nightly"]
    passing = outer.children[0]
    assert passing.name == "PassingCase.test_passes" and passing.outcome == "success"
    assert passing.classname.endswith("outcomes.PassingCase")
    assert passing.description == "Adds two numbers."
    assert outer.start <= passing.start <= passing.end <= outer.end
    assert passing.duration >= 0 and record.duration >= 0
    assert record.start.utcoffset() is not None


def test_details_infos_and_logs_are_kept(workdir):
    _report, record = recorded_run()
    by_name = {r.name: r for r in record.tests()}
    failed = by_name["ProblemCase.test_fails"]
    assert "one is not two" in failed.traceback
    assert failed.message.startswith("AssertionError")
    assert by_name["ProblemCase.test_skipped"].message == "not on this bench"
    messages = by_name["PassingCase.test_with_messages"]
    assert messages.infos == ["the answer was right"]
    assert "a line in the test's log" in messages.log_text()
    assert by_name["PassingCase.test_passes"].log_path is None


def test_clean_and_cap_make_text_safe():
    text = clean(outcomes.HOSTILE)
    assert "\x00" not in text and "\x1b" not in text and "\ud800" not in text
    assert "red" in text and "שלום" in text and "]]>" in text
    assert cap("abcdef", 3) == "[... 3 characters cut ...]\ndef"
    assert cap("abcdef", 3, keep="start").startswith("abc\n")


def test_hostile_text_reaches_the_log_and_the_console(workdir):
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    report = run(outcomes.TESTS, load_config(), RunOptions(outputs=["full", Keeper]),
                 stream=stream)
    by_name = {r.name: r for r in Keeper.last.run.tests()}
    log = by_name["HostileCase.test_ünïcödé_name"].log_text()
    assert "ok: nul" in log and "\\ud800" in log and "שלום" in log
    printed = raw.getvalue().decode("utf-8")
    assert "Ran 10 tests" in printed and report.exit_code == 1
    assert "\\ud800" in printed  # the hostile failure's text, escaped
