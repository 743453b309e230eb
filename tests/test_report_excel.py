"""The excel handler on real runs: the workbook read back with openpyxl."""
from __future__ import annotations

import io

import pytest
from hypothesis import given, settings, strategies as st
from openpyxl import load_workbook

from rotest_reports import excel
from rotest_reports.excel import CELL_LIMIT, COLOURS, COLUMNS, LABELS, build_workbook
from rotest_reports.text import cap, clean
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import merge_samples, outcomes, report_samples
from runtime_samples.fixtures import lab, workdir  # noqa: F401

#: The sample run's rows: (name, indent), in running order.
TREE = [("OuterSuite", 0), ("PassingCase.test_passes", 1),
        ("PassingCase.test_with_messages", 1), ("InnerSuite", 1),
        ("ProblemCase.test_errors", 2), ("ProblemCase.test_expected_failure", 2),
        ("ProblemCase.test_fails", 2), ("ProblemCase.test_skipped", 2),
        ("ProblemCase.test_unexpected_success", 2), ("HostileCase.test_hostile_failure", 0),
        ("HostileCase.test_huge_traceback", 0), ("HostileCase.test_ünïcödé_name", 0)]


def run_excel(tests, name="nightly"):
    report = run(tests, load_config(), RunOptions(outputs=["excel"], name=name),
                 stream=io.StringIO())
    return report, report.run_dir / "results.xlsx"


@pytest.fixture
def workbook(workdir):
    _report, path = run_excel(outcomes.TESTS)
    return load_workbook(path)


def rows_of(sheet) -> list[dict]:
    """Each row's values by header, with the name's indent and the result's fill."""
    header = [cell.value for cell in sheet[1]]
    rows = []
    for cells in sheet.iter_rows(min_row=2):
        row = dict(zip(header, (cell.value for cell in cells)))
        row["indent"] = int(cells[0].alignment.indent)
        row["fill"] = cells[1].fill.fgColor.rgb[-6:] if cells[1].fill.fill_type else None
        rows.append(row)
    return rows


def test_results_rows_follow_the_tree_with_outcomes_and_colours(workbook):
    sheet = workbook["Results"]
    assert [cell.value for cell in sheet[1]] == [header for header, _width in COLUMNS]
    rows = rows_of(sheet)
    assert [(row["Name"], row["indent"]) for row in rows] == TREE
    for row in rows:
        outcome = outcomes.EXPECTED.get(row["Name"], "error")  # both suites: an error
        assert row["Result"] == LABELS[outcome], row["Name"]
        assert row["fill"] == COLOURS[outcome], row["Name"]
        assert row["Start time"] <= row["End time"] and row["Duration"] >= 0
        assert row["Assignee"] is None and row["Comments"] is None
    assert sheet.freeze_panes == "A2"
    last = chr(ord("A") + len(COLUMNS) - 1)
    assert sheet.auto_filter.ref == f"A1:{last}{len(TREE) + 1}"


def test_cells_hold_tracebacks_descriptions_and_hostile_text(workbook):
    rows = {row["Name"]: row for row in rows_of(workbook["Results"])}
    assert rows["PassingCase.test_passes"]["Description"] == "Adds two numbers."
    assert "one is not two" in rows["ProblemCase.test_fails"]["Traceback"]
    assert rows["ProblemCase.test_skipped"]["Traceback"] == "not on this bench"
    hostile = rows["HostileCase.test_hostile_failure"]["Traceback"]
    assert "red ]]> <b>&amp;" in hostile and "שלום" in hostile
    assert "\x00" not in hostile and "\x1b" not in hostile
    huge = rows["HostileCase.test_huge_traceback"]["Traceback"]
    assert len(huge) <= excel.CELL_LIMIT and "characters cut" in huge


def test_summary_counts_pass_rate_and_chart(workbook):
    sheet = workbook["Summary"]
    values = {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row[0]}
    assert values["Run"] == "nightly"
    assert {LABELS[o]: values[LABELS[o]] for o in LABELS} == {
        "Success": 3, "Failure": 2, "Error": 2, "Skip": 1, "Expected Failure": 1,
        "Unexpected Success": 1}
    assert values["Total"] == 10
    assert values["Pass rate"] == pytest.approx(4 / 9)  # skips did not run
    [chart] = sheet._charts
    assert chart.tagname == "pieChart"
    assert len(chart.series[0].dPt) == len(LABELS)


def test_a_small_run_is_saved_after_its_first_test(workdir):
    report_samples.SEEN.clear()
    _report, path = run_excel([report_samples.FirstCase, report_samples.ProbeCase])
    seen = load_workbook(io.BytesIO(report_samples.SEEN["results.xlsx"]))
    assert [row["Name"] for row in rows_of(seen["Results"])] == ["FirstCase.test_first"]
    # Two classes by the end: each a group of its tests.
    assert [row["Name"] for row in rows_of(load_workbook(path)["Results"])] == \
        ["FirstCase", "FirstCase.test_first", "ProbeCase", "ProbeCase.test_probe"]


def test_a_large_run_is_written_once_in_write_only_mode_with_the_same_rows(
        workdir, monkeypatch, tmp_path):
    monkeypatch.setattr(excel, "LIVE_LIMIT", 20)
    report_samples.SEEN.clear()
    tests = [*report_samples.trivial_cases(12), report_samples.ProbeCase]
    report, path = run_excel(tests)
    assert report_samples.SEEN["results.xlsx"] is None  # nothing written mid-run
    [handler] = [h for h in report.result.handlers if isinstance(h, excel.ExcelHandler)]
    assert not handler.live
    streamed = rows_of(load_workbook(path)["Results"])
    assert len(streamed) == 12 * 2 + 1 + 13  # the tests and a group per class
    assert {row["Result"] for row in streamed} == {"Success", "Failure", "Skip"}
    build_workbook(handler.run).save(tmp_path / "live.xlsx")
    live = rows_of(load_workbook(tmp_path / "live.xlsx")["Results"])
    assert streamed == live
    summary = load_workbook(path)["Summary"]
    assert len(summary._charts) == 1


def test_text_that_looks_like_a_formula_stays_text(workdir):
    _report, path = run_excel([report_samples.FormulaCase], name="=SUM(A1:A9)")
    workbook = load_workbook(path)
    [row] = rows_of(workbook["Results"])
    assert row["Traceback"] == "=1+1"
    assert row["Description"].startswith("=HYPERLINK(")
    traceback = chr(ord("A") + [header for header, _ in COLUMNS].index("Traceback"))
    assert workbook["Results"][f"{traceback}2"].data_type == "s"
    assert workbook["Summary"]["B1"].value == "=SUM(A1:A9)"
    assert workbook["Summary"]["B1"].data_type == "s"


@settings(max_examples=40, deadline=None)
@given(text=st.text() | st.text(min_size=1, max_size=10).map(lambda text: text * 4000))
def test_any_text_is_kept_as_text_in_both_modes(text):
    def in_cell(value: str) -> str | None:
        return cap(clean(value), CELL_LIMIT - 100, keep="start") or None
    expected = in_cell(text)
    for write_only in (False, True):
        stream = io.BytesIO()
        build_workbook(report_samples.one_test_run(text, "failure"),
                       write_only=write_only).save(stream)
        [row] = rows_of(load_workbook(stream)["Results"])
        assert row["Traceback"] == expected and len(expected or "") <= CELL_LIMIT
        assert row["Name"] == in_cell(f"Case.{text}")


def test_the_lock_wait_has_a_column_and_a_total(workdir, lab):
    _report, path = run_excel([merge_samples.DeviceCase, merge_samples.DeviceFlow,
                               merge_samples.OutcomesA])
    workbook = load_workbook(path)
    rows = {row["Name"]: row for row in rows_of(workbook["Results"])}
    device = rows["DeviceCase.test_holds_the_device"]["Lock wait"]
    flow = rows["DeviceFlow"]["Lock wait"]  # the flow's own request, for its blocks
    assert device >= 0 and flow >= 0 and isinstance(device, float)
    assert rows["OutcomesA.test_passes"]["Lock wait"] is None  # it locked nothing
    assert rows["PassBlock"]["Lock wait"] is None  # its flow locked for it
    summary = {row[0]: row[1] for row in workbook["Summary"].iter_rows(values_only=True)}
    assert summary["Lock wait"] == pytest.approx(device + flow, abs=1e-6)
