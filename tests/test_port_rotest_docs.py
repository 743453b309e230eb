"""Rotest's documented examples (tutorial, README, docs/), ported by changing
the imports only, run through the runner on the embedded database.

The sample tests live in tests/runtime_samples (pytest would collect
unittest classes defined here); the lab is lab_plugin's devices and ports.
"""
from __future__ import annotations

import io
from typing import Iterator

import pytest

from rotest_app.engine.settings import default_database_url
from engine_helpers import Lab
from lab_plugin import DeviceData, PortData
from rotest_core.config import load_config
from rotest_core.embedded_db import prepare_database
from rotest_core.resources import ResourceRequest, ResourceView
from rotest_core.result import describe
from rotest_core.runner import RunOptions, run
from rotest_core.suite import iter_cases
from runtime_samples.fixtures import workdir  # noqa: F401 - fixtures
from runtime_samples.lab import STEPS, count


def run_classes(*classes, config=None, outputs=("full",), **options):
    """Run the classes; returns (report, {test name: outcome}, output)."""
    stream = io.StringIO()
    report = run(classes, config or load_config(), RunOptions(outputs=list(outputs), **options),
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


# ---------------------------------------------------------------------------
# issue 20: the rest of Rotest's documented API
# ---------------------------------------------------------------------------

def test_add_success_is_a_success_message(workdir):
    from runtime_samples import rotest_docs_api as docs
    report, outcomes, output = run_classes(docs.SuccessTest)
    assert outcomes == {"SuccessTest.test_add": "success"}, output
    (test,) = iter_cases(report.main_test)
    assert test.success_messages == ["1 + 1 is 2", "2 + 2 is 4", "3 + 3 is 6"]


def test_the_more_on_testing_page(calculators):
    from runtime_samples import rotest_docs_api as docs
    report, outcomes, output = run_classes(docs.MoreOnTestingTest)
    assert outcomes == {"MoreOnTestingTest.test_add": "success",
                        "MoreOnTestingTest.test_skipped": "skip"}, output
    test = next(t for t in iter_cases(report.main_test) if t._testMethodName == "test_add")
    assert test.success_messages == ["One way to register success",
                                     "Another way to register success",
                                     "Value is 2, as expected", "Value is 2, as expected"]
    assert "no calculator today" in output


def test_data_pointers_plain_and_chained_for_resources_and_services(calculators):
    from runtime_samples import rotest_docs_api as docs
    report, outcomes, output = run_classes(docs.PointerTest)
    assert outcomes == {"PointerTest.test_pointers": "success"}, output
    assert ("ping", "10.0.0.1") in STEPS and ("probe", "1") in STEPS
    assert ("shell", "7") in STEPS
    assert held(calculators) == set()


def test_data_pointer_is_exported_where_rotest_has_it():
    from rotest_core.resources import DataPointer
    pointer = DataPointer("sub_process").port.number
    assert repr(pointer) == "DataPointer('sub_process').port.number"
    assert pointer == DataPointer("sub_process").port.number
    assert pointer.resolve(ResourceView({"sub_process": {
        "type": "SubProcessData", "name": "sub1",
        "port": {"type": "PortData", "name": "port1", "number": 3}}})) == 3


def test_unpack_makes_sub_resources_attributes_of_the_test(calculators):
    from runtime_samples import rotest_docs_api as docs
    report, outcomes, output = run_classes(docs.UnpackTest, docs.UnpackFlow)
    assert report.exit_code == 0, output
    assert set(outcomes.values()) == {"success"}, outcomes
    assert held(calculators) == set()


def test_monitor_decorators_choose_the_tests(calculators):
    from runtime_samples import rotest_docs_api as docs
    docs.KindsHandler.calls = []
    report, outcomes, output = run_classes(docs.MonitoredCase, docs.MonitoredFlow,
                                           outputs=["full", docs.KindsHandler])
    assert report.exit_code == 0, output
    calls = docs.KindsHandler.calls
    assert [c for c in calls if c[0] == "not a case"] == [("not a case", "MonitoredBlock")]
    assert [c for c in calls if c[0] == "not a block"] == [("not a block", "MonitoredCase")]
    assert [c for c in calls if c[0] == "not a flow"] == [("not a flow", "AllTests")]
    assert [c for c in calls if c[0] == "main"] == [("main", "MonitoredCase"),
                                                    ("main", "MonitoredFlow")]
    assert [c for c in calls if c[0] == "has calc"] == [("has calc", "MonitoredCase")]


# ---------------------------------------------------------------------------
# issue 18.5: the blocks page (flows, blocks, modes, pipes, create_flow...)
# ---------------------------------------------------------------------------

def test_the_blocks_page_demo_flow(workdir):
    from runtime_samples import rotest_blocks_docs as docs
    report, outcomes, output = run_classes(docs.DemoFlow)
    assert report.exit_code == 0, output
    assert [s for s in STEPS if s[0] in ("demo1", "do_something")] == [
        ("demo1", "critical"), ("demo1", "critical"), ("do_something", "2:5"),
        ("do_something", "2:0"), ("demo1", "finally")]


def test_create_flow_and_optional_sub_flows_go_on_after_a_failure(workdir):
    from runtime_samples import rotest_blocks_docs as docs
    report, outcomes, output = run_classes(docs.CreatedFlows, docs.SubFlowsFlow)
    assert report.exit_code == 1, output  # the failing blocks fail their flows
    # FailingBlock fails in both flows; the block after it in its flow is skipped.
    failed = [describe(test) for test, _ in report.result.failures]
    skipped = [describe(test) for test, _ in report.result.skipped]
    assert failed == ["FailingBlock", "FailingBlock"], output
    assert skipped == ["DoSomethingBlock", "DemoBlock1"], output
    assert ("do_something", "value2:0") in STEPS and ("do_something", "value2:5") in STEPS
    assert ("do_something", "value1:5") not in STEPS  # after the failure in its sub-flow
    # SubFlow1's second block is skipped after the first failed; SubFlow2 runs.
    assert STEPS.count(("demo1", "critical")) == 2
    assert ("demo1", "optional") in STEPS and ("demo1", "finally") in STEPS


def test_optional_inputs_params_and_pipes(workdir):
    from runtime_samples import rotest_blocks_docs as docs
    report, outcomes, output = run_classes(docs.ArgumentsFlow)
    assert report.exit_code == 0, output
    assert [s[1] for s in STEPS if s[0] == "arguments"] == ["5,0,1", "5,3,1", "5,0,4", "5,3,6"]
    assert [s[1] for s in STEPS if s[0] == "value"] == ["3", "31"]


def test_a_positional_argument_names_the_keyword_forms():
    from rotest_core import TestCase
    from runtime_samples import rotest_tutorial as tutorial
    with pytest.raises(TypeError, match=r"Calculator\(name='calc1'\) or "
                                        r"Calculator.request\(name='calc1'\)"):
        class Wrong(TestCase):  # noqa: F841 - the declaration is the test
            calc = tutorial.Calculator("calc1")
