"""TestCase: expectations, success messages, resources locked before setUp
and released after tearDown (kept by the smart client, dirty after a failure).

Cases come from tests/runtime_samples/cases.py and run in process through the
runner, on the embedded database and against the lock server over HTTP; the
database is read straight from SQLite.
"""
from __future__ import annotations

import io
import unittest

import pytest

from rotest_core.config import load_config
from rotest_core.result import describe
from rotest_core.runner import RunOptions, run
from rotest_core.suite import iter_cases
from runtime_samples import cases
from runtime_samples.fixtures import config, lab, server, workdir  # noqa: F401 - fixtures
from runtime_samples.handlers import Recorder
from runtime_samples.lab import count


def run_cases(config, *classes, **options):
    """Run the classes; returns (report, {test name: outcome}, output)."""
    stream = io.StringIO()
    report = run(classes, config, RunOptions(outputs=["full"], **options), stream=stream)
    return report, outcomes(report), stream.getvalue()


def outcomes(report) -> dict[str, str]:
    result = report.result
    found = {describe(test): "success" for test in iter_cases(report.main_test)}
    for kind, entries in (("skip", result.skipped), ("failure", result.failures),
                          ("error", result.errors)):
        # A failed subtest stands for its test.
        found.update((describe(getattr(test, "test_case", test)), kind) for test, _ in entries)
    return found


def problem(report, kind: str = "failures") -> str:
    entries = getattr(report.result, kind)
    assert len(entries) == 1, entries
    return entries[0][1]


def held(lab) -> set[str]:
    return {name for name, session in lab.holders().items() if session is not None}


# ---------------------------------------------------------------------------
# expect* and success messages (no resources: no database)
# ---------------------------------------------------------------------------

def test_expectations_are_recorded_and_the_test_goes_on(workdir):
    report, result, _ = run_cases(load_config(), cases.ExpectCase)
    assert result == {"ExpectCase.test_expectations": "failure"}
    assert ("reached the end", True) in cases.SEEN
    text = problem(report)
    assert "3 expectations failed:" in text
    for message in ("1 != 2", "'x' not found in 'abc' : no x", "zero is false"):
        assert message in text
    assert "cases.py:" in text and "in test_expectations" in text
    assert report.exit_code == 1


def test_an_error_after_expectations_carries_them(workdir):
    report, result, _ = run_cases(load_config(), cases.ExpectThenErrorCase)
    assert result == {"ExpectThenErrorCase.test_expectation_then_error": "error"}
    text = problem(report, "errors")
    assert "RuntimeError: boom" in text
    assert "1 expectation failed:" in text and "'a' != 'b'" in text


def test_expect_raises_with_a_callable(workdir):
    report, _, _ = run_cases(load_config(), cases.ExpectRaisesCase)
    text = problem(report)
    assert "1 expectation failed:" in text and "ValueError not raised by int" in text


def test_expectations_that_pass_return_true(workdir):
    report, result, _ = run_cases(load_config(), cases.PassingExpectationsCase)
    assert result == {"PassingExpectationsCase.test_all_pass": "success"}
    assert report.exit_code == 0


def test_expect_raises_needs_a_callable():
    case = cases.ExpectCase("test_expectations")
    with pytest.raises(TypeError, match="use assertRaises"):
        case.expectRaises(ValueError)
    assert not hasattr(case, "expectLogs")


def test_success_messages_reach_the_reports_and_the_log(workdir):
    report, result, output = run_cases(load_config(), cases.SuccessCase)
    assert result == {"SuccessCase.test_messages": "success"}
    messages = [message for _, message in report.result.infos]
    assert messages == ["the device answered", "two is two", "one is in", "int refused x"]
    assert "    success: two is two" in output
    (test,) = iter_cases(report.main_test)
    log = (test.work_dir / "test.log").read_text()
    assert "success: int refused x" in log


def test_each_test_has_a_work_dir_and_a_log_file_in_the_run_dir(workdir):
    report, _, output = run_cases(load_config(), cases.LoggingCase, name="logs")
    assert report.run_dir.parent == workdir / "runs"
    assert report.run_dir.name.endswith("-logs")
    log = (report.run_dir / "LoggingCase.test_logs" / "test.log").read_text()
    assert "a debug line" in log and "a warning line" in log
    assert f"Work directory: {report.run_dir}" in output


# ---------------------------------------------------------------------------
# Resources, in both modes
# ---------------------------------------------------------------------------

def test_resources_are_attributes_and_released_at_the_end(config, lab):
    report, result, _ = run_cases(config, cases.DeviceCase)
    assert result == {"DeviceCase.test_uses_device": "success"}, report.result.errors
    assert held(lab) == set()
    assert not lab.row("dev1")["owner"] and lab.row("dev1")["dirty"] is False
    assert (count("connect", "dev1"), count("initialize", "dev1"),
            count("finalize", "dev1")) == (1, 1, 1)
    assert count("connect", "pinger") == 1
    (test,) = iter_cases(report.main_test)
    assert "using dev1" in (test.work_dir / "test.log").read_text()
    assert (test.work_dir / "dev1").is_dir()  # the resource's own work dir


def test_old_style_resources_list(config, lab):
    _, result, _ = run_cases(config, cases.OldStyleCase)
    assert result == {"OldStyleCase.test_old_style": "success"}
    assert held(lab) == set()


@pytest.mark.parametrize("case, kind", [
    (cases.SetUpErrorCase, "error"),
    (cases.TearDownErrorCase, "error"),
    (cases.FailingDeviceCase, "failure"),
    (cases.SubTestCase, "failure"),
])
def test_a_failed_test_releases_its_resources_dirty(config, lab, case, kind):
    report, result, _ = run_cases(config, case)
    assert set(result.values()) == {kind}
    assert held(lab) == set()
    assert lab.row("dev1")["dirty"] is True and not lab.row("dev1")["owner"]
    assert count("finalize", "dev1") == 1
    assert ("ran", True) not in cases.SEEN
    assert report.exit_code == 1


def test_setup_errors_name_the_error(config, lab):
    report, _, _ = run_cases(config, cases.SetUpErrorCase)
    assert "RuntimeError: setUp broke" in problem(report, "errors")


def test_a_skipped_test_releases_clean(config, lab):
    report, result, _ = run_cases(config, cases.SkippedCase)
    assert result == {"SkippedCase.test_skips": "skip"}
    assert report.exit_code == 0
    assert held(lab) == set() and lab.row("dev1")["dirty"] is False


def test_a_skipped_class_locks_nothing(config, lab):
    report, result, _ = run_cases(config, cases.SkippedClassCase)
    assert result == {"SkippedClassCase.test_skipped": "skip"}
    assert count("connect") == 0 and held(lab) == set()


def test_a_missing_resource_is_an_error_of_the_test(config, lab):
    report, result, _ = run_cases(config, cases.NeedsMissingDeviceCase)
    assert result == {"NeedsMissingDeviceCase.test_never_runs": "error"}
    assert "no-such-device" in problem(report, "errors")
    assert held(lab) == set() and ("ran", True) not in cases.SEEN


def test_request_and_release_during_a_test(config, lab):
    _, result, _ = run_cases(config, cases.InTestRequestCase)
    assert result == {"InTestRequestCase.test_request_and_release": "success"}
    seen = dict(cases.SEEN)
    assert seen["extra"].name == "dev2"
    assert seen["held while testing"] == {"extra"}
    assert seen["held after release"] == set()
    assert count("finalize", "dev2") == 1 and held(lab) == set()


def test_smart_client_keeps_a_resource_until_a_test_fails_with_it(config, lab):
    report, result, _ = run_cases(config, cases.ReuseCase)
    assert list(result.values()) == ["success", "success", "failure", "success"]
    got = dict(cases.SEEN)
    assert got["a"] is got["b"] is got["c"]      # kept between passing tests
    assert got["d"] is not got["c"]              # released dirty, locked afresh
    assert count("connect", "dev1") == 2
    assert count("initialize", "dev1") == 2      # dirty: initialized again
    assert count("finalize", "dev1") == 2        # after c, and at the end
    assert held(lab) == set() and lab.row("dev1")["dirty"] is False


def test_without_the_smart_client_every_test_sets_up_afresh(lab, monkeypatch):
    monkeypatch.setenv("ROTEST_SMART_CLIENT", "false")
    run_cases(load_config(), cases.ReuseCase)
    got = dict(cases.SEEN)
    assert got["a"] is not got["b"]
    assert count("connect", "dev1") == count("finalize", "dev1") == 4


def test_skip_init_connects_without_initializing(config, lab):
    run_cases(config, cases.DeviceCase, skip_init=True)
    assert count("connect", "dev1") == 1 and count("initialize", "dev1") == 0


def test_save_state_stores_the_state_of_a_failed_test(config, lab):
    run_cases(config, cases.StateCase, save_state=True)
    work_dir = dict(cases.SEEN)["work_dir"]
    assert (work_dir / "state" / "dev" / "device.txt").read_text() == "dev1 was here\n"
    assert count("store_state", "dev1") == 1


def test_no_state_without_save_state(config, lab):
    run_cases(config, cases.StateCase)
    assert not (dict(cases.SEEN)["work_dir"] / "state").exists()


def test_ctrl_c_stops_the_run_and_releases_everything(config, lab):
    report, result, _ = run_cases(config, cases.InterruptCase, cases.AfterInterruptCase)
    assert report.interrupted and report.exit_code == 130
    assert result["InterruptCase.test_interrupted"] == "error"
    assert ("ran", True) not in cases.SEEN
    assert held(lab) == set() and lab.row("dev1")["dirty"] is True
    assert count("finalize", "dev1") == 1


def test_events_reach_the_handlers_in_order(config, lab):
    Recorder.events = []
    report = run([cases.DeviceCase], config, RunOptions(outputs=[Recorder]))
    names = [event for event, _, _ in Recorder.events]
    assert names == ["start_test_run", "start_composite", "start_test", "update_resources",
                     "setup_finished", "start_teardown", "add_success", "stop_test",
                     "stop_composite", "stop_test_run"]
    resources = dict((e, extra) for e, _, extra in Recorder.events)["update_resources"]
    assert set(resources) == {"dev", "pinger"}
    assert report.exit_code == 0


# ---------------------------------------------------------------------------
# Both modes alike; other runners
# ---------------------------------------------------------------------------

SAMPLES = [cases.DeviceCase, cases.ReuseCase, cases.SetUpErrorCase, cases.TearDownErrorCase,
           cases.SkippedCase, cases.ExpectCase, cases.NeedsMissingDeviceCase]


def test_embedded_and_remote_modes_give_the_same_outcomes(lab, server):
    http, token = server
    embedded = load_config()
    remote = load_config(overrides={"host": "127.0.0.1", "port": http.port, "token": token})
    seen = {}
    for mode, settings in (("embedded", embedded), ("remote", remote)):
        report, result, _ = run_cases(settings, *SAMPLES)
        seen[mode] = (result, report.exit_code, held(lab),
                      {name: lab.row(name)["dirty"] for name in ("dev1", "dev2")})
    assert seen["embedded"] == seen["remote"]
    assert seen["remote"][2] == set()


def test_a_case_runs_under_plain_unittest_with_its_own_context(lab):
    stream = io.StringIO()
    outcome = unittest.TextTestRunner(stream=stream).run(
        unittest.TestSuite([cases.DeviceCase("test_uses_device")]))
    assert outcome.wasSuccessful(), stream.getvalue()
    assert held(lab) == set() and count("finalize", "dev1") == 1


def test_cases_run_by_plain_unittest_share_one_run_directory(lab, workdir):
    # A run directory per test would litter the work directory with one per
    # test of a pytest session; each test still gets its own directory in it.
    suite = unittest.TestSuite([cases.DeviceCase("test_uses_device"),
                                cases.DeviceCase("test_uses_device")])
    assert unittest.TextTestRunner(stream=io.StringIO()).run(suite).wasSuccessful()
    (run_dir,) = (workdir / "runs").glob("*-unittest")
    logs = {str(path.relative_to(run_dir)) for path in run_dir.glob("*/test.log")}
    assert logs == {"DeviceCase.test_uses_device/test.log",
                    "DeviceCase.test_uses_device-2/test.log"}
    assert held(lab) == set()
