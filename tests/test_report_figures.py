"""The reports agree: one run, written by the console, JUnit, Excel, HTML and
the journal, states one duration and one pass rate; JUnit keeps every test
of every flow apart; the HTML links the run's artifact; invisible controls
show escaped in every format; ``-l`` lists any name the run can handle."""
from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import lxml.html
import openpyxl
from lxml import etree

from rotest_app.engine.outcomes import pass_rate
from rotest_reports.text import clean
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import agreeing
from runtime_samples.fixtures import ROTEST, cli_env, workdir  # noqa: F401 - fixture

RLO = agreeing.RLO


def run_all(outputs: list[str]):
    stream = io.StringIO()
    report = run(agreeing.TESTS, load_config(),
                 RunOptions(outputs=outputs, name="agree"), stream=stream)
    return report, stream.getvalue()


def test_every_report_states_one_duration_and_one_pass_rate(workdir):  # noqa: F811
    report, console = run_all(["dots", "junit", "excel", "html", "artifact"])
    run_dir = report.run_dir
    said = float(re.search(r"Ran \d+ tests in ([\d.]+)s", console).group(1))
    junit = float(etree.parse(str(run_dir / "junit.xml")).getroot().get("time"))
    summary = dict(openpyxl.load_workbook(run_dir / "results.xlsx")["Summary"]
                   .iter_rows(min_col=1, max_col=2, values_only=True))
    (script,) = lxml.html.parse(str(run_dir / "report.html")).xpath(
        "//script[@id='run-data']")
    view = json.loads(script.text)
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").open()]
    (finish,) = [line["finish"] for line in journal if "finish" in line]
    (start,) = [line["run"]["start"] for line in journal if "run" in line]
    from datetime import datetime
    journal_seconds = (datetime.fromisoformat(finish["end"])
                       - datetime.fromisoformat(start)).total_seconds()
    assert f"{said:.3f}" == f"{junit:.3f}" == f"{summary['Duration']:.3f}" \
        == f"{view['duration']:.3f}" == f"{journal_seconds:.3f}"
    # One pass rate: success and expected failure out of what ran (5 of 6:
    # the skip is left out), in the workbook and the page alike.
    rate = pass_rate(view["counts"])
    assert summary["Pass rate"] == rate == 5 / 6
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert f"<strong>{100 * rate:.1f} %</strong> passed" in page
    # The settings as the run was given them.
    assert view["settings"]["outputs"] == str(["dots", "junit", "excel", "html", "artifact"])
    # The artifact, linked from the page by a path that leads to it.
    artifact = view["artifact"]
    assert artifact and (run_dir / artifact["url"]).resolve() == Path(artifact["path"])
    assert Path(artifact["path"]).is_file()


def test_junit_keeps_every_block_of_every_flow_apart(workdir):  # noqa: F811
    report, _console = run_all(["junit"])
    cases = [(case.get("classname"), case.get("name"))
             for case in etree.parse(str(report.run_dir / "junit.xml")).iter("testcase")]
    assert len(cases) == len(set(cases)) == 4 + 3
    blocks = sorted(classname for classname, _name in cases
                    if classname.endswith("CalculateBlock"))
    assert blocks == ["runtime_samples.agreeing.FirstFlow.CalculateBlock"] * 2 \
        + ["runtime_samples.agreeing.SecondFlow.CalculateBlock"]


def test_invisible_controls_show_escaped_in_every_format(workdir):  # noqa: F811
    assert clean(f"a{RLO}b\u200bc\ufeff") == "a\\u202eb\\u200bc\\ufeff"
    report, _console = run_all(["junit", "excel", "html"])
    run_dir = report.run_dir
    junit = (run_dir / "junit.xml").read_text(encoding="utf-8")
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    cells = [str(cell) for row in openpyxl.load_workbook(run_dir / "results.xlsx")
             ["Results"].iter_rows(values_only=True) for cell in row if cell]
    for text in (junit, page, "\n".join(cells)):
        assert RLO not in text
        assert "reversed\\\\u202etxet" in text or "reversed\\u202etxet" in text


def test_list_shows_a_name_with_a_lone_surrogate(workdir, tmp_path):  # noqa: F811
    sample = tmp_path / "test_odd.py"
    sample.write_text("from rotest_core import TestCase\n\n"
                      "class Odd(TestCase):\n    def test_plain(self):\n        pass\n\n"
                      "setattr(Odd, 'test_\\ud800odd', lambda self: None)\n",
                      encoding="utf-8")
    listed = subprocess.run([*ROTEST, "run", str(sample), "-l"], capture_output=True,
                            env=cli_env(workdir), cwd=tmp_path, timeout=60)
    assert listed.returncode == 0, listed.stderr.decode("utf-8", "replace")
    assert b"Odd.test_\\ud800odd" in listed.stdout


def test_the_workbook_opens_on_the_summary_and_prints_readably(workdir):  # noqa: F811
    report, _console = run_all(["excel"])
    workbook = openpyxl.load_workbook(report.run_dir / "results.xlsx")
    assert workbook.sheetnames == ["Summary", "Results"] and workbook.active.title == "Summary"
    assert workbook.properties.title.startswith("agree ")
    summary = dict(workbook["Summary"].iter_rows(min_col=1, max_col=2, values_only=True))
    assert summary["outputs"] == str(["excel"])  # the run's settings
    results = workbook["Results"]
    setup = results.page_setup
    assert (setup.orientation, setup.fitToWidth, setup.fitToHeight) == ("landscape", 1, 0)
    assert results.sheet_properties.pageSetUpPr.fitToPage
    assert results.print_title_rows == "$1:$1"
    assert workbook.properties.title in results.oddHeader.center.text
    # A flow's blocks fold under it.
    levels = {row[0].value: results.row_dimensions[row[0].row].outlineLevel
              for row in results.iter_rows(min_row=2)}
    assert levels["FirstFlow"] == 0 and levels["CalculateBlock"] == 1


def test_what_a_test_prints_is_in_every_report_and_still_shown(workdir, capsys):  # noqa: F811
    report, console = run_all(["dots", "junit", "excel", "html"])
    shown = capsys.readouterr()
    assert "said on stdout" in shown.out and "said on stderr" in shown.err
    run_dir = report.run_dir
    (case,) = [case for case in etree.parse(str(run_dir / "junit.xml")).iter("testcase")
               if case.get("name") == "test_passes"]
    assert "said on stdout" in case.findtext("system-out")
    assert case.findtext("system-err").strip() == "said on stderr"
    (script,) = lxml.html.parse(str(run_dir / "report.html")).xpath(
        "//script[@id='run-data']")
    nodes = {}
    stack = [json.loads(script.text)["tree"]]
    while stack:
        node = stack.pop()
        nodes[node["name"]] = node
        stack.extend(node["children"])
    passes = next(node for name, node in nodes.items() if name.endswith("test_passes"))
    assert (passes["stdout"], passes["stderr"]) == ("said on stdout\n", "said on stderr\n")
    rows = list(openpyxl.load_workbook(run_dir / "results.xlsx")["Results"]
                .iter_rows(values_only=True))
    column = rows[0].index("Output")
    (row,) = [row for row in rows if str(row[0]).endswith("test_passes")]
    assert row[column] == "stdout:\nsaid on stdout\n\nstderr:\nsaid on stderr\n"


def test_what_a_test_prints_in_a_worker_reaches_the_reports(workdir):  # noqa: F811
    report = run(agreeing.TESTS, load_config(),
                 RunOptions(outputs=["junit"], name="agree", processes=2),
                 stream=io.StringIO())
    (case,) = [case for case in
               etree.parse(str(report.run_dir / "junit.xml")).iter("testcase")
               if case.get("name") == "test_passes"]
    assert case.findtext("system-err").strip() == "said on stderr"


def test_tests_are_grouped_by_module_and_class_in_every_report(workdir):  # noqa: F811
    from runtime_samples import outcomes
    report = run([agreeing.Mixed, outcomes.PassingCase, outcomes.ProblemCase],
                 load_config(), RunOptions(outputs=["junit", "excel", "html"], name="flat"),
                 stream=io.StringIO())
    run_dir = report.run_dir
    (script,) = lxml.html.parse(str(run_dir / "report.html")).xpath(
        "//script[@id='run-data']")
    tree = json.loads(script.text)["tree"]

    def shape(node):
        return (node["name"], [shape(child) for child in node["children"]]
                if node["kind"] == "suite" else len(node["children"]))
    groups = shape(tree)[1]
    assert [name for name, _children in groups] == ["runtime_samples.agreeing",
                                                     "runtime_samples.outcomes"]
    assert [name for name, _children in groups[1][1]] == ["PassingCase", "ProblemCase"]
    rows = [(row[0].value, int(row[0].alignment.indent)) for row in
            openpyxl.load_workbook(run_dir / "results.xlsx")["Results"].iter_rows(min_row=2)]
    assert rows[0] == ("runtime_samples.agreeing", 0)
    assert ("PassingCase", 1) in rows and ("PassingCase.test_passes", 2) in rows
    suites = [suite.get("name") for suite in
              etree.parse(str(run_dir / "junit.xml")).iter("testsuite")]
    assert suites == ["runtime_samples.agreeing", "runtime_samples.outcomes/PassingCase",
                      "runtime_samples.outcomes/ProblemCase"]
