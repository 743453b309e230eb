"""Rotest's documented examples (tutorial, README, docs/), ported by changing
the imports only, run through the runner on the embedded database.

The sample tests live in tests/runtime_samples (pytest would collect
unittest classes defined here); the lab is lab_plugin's devices and ports.
"""
from __future__ import annotations

import io
from typing import Iterator

import pytest

from app.config import default_database_url
from engine_helpers import Lab
from lab_plugin import DeviceData, PortData
from rotest_core.config import load_config
from rotest_core.embedded_db import prepare_database
from rotest_core.resources import ResourceRequest
from rotest_core.result import describe
from rotest_core.runner import RunOptions, run
from rotest_core.suite import iter_cases
from runtime_samples.fixtures import workdir  # noqa: F401 - fixtures
from runtime_samples.lab import count


def run_classes(*classes, config=None, **options):
    """Run the classes; returns (report, {test name: outcome}, output)."""
    stream = io.StringIO()
    report = run(classes, config or load_config(), RunOptions(outputs=["full"], **options),
                 stream=stream)
    result = report.result
    found = {describe(test): "success" for test in iter_cases(report.main_test)}
    for kind, entries in (("skip", result.skipped), ("failure", result.failures),
                          ("error", result.errors)):
        found.update((describe(test), kind) for test, _ in entries)
    return report, found, stream.getvalue()


def held(lab) -> set[str]:
    return {name for name, session in lab.holders().items() if session is not None}


@pytest.fixture
def calculators(workdir) -> Iterator[Lab]:
    """The tutorial's lab: calc1 (with its sub-process port1) and calc2."""
    url = default_database_url(str(workdir))
    prepare_database(url, ["lab_plugin"])
    lab = Lab(url, create=False)
    lab.add(PortData, "port1", number=1)
    lab.add(DeviceData, "calc1", ip_address="10.0.0.1", port="port1")
    lab.add(DeviceData, "calc2", ip_address="10.0.0.2")
    yield lab
    lab.dispose()


# ---------------------------------------------------------------------------
# issue 18.1: ``calc = Calculator()`` in a test's body is a request
# ---------------------------------------------------------------------------

def test_the_tutorial_form_is_a_request_with_its_sub_resource(calculators):
    from runtime_samples import rotest_tutorial as tutorial
    assert isinstance(vars(tutorial.AddTest)["calc"], ResourceRequest)
    assert isinstance(vars(tutorial.Calculator)["sub_process"], ResourceRequest)
    report, outcomes, output = run_classes(tutorial.AddTest)
    assert outcomes == {"AddTest.test_add": "success"}, output
    assert count("connect", "calc1") == 1 and count("connect", "port1") == 1
    assert count("finalize", "calc1") == 1
    assert held(calculators) == set()


def test_the_tutorial_form_takes_filters_and_service_parameters(calculators):
    from runtime_samples import rotest_tutorial as tutorial
    report, outcomes, output = run_classes(tutorial.NamedCalcTest)
    assert outcomes == {"NamedCalcTest.test_named": "success"}, output
    assert held(calculators) == set()


def test_the_tutorial_form_in_flows_and_blocks(calculators):
    from runtime_samples import rotest_tutorial as tutorial
    report, outcomes, output = run_classes(tutorial.CalculateFlow)
    assert report.exit_code == 0, output
    assert set(outcomes.values()) == {"success"}, outcomes
    assert held(calculators) == set()


def test_a_resource_made_outside_a_class_body_stays_a_resource():
    from runtime_samples import rotest_tutorial as tutorial
    pinger = tutorial.Pinger(address="10.0.0.9")
    assert pinger.data.address == "10.0.0.9"

    class Holder:  # not a test nor a resource: left as it is
        calc = tutorial.Calculator()
    assert isinstance(Holder.calc, tutorial.Calculator)
