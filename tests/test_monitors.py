"""Monitors on real runs: when they run, how they fail a test, and that a
broken one stops itself, not the run."""
from __future__ import annotations

import io

from rotest_core import AbstractMonitor, AbstractResourceMonitor
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import monitored
from runtime_samples.fixtures import workdir  # noqa: F401 - fixture
from test_report_record import Keeper


def monitored_run(*monitors, tests=None):
    monitored.CHECKS.clear()
    report = run(tests or monitored.TESTS, load_config(),
                 RunOptions(outputs=[*monitors, Keeper], name="mon"),
                 stream=io.StringIO())
    outcomes = {r.name: r for r in Keeper.last.run.tests()}
    return report, outcomes


def test_monitors_are_exported_from_rotest_core():
    assert issubclass(AbstractResourceMonitor, AbstractMonitor)


def test_a_monitor_checks_every_top_level_test_in_a_thread_between_setup_and_teardown(
        workdir):
    report, outcomes = monitored_run(monitored.Counting)
    checks = [c for c in monitored.CHECKS if c[0] == "counting"]
    checked = {name for _m, name, _p, _t in checks}
    assert checked == {"SlowCase.test_slow", "HotCase.test_overheats",
                       "ColdCase.test_stays_cool"}
    assert {phase for _m, _n, phase, _t in checks} == {"running"}
    assert all(thread.startswith("rotest-monitor-counting") for *_, thread in checks)
    # 0.3 s at a 0.05 s cycle: several checks, not one.
    assert sum(1 for c in checks if c[1] == "SlowCase.test_slow") >= 3
    assert report.exit_code == 0
    assert {r.outcome for r in outcomes.values()} == {"success"}


def test_a_resource_monitor_watches_the_holders_and_fails_the_hot_one(workdir):
    report, outcomes = monitored_run(monitored.Heat)
    checks = [c for c in monitored.CHECKS if c[0] == "heat"]
    assert {name for _m, name, *_ in checks} == {"HotCase.test_overheats",
                                                 "ColdCase.test_stays_cool"}
    assert {resource for *_, resource in checks} == {"Pinger"}
    hot = outcomes["HotCase.test_overheats"]
    assert hot.outcome == "failure"
    assert "monitor heat: the pinger overheated" in hot.traceback
    assert "the pinger overheated" in hot.log_text()
    # The test went on after the failure (it fails at the end, as expect* does).
    assert "still running after the monitor's failure" in hot.log_text()
    # SINGLE_FAILURE: one failure, then the test is no longer checked.
    assert hot.traceback.count("overheated") == 1
    assert outcomes["ColdCase.test_stays_cool"].outcome == "success"
    assert outcomes["SlowCase.test_slow"].outcome == "success"
    assert report.exit_code == 1


def test_a_monitor_that_raises_is_reported_and_stopped_not_the_run(workdir, capsys):
    report, outcomes = monitored_run(monitored.Broken, monitored.Heat)
    assert len([c for c in monitored.CHECKS if c[0] == "broken"]) == 1
    err = capsys.readouterr().err
    assert err.count("monitor broken-monitor raised RuntimeError: the monitor fell over") \
        == 1
    # The other monitor and the tests go on.
    assert outcomes["HotCase.test_overheats"].outcome == "failure"
    assert outcomes["SlowCase.test_slow"].outcome == "success"
    assert "the monitor fell over" in outcomes["SlowCase.test_slow"].log_text()
    assert report.exit_code == 1


def test_a_monitor_without_a_cycle_says_so_and_the_run_goes_on(workdir, capsys):
    report, outcomes = monitored_run(monitored.NoCycle, tests=[monitored.ColdCase])
    assert "NoCycle.CYCLE must be a number of seconds above 0" in capsys.readouterr().err
    assert report.exit_code == 0 and len(outcomes) == 1
