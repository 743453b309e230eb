"""The ``excel`` handler: the run as a workbook for people who read spreadsheets.

``results.xlsx`` in the run's directory, with two sheets, titled with the run's
name and start (so two runs' workbooks compare side by side):

- *Summary* (the sheet it opens on): the run, its times and duration, the
  seconds its tests waited for locks in all, the
  count of tests per outcome, the pass rate (:func:`rotest_app.engine.outcomes.pass_rate`:
  skips left out), a pie chart and the run's settings; printed on one page.
- *Results*: a row per suite, flow, test and block in running order, with
  Rotest's columns, the seconds each waited for its resources' locks (*Lock
  wait*: a flow's own wait is on the flow's row) and what the test printed; the name indented by depth
  (folded by outline levels when not streamed), the result coloured by
  outcome, the header frozen and filters on every column. Printed landscape, fit to the page's width, the
  header on every page and the run's name and date at the top. Assignee and
  Comments are left empty, for the people who triage the run.

A run of up to :data:`LIVE_LIMIT` tests is saved as it goes (atomically,
after its first test, then after a test ends when :data:`SAVE_INTERVAL` has
passed), so a person can open the file mid-run. A larger run is written
once, at the end, in openpyxl's write-only mode, which streams the rows.
"""
from __future__ import annotations

import time
from datetime import datetime
from functools import lru_cache
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import PieChart, Reference
from openpyxl.chart.series import DataPoint
from openpyxl.styles import Alignment, Font, PatternFill

from rotest_app.engine.outcomes import pass_rate

from .files import report_path, write_atomically
from .record import OUTCOMES, RecordingHandler, RunRecord, TestRecord, shown_walk
from .text import cap, clean

__all__ = ["COLUMNS", "ExcelHandler", "LABELS", "build_workbook"]

#: Runs of up to this many tests are saved as they go.
LIVE_LIMIT = 500
#: Least seconds between two saves during a run; at least four times what
#: the last save took, too (a 500-row save takes about 0.3 s), so saving
#: costs a fast run no more than a fifth of its time.
SAVE_INTERVAL = 1.0
#: The most characters an Excel cell holds.
CELL_LIMIT = 32_767

#: (header, column width) of the results sheet, Rotest's columns.
COLUMNS = (("Name", 60), ("Result", 20), ("Start time", 20), ("End time", 20),
           ("Duration", 10), ("Lock wait", 10), ("Traceback", 80), ("Output", 60),
           ("Description", 40),
           ("Resources", 30),
           ("Assignee", 15), ("Comments", 40))
LABELS = {"success": "Success", "failure": "Failure", "error": "Error", "skip": "Skip",
          "expected_failure": "Expected Failure",
          "unexpected_success": "Unexpected Success"}
#: Fill colour (RGB) of each outcome's result cell.
COLOURS = {"success": "C6EFCE", "failure": "FFC7CE", "error": "FF8B8B", "skip": "FFEB9C",
           "expected_failure": "DDEBF7", "unexpected_success": "F8CBAD"}
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_BOLD = Font(bold=True)


class ExcelHandler(RecordingHandler):
    """Writes the run's workbook to :attr:`path`."""

    NAME = "excel"
    NEEDS_JOURNAL = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = report_path(None, "results.xlsx", self.work_dir)
        count = self.main_test.countTestCases() if self.main_test is not None else 0
        self.live = count <= LIVE_LIMIT
        self._saved_at: float | None = None
        self._save_seconds = 0.0

    def stop_test(self, test: Any) -> None:
        super().stop_test(test)
        due = (self._saved_at is None or time.monotonic() - self._saved_at
               >= max(SAVE_INTERVAL, 4 * self._save_seconds))
        if self.live and due:
            self.save()

    def stop_test_run(self) -> None:
        super().stop_test_run()
        self.save(write_only=not self.live)

    def save(self, write_only: bool = False) -> None:
        """Write the workbook for the run as recorded so far."""
        began = time.monotonic()
        workbook = build_workbook(self.run, write_only=write_only)
        write_atomically(self.path, workbook.save)
        self._saved_at = time.monotonic()
        self._save_seconds = self._saved_at - began


def build_workbook(run: RunRecord, write_only: bool = False) -> Workbook:
    """The results and summary sheets of ``run`` (``write_only``: streamed,
    for large runs; the same cells either way)."""
    workbook = Workbook(write_only=write_only)
    if not write_only:
        workbook.remove(workbook.active)
    # The summary first: the sheet a manager sees on opening the file.
    title = cap(clean(f"{run.name} {_local(run.start):%Y-%m-%d %H:%M}"), 200, keep="start")
    workbook.properties.title = title
    _summary(workbook.create_sheet("Summary"), run)
    _results(workbook.create_sheet("Results"), run, title)
    return workbook


# --------------------------------------------------------------------------
# The results sheet

def _results(sheet: Any, run: RunRecord, title: str) -> None:
    # Write-only sheets take their layout before the first row.
    sheet.freeze_panes = "A2"
    for index, (_header, width) in enumerate(COLUMNS):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    _print_setup(sheet, title)
    sheet.append([_bold(sheet, header) for header, _width in COLUMNS])
    rows = 1
    for record, depth in shown_walk(run.root):
        if record is not run.root:
            sheet.append(_row(sheet, record, depth))
            rows += 1
            if depth > 1 and hasattr(sheet, "cell"):
                # Suites fold (outline levels); not in write-only mode,
                # whose rows are gone once written.
                sheet.row_dimensions[rows].outlineLevel = min(depth - 1, 7)
    sheet.auto_filter.ref = f"A1:{chr(ord('A') + len(COLUMNS) - 1)}{rows}"


def _print_setup(sheet: Any, title: str) -> None:
    """Printed: landscape, every column on the page's width, the header row
    on every page, the run's name and date at the top and page numbers below."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"
    sheet.oddHeader.center.text = title.replace("&", "&&")
    sheet.oddFooter.center.text = "Page &P of &N"


def _row(sheet: Any, record: TestRecord, depth: int) -> list[Any]:
    outcome = record.outcome if record.end is not None else None
    values = [record.name, LABELS.get(outcome, "running" if outcome is None else outcome),
              _local(record.start), _local(record.end), record.duration,
              record.lock_wait, "\n".join(text for _kind, text in record.details), _output(record),
              record.description,
              ", ".join(f"{name}={value}" for name, value in record.resources.items()),
              None, None]
    cells = [_cell(sheet, value) for value in values]
    cells[0].alignment = _indent(depth - 1)
    if outcome in COLOURS:
        cells[1].fill = _fill(outcome)
    cells[2].number_format = cells[3].number_format = TIME_FORMAT
    cells[4].number_format = cells[5].number_format = "0.000"
    return cells


def _output(record: TestRecord) -> str:
    """What the test printed: its stdout, then its stderr, each labelled."""
    return "\n".join(f"{name}:\n{text}" for name, text in
                     (("stdout", record.stdout), ("stderr", record.stderr)) if text)


def _cell(sheet: Any, value: Any) -> Any:
    """A cell for ``value``; text made safe: no control characters, within
    the cell's limit, and never a formula (a test's text starting with ``=``
    is shown, not computed)."""
    if not isinstance(value, str):
        return WriteOnlyCell(sheet, value)
    # The note cap adds must fit in the cell too.
    cell = WriteOnlyCell(sheet, cap(clean(value), CELL_LIMIT - 100, keep="start") or None)
    if cell.value is not None:
        cell.data_type = "s"
    return cell


def _local(moment: datetime | None) -> datetime | None:
    """Local wall time: Excel cells hold no UTC offset."""
    return moment.astimezone().replace(tzinfo=None) if moment else None


@lru_cache(maxsize=None)
def _indent(depth: int) -> Alignment:
    return Alignment(indent=min(max(depth, 0), 250), vertical="top")


@lru_cache(maxsize=None)
def _fill(outcome: str) -> PatternFill:
    return PatternFill("solid", start_color=COLOURS[outcome], end_color=COLOURS[outcome])


def _bold(sheet: Any, value: Any) -> Any:
    cell = WriteOnlyCell(sheet, value)
    cell.font = _BOLD
    return cell


# --------------------------------------------------------------------------
# The summary sheet

def _summary(sheet: Any, run: RunRecord) -> None:
    counts = run.counts()
    sheet.column_dimensions["A"].width = 22
    header = [("Run", run.name), ("Start time", _local(run.start)),
              ("End time", _local(run.end)), ("Duration", run.duration),
              ("Lock wait", run.lock_wait()), (None, None)]
    sheet.column_dimensions["B"].width = 40
    for label, value in header:
        cell = _cell(sheet, value)
        cell.number_format = TIME_FORMAT if isinstance(value, datetime) else "0.000"
        sheet.append([_bold(sheet, label), cell])
    sheet.append([_bold(sheet, "Result"), _bold(sheet, "Tests")])
    first = len(header) + 2
    for outcome in OUTCOMES:
        label = WriteOnlyCell(sheet, LABELS[outcome])
        label.fill = _fill(outcome)
        sheet.append([label, counts[outcome]])
    sheet.append([_bold(sheet, "Total"), sum(counts.values())])
    rate = WriteOnlyCell(sheet, pass_rate(counts))
    rate.number_format = "0.0%"
    sheet.append([_bold(sheet, "Pass rate"), rate])
    sheet.append([_cell(sheet, "Passed (success, expected failure) out of the tests "
                               "that ran; skips did not run.")])
    if run.settings:
        sheet.append([])
        sheet.append([_bold(sheet, "Settings")])
        for key, value in run.settings.items():
            sheet.append([_cell(sheet, key), _cell(sheet, value)])
    sheet.add_chart(_chart(sheet, first, first + len(OUTCOMES) - 1), "D2")
    # Printed, the table and its chart share one landscape page.
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = sheet.page_setup.fitToHeight = 1
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _chart(sheet: Any, first: int, last: int) -> PieChart:
    """A pie of the tests per outcome, each slice in its outcome's colour."""
    chart = PieChart()
    chart.title = "Tests per result"
    chart.add_data(Reference(sheet, min_col=2, min_row=first, max_row=last))
    chart.set_categories(Reference(sheet, min_col=1, min_row=first, max_row=last))
    for index, outcome in enumerate(OUTCOMES):
        point = DataPoint(idx=index)
        point.graphicalProperties.solidFill = COLOURS[outcome]
        chart.series[0].dPt.append(point)
    return chart
