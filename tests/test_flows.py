"""Flows and blocks: modes, data passing, checks before the run, resources,
and flows in discovery, -l, -f and every report handler."""
from __future__ import annotations

import io
import subprocess
import textwrap

import pytest

from rotest_reports.record import RecordingHandler
from rotest_core import (MODE_CRITICAL, MODE_FINALLY, MODE_OPTIONAL,
                         BlockOutput, Pipe, TestBlock, TestFlow, TestSuite, create_flow)
from rotest_core.config import load_config
from rotest_core.discover import discover
from rotest_core.flow_component import FlowDefinitionError
from rotest_core.result import HandlerNotAvailable, handler_class, handler_names
from rotest_core.runner import RunOptions, build_tree, format_tree, run, select
from rotest_core.suite import iter_units
from record_paths import named_path
from runtime_samples import flows
from runtime_samples.cases import FirstCase
from runtime_samples.fixtures import ROTEST, cli_env, lab, workdir  # noqa: F401 - fixtures
from runtime_samples.flows import RAN

MODES = {"critical": MODE_CRITICAL, "optional": MODE_OPTIONAL, "finally": MODE_FINALLY}


@pytest.fixture(autouse=True)
def _forget_runs():
    RAN.clear()
    yield
    RAN.clear()


def run_tests(tests, *outputs, **options):
    """Run in process with a RecordingHandler (and ``outputs``); the report
    and the run's record."""
    stream = io.StringIO()
    report = run(tests, load_config(), RunOptions(
        outputs=[RecordingHandler, *outputs], **options), stream=stream)
    recorder = next(h for h in report.result.handlers if type(h) is RecordingHandler)
    report.output = stream.getvalue()
    return report, recorder.run


def outcomes(run_record):
    return {named_path(record): record.outcome for record in run_record.root.walk()
            if record.parent is not None}


# ---------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("next_mode", MODES)
@pytest.mark.parametrize("outcome", ["success", "failure", "error"])
@pytest.mark.parametrize("first_mode", MODES)
def test_every_mode_after_every_outcome(workdir, first_mode, outcome, next_mode):
    first = flows.BEHAVIOUR[outcome].params(mode=MODES[first_mode], name="First")
    following = flows.PassBlock.params(mode=MODES[next_mode], name="Next")
    flow = create_flow([first, following], name="ModeFlow")
    report, record = run_tests([flow])

    stops = outcome == "error" or (outcome == "failure" and first_mode != "optional")
    runs_next = not stops or next_mode == "finally"
    assert [name for name, _ in RAN] == ["First", *(["Next"] * runs_next)]
    results = outcomes(record)
    assert results["ModeFlow/Next"] == ("success" if runs_next else "skip")
    assert results["ModeFlow"] == outcome  # error, else failure, else success
    assert report.exit_code == (0 if outcome == "success" else 1)
    flow_record = record.root.children[0]
    if stops:
        assert flow_record.note == f"First ended the flow with {_a(outcome)}"
    if not runs_next:
        skip = dict(next(r for r in flow_record.children if r.name == "Next").details)
        assert skip["skip"] == f"Previous component failed: First ended with {_a(outcome)}"


def _a(outcome):
    return "an error" if outcome == "error" else f"a {outcome}"


def test_a_stopped_flow_skips_all_but_finally_and_reports_the_worst(workdir):
    flow = create_flow([flows.FailBlock.params(mode=MODE_OPTIONAL, name="Soft"),
                        flows.PassBlock.params(name="Goes"),
                        flows.ErrorBlock.params(name="Crash"),
                        flows.PassBlock.params(name="Skipped"),
                        flows.FailBlock.params(mode=MODE_FINALLY, name="Cleanup"),
                        flows.PassBlock.params(mode=MODE_FINALLY, name="Cleanup2")],
                       name="Stops")
    _report, record = run_tests([flow])
    assert [name for name, _ in RAN] == ["Soft", "Goes", "Crash", "Cleanup", "Cleanup2"]
    assert outcomes(record) == {
        "Stops": "error", "Stops/Soft": "failure", "Stops/Goes": "success",
        "Stops/Crash": "error", "Stops/Skipped": "skip", "Stops/Cleanup": "failure",
        "Stops/Cleanup2": "success"}
    assert record.root.children[0].note == (
        "Crash ended the flow with an error; Soft ended with a failure (optional: the "
        "flow went on); Cleanup ended with a failure")


def test_sub_flows_have_modes_and_values_of_their_own(workdir):
    report, record = run_tests([flows.NestedFlow])
    assert outcomes(record) == {
        "NestedFlow": "failure", "NestedFlow/First": "failure",
        "NestedFlow/First/FailBlock": "failure", "NestedFlow/First/PassBlock": "skip",
        "NestedFlow/Second": "success", "NestedFlow/Second/PassBlock": "success",
        "NestedFlow/Second/ReadBlock": "success", "NestedFlow/ReadBlock": "success",
        "NestedFlow/ReadBlock-2": "success"}
    assert [values for name, values in RAN if name.startswith("ReadBlock")] == [
        {"value": "inner"}, {"value": "outer"}, {"value": "own"}]
    assert report.exit_code == 1


# ---------------------------------------------------------------------------
# Data: pipes, parameters, outputs
# ---------------------------------------------------------------------------

def test_pipes_with_and_without_formulas(workdir):
    report, _ = run_tests([flows.ArithmeticFlow])
    assert report.exit_code == 0
    assert RAN == [("AddBlock", {"a": 1, "b": 1}), ("ReadBlock", {"value": 2}),
                   ("AddBlock-2", {"a": 20, "b": 1}), ("ReadBlock-2", {"value": "21"}),
                   ("AddBlock-3", {"a": 1, "b": 5}), ("ReadBlock-3", {"value": -6}),
                   ("ReadBlock-4", {"value": 21})]


def test_parameter_precedence(workdir):
    inner = create_flow([flows.ReadBlock.params(name="BlockParams", value="block"),
                         flows.ReadBlock.params(name="InnerCommon")],
                        name="Inner", common={"value": "inner"})
    outer = create_flow([inner, flows.ReadBlock.params(name="OuterCommon"),
                         inner.params(value="inner-params", name="InnerParams")],
                        name="Outer", common={"value": "outer"})
    run_tests([outer.params(value="outer-params", name="OuterParams")])
    assert RAN == [("BlockParams", {"value": "block"}),         # the block's own params
                   ("InnerCommon", {"value": "inner"}),         # its flow over the outer one
                   ("OuterCommon", {"value": "outer-params"}),  # params over common
                   ("BlockParams", {"value": "block"}),
                   ("InnerCommon", {"value": "inner-params"})]


def test_outputs_and_share_data_reach_the_following_components_only(workdir):
    class Sharer(TestBlock):
        value = BlockOutput()  # declared, so that ReadBlock's input checks out

        def test_method(self):
            self.share_data(value="shared")
            RAN.append((self.name, {}))

    seen_before = []

    class Early(TestBlock):
        def test_method(self):
            seen_before.append(getattr(self, "value", None))

    flow = create_flow([Early, Sharer, flows.ReadBlock], name="Sharing")
    report, _ = run_tests([flow])
    assert report.exit_code == 0
    assert seen_before == [None]
    assert RAN[-1] == ("ReadBlock", {"value": "shared"})


def test_a_failed_block_shares_no_outputs(workdir):
    class HalfDone(TestBlock):
        total = BlockOutput()

        def test_method(self):
            self.total = 5
            self.fail("no")

    flow = create_flow([HalfDone.params(mode=MODE_OPTIONAL),
                        flows.ReadBlock.params(value=Pipe("total"))], name="Half")
    _, record = run_tests([flow])
    assert outcomes(record)["Half/ReadBlock"] == "error"
    assert "piped from 'total', which nothing set" in record.root.children[0].children[1].traceback


# ---------------------------------------------------------------------------
# Checks before the run
# ---------------------------------------------------------------------------

def test_a_missing_input_is_named_before_anything_runs(workdir):
    flow = create_flow([flows.PassBlock, flows.AddBlock], name="Missing")
    with pytest.raises(FlowDefinitionError, match=r"flow Missing: block AddBlock needs "
                                                  r"input 'a', which nothing provides"):
        run_tests([flow])
    assert RAN == []


def test_a_pipe_from_nothing_is_named(workdir):
    flow = create_flow([flows.ReadBlock.params(value=Pipe("nowhere"))], name="Piped")
    with pytest.raises(FlowDefinitionError, match=r"flow Piped: block ReadBlock needs input "
                                                  r"'value' \(piped from 'nowhere'\)"):
        build_tree([flow])


def test_an_output_of_a_later_block_does_not_count(workdir):
    flow = create_flow([flows.ReadBlock.params(value=Pipe("total")),
                        flows.AddBlock.params(a=1)], name="Order")
    with pytest.raises(FlowDefinitionError, match="block ReadBlock needs input 'value'"):
        build_tree([flow])


def test_an_inner_flow_is_checked_with_its_path(workdir):
    inner = create_flow([flows.ReadBlock], name="Inner")
    with pytest.raises(FlowDefinitionError, match="flow Outer/Inner: block ReadBlock"):
        build_tree([create_flow([inner], name="Outer")])


def test_values_from_resources_and_outer_flows_satisfy_inputs(workdir):
    inner = create_flow([flows.ReadBlock, flows.DeviceBlock], name="Inner")
    outer = create_flow([flows.AddBlock.params(a=1, total=Pipe("value")), inner],
                        name="Outer", dev=flows.Device.request(name="dev1"))
    build_tree([outer])  # no error


@pytest.mark.parametrize("flow, message", [
    (lambda: create_flow([flows.PassBlock.params(colour="red")], name="Params"),
     r"flow Params: PassBlock.params gives 'colour', which no component declares"),
    (lambda: create_flow([flows.ReadBlock], name="Common", common={"value": 1, "size": 2}),
     r"flow Common: Common.common \(or params\) gives 'size', which no component "
     r"under it declares"),
    (lambda: create_flow([create_flow([flows.PassBlock], name="Inner",
                                      common={"x": 1})], name="Outer"),
     r"flow Outer/Inner: Inner.common \(or params\) gives 'x'"),
])
def test_a_parameter_nothing_declares_is_named(workdir, flow, message):
    with pytest.raises(FlowDefinitionError, match=message):
        build_tree([flow()])


def test_bad_components_are_named(workdir):
    with pytest.raises(FlowDefinitionError, match=r"Bad.blocks holds <class "
                                                  r"'runtime_samples.cases.FirstCase'>"):
        build_tree([create_flow([FirstCase], name="Bad")])

    class TwoMethods(TestBlock):
        def test_one(self):
            pass

        def test_two(self):
            pass

    with pytest.raises(FlowDefinitionError, match="block TwoMethods must have exactly one "
                                                  "test method"):
        build_tree([create_flow([TwoMethods], name="Two")])


def test_rotest_run_prints_the_error_and_exits_2(workdir, tmp_path):
    (tmp_path / "test_bad_flow.py").write_text(textwrap.dedent("""
        from rotest_core import TestFlow
        from runtime_samples.flows import AddBlock

        class BadFlow(TestFlow):
            blocks = [AddBlock]
    """))
    finished = subprocess.run([*ROTEST, "run", str(tmp_path / "test_bad_flow.py")],
                              env=cli_env(workdir), capture_output=True, text=True,
                              timeout=60)
    assert finished.returncode == 2, finished.stdout + finished.stderr
    assert "flow BadFlow: block AddBlock needs input 'a'" in finished.stderr
    assert "Traceback" not in finished.stderr


# ---------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------

def test_flow_resources_reach_every_block_and_are_shared_through_the_parent(lab):
    holders_during = []

    class Peek(TestBlock):
        def test_method(self):
            holders_during.append(lab.holders())

    flow = create_flow([*flows.DeviceFlow.blocks, Peek], name="Devices",
                       dev=flows.Device.request(name="dev1"))
    report, record = run_tests([flow])
    assert report.exit_code == 0, report.output
    assert RAN == [("DeviceBlock", {"dev": "dev1"}), ("OwnDeviceBlock", {"mine": "dev2"}),
                   ("SeesNoOwnDevice", {"mine": False}),
                   ("LockForSiblingsBlock", {"spare": "dev2"}),
                   ("SpareBlock", {"spare": "dev2"}), ("DeviceBlock-2", {"dev": "dev1"})]
    assert all(holders_during[0].values())  # dev1 (flow) and dev2 (spare) held at the end
    assert lab.holders() == {"dev1": None, "dev2": None}
    assert record.root.children[0].resources == {"dev": "dev1", "spare": "dev2"}


def test_a_failed_flow_releases_its_resources_dirty(lab):
    report, _ = run_tests([flows.FailingDeviceFlow])
    assert report.exit_code == 1
    assert lab.holders() == {"dev1": None, "dev2": None}
    assert lab.row("dev1")["dirty"] is True


def test_a_flow_that_cannot_lock_errs_and_skips_its_blocks(workdir, lab):
    flow = create_flow([flows.PassBlock], name="NoDevice",
                       dev=flows.Device.request(name="nonesuch"))
    report, record = run_tests([flow])
    assert report.exit_code == 1 and RAN == []
    assert outcomes(record) == {"NoDevice": "error", "NoDevice/PassBlock": "skip"}
    assert record.root.children[0].note == "NoDevice could not lock its resources"


# ---------------------------------------------------------------------------
# First-class: discovery, -l, -f, units
# ---------------------------------------------------------------------------

FLOW_MODULE = """
    from rotest_core import TestFlow, TestSuite
    from runtime_samples.flows import PassBlock, ReadBlock, AddBlock

    class Abstract(TestFlow):
        pass

    class Inner(TestFlow):
        TAGS = ["inner"]
        blocks = [PassBlock]

    class OuterFlow(TestFlow):
        TAGS = ["outer"]
        common = {"a": 2}
        blocks = [AddBlock, Inner.params(mode=3)]

    class Standalone(TestFlow):
        blocks = [PassBlock, ReadBlock.params(value=1)]

    class Everything(TestSuite):
        components = [Standalone]
"""


@pytest.fixture
def flow_module(tmp_path, monkeypatch):
    import sys
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    path = tmp_path / "test_flowmod.py"
    path.write_text(textwrap.dedent(FLOW_MODULE))
    yield path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_discovery_takes_concrete_flows_not_blocks_nor_held_ones(flow_module):
    found = discover([flow_module])
    assert [cls.__name__ for cls in found.tests] == ["OuterFlow", "Everything"]


def test_the_list_shows_blocks_under_their_flows(flow_module):
    tree = format_tree(build_tree(discover([flow_module]).tests))
    assert tree == textwrap.dedent("""\
        AllTests
          OuterFlow  [outer]
            AddBlock
            Inner (optional)  [inner]
              PassBlock
          Everything
            Standalone
              PassBlock
              ReadBlock""")


@pytest.mark.parametrize("expression, expected", [
    ("outer", ["OuterFlow"]),
    ("inner", ["OuterFlow"]),          # a block's (sub-flow's) match runs the whole flow
    ("ReadBlock", ["Standalone"]),
    ("not AddBlock", ["OuterFlow", "Standalone"]),  # Inner's block: OuterFlow runs whole
    ("AddBlock and not inner", ["OuterFlow"]),
    ("nothing", []),
])
def test_filters_select_whole_flows(flow_module, expression, expected):
    root = build_tree(discover([flow_module]).tests)
    select(root, expression)
    units = [unit.name for unit in iter_units(root)]
    assert units == expected
    for unit in iter_units(root):
        assert unit.countTestCases() == len(list(_leaves(type(unit)(parent=None))))


def _leaves(flow):
    for child in flow:
        if isinstance(child, TestFlow):
            yield from _leaves(child)
        else:
            yield child


def test_a_top_level_flow_is_one_unit(workdir):
    suite = type("Mixed", (TestSuite,), {"components": [FirstCase, flows.NestedFlow]})
    root = build_tree([suite, flows.ArithmeticFlow])
    units = list(iter_units(root))
    assert [type(u).__name__ for u in units] == ["FirstCase", "FirstCase", "NestedFlow",
                                                  "ArithmeticFlow"]


def test_a_flow_over_its_timeout_is_stopped_whole_under_p(workdir):
    report, record = run_tests([flows.HangingFlow, FirstCase], processes=2)
    results = outcomes(record)
    assert results["HangingFlow"] == "error"
    hung = next(r for r in record.root.walk() if named_path(r) == "HangingFlow/HangBlock")
    assert hung.outcome == "error" and "timed out after 0.5 s" in hung.traceback
    assert results["HangingFlow/PassBlock"] == "success"  # reached before the hang
    assert all(outcome == "success" for path, outcome in results.items()
               if path.startswith("FirstCase"))  # the other unit ran on
    assert report.exit_code == 1


# ---------------------------------------------------------------------------
# Reports: a flow inside a suite, under every handler there is
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", handler_names())
def test_a_flow_in_a_suite_under_every_handler(workdir, name, capsys):
    try:
        handler = handler_class(name)
    except HandlerNotAvailable as error:
        pytest.skip(str(error))
    stopping = create_flow([flows.PassBlock, flows.FailBlock, flows.PassBlock,
                            flows.PassBlock.params(mode=MODE_FINALLY, name="Cleanup")],
                           name="StoppingFlow")
    suite = type("FlowSuite", (TestSuite,), {"components": [FirstCase, stopping,
                                                            flows.ArithmeticFlow]})
    report, record = run_tests([suite], handler)
    assert report.exit_code == 1
    assert "output handler" not in capsys.readouterr().err  # it did not break
    assert any(type(h) is handler for h in report.result.handlers), \
        "the handler was switched off"
    assert outcomes(record)["FlowSuite/StoppingFlow/PassBlock-2"] == "skip"
    assert outcomes(record)["FlowSuite/StoppingFlow"] == "failure"
    assert outcomes(record)["FlowSuite/ArithmeticFlow/ReadBlock-4"] == "success"
    if name == "tree":
        assert ("    StoppingFlow\n      PassBlock ... OK\n      FailBlock ... FAIL\n"
                "      PassBlock-2 ... SKIP\n      Cleanup ... OK\n") in report.output
    if name in ("tree", "dots", "full"):
        assert "Ran 13 tests" in report.output  # every block counts as a test


def test_an_input_or_output_named_like_the_frameworks_attributes_is_refused(workdir):
    class Clash(TestBlock):
        result = BlockOutput()

        def test_method(self):
            self.result = 1

    with pytest.raises(FlowDefinitionError, match=r"flow Clashing: block Clash declares "
                                                  r"'result', a name the block itself uses"):
        build_tree([create_flow([Clash], name="Clashing")])


def test_ctrl_c_in_a_block_releases_the_flows_resources_dirty(lab):
    class Interrupted(TestBlock):
        def test_method(self):
            raise KeyboardInterrupt

    flow = create_flow([flows.DeviceBlock, Interrupted, flows.PassBlock], name="CtrlC",
                       dev=flows.Device.request(name="dev1"))
    report, _ = run_tests([flow])
    assert report.interrupted
    assert [name for name, _ in RAN] == ["DeviceBlock"]
    assert lab.holders() == {"dev1": None, "dev2": None}
    assert lab.row("dev1")["dirty"] is True


def test_save_state_stores_the_flows_resources_when_it_failed(lab):
    report, record = run_tests([flows.FailingDeviceFlow], save_state=True)
    assert report.exit_code == 1
    flow_dir = record.root.children[0].work_dir
    assert (flow_dir / "state" / "dev" / "device.txt").read_text() == "dev1 was here\n"
