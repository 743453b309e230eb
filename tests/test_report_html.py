"""The html report: a real run's file, read as HTML and as data, and used in
headless Chromium (filter, search, open the tree and a traceback)."""
from __future__ import annotations

import io
import itertools
import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import lxml.html
import pytest

from rotest_templates import render_report
from rotest_reports.html import DETAIL_LIMIT, view_of
from rotest_reports.record import Attempt, RunRecord, TestRecord as Record  # not a test class
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import merge_samples, outcomes
from runtime_samples.fixtures import lab, workdir  # noqa: F401 - fixtures

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() == "true"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not IN_CI,
    reason=f"no Chromium at {CHROMIUM}; install Debian's chromium package (CI always "
           f"runs this test)")
#: Markup that would run or show if the report let text through as HTML.
INJECTION = "</script><script>alert('x')</script><b>bold</b><img src=x onerror=alert(1)>"
FAILURES = {name for name, outcome in outcomes.EXPECTED.items() if outcome == "failure"}


def run_report(*tests: type, name: str = "outcomes") -> Path:
    """Run ``tests`` with only the html handler; the report's path."""
    stream = io.StringIO()
    report = run(list(tests or outcomes.TESTS), load_config(),
                 RunOptions(outputs=["html"], name=name), stream=stream)
    path = report.run_dir / "report.html"
    assert f"html report: {path}" in stream.getvalue()
    return path


def data_of(document: lxml.html.HtmlElement) -> dict:
    (script,) = document.xpath("//script[@id='run-data']")
    return json.loads(script.text)


def leaves(node: dict):
    if node["kind"] in ("suite", "flow"):
        for child in node["children"]:
            yield from leaves(child)
    else:
        yield node


# --- the file ---------------------------------------------------------------

def test_a_run_writes_one_self_contained_document(workdir):
    path = run_report()
    text = path.read_text(encoding="utf-8")
    document = lxml.html.document_fromstring(text)
    assert document.findtext(".//h1") == "outcomes"
    # Nothing to fetch: no external scripts, styles, images or fonts.
    assert not document.xpath("//script[@src] | //link | //img | //iframe | //object")
    for element in document.iter():
        for attribute in ("src", "href"):
            value = element.get(attribute)
            assert value is None or not value.lower().startswith(("http:", "https:", "//"))
    style = "".join(document.xpath("//style/text()"))
    assert "url(" not in style and "@import" not in style
    assert "default-src 'none'" in document.xpath("//meta[@http-equiv]/@content")[0]
    assert "\x00" not in text and "\x1b" not in text
    assert not list(path.parent.glob(".report.html.*"))  # no temporary file left


def test_the_embedded_data_is_the_run(workdir):
    document = lxml.html.document_fromstring(run_report().read_bytes())
    view = data_of(document)
    assert view["status"] == "failed" and view["name"] == "outcomes"
    assert view["counts"] == {"error": 2, "failure": 2, "unexpected_success": 1,
                              "expected_failure": 1, "skip": 1, "success": 3}
    tests = {node["name"]: node for node in leaves(view["tree"])}
    assert {name: node["outcome"] for name, node in tests.items()} == outcomes.EXPECTED
    assert len({node["id"] for node in leaves(view["tree"])}) == len(tests)
    # Counts per outcome shown in the summary bar, from the same data.
    chips = {chip.get("data-outcome"): chip.findtext("span[@class='count']")
             for chip in document.xpath("//button[@data-outcome]")}
    assert chips == {outcome: str(count) for outcome, count in view["counts"].items()}

    hostile = tests["HostileCase.test_hostile_failure"]
    assert "]]> <b>&amp;" in hostile["details"][0][1] and "שלום" in hostile["details"][0][1]
    assert "\x00" not in hostile["details"][0][1] and "\x1b" not in hostile["log"]
    huge = tests["HostileCase.test_huge_traceback"]["details"][0][1]
    assert len(huge) < DETAIL_LIMIT + 100 and "characters cut" in huge
    assert huge.startswith("Traceback") and huge.rstrip().endswith("x")
    messages = tests["PassingCase.test_with_messages"]
    assert messages["infos"] == ["the answer was right"]
    assert "a line in the test's log" in messages["log"]
    assert tests["ProblemCase.test_skipped"]["details"] == [["skip", "not on this bench"]]
    outer = view["tree"]["children"][0]
    assert (outer["name"], outer["kind"], outer["tags"]) == ("OuterSuite", "suite", ["nightly"])
    assert outer["children"][2]["name"] == "InnerSuite"


def test_a_passing_run_says_so(workdir):
    view = data_of(lxml.html.document_fromstring(
        run_report(outcomes.PassingCase, name="green").read_bytes()))
    assert view["status"] == "passed"
    assert view["counts"]["success"] == 2 and sum(view["counts"].values()) == 2


def test_html_path_setting_places_the_report(workdir, monkeypatch):
    monkeypatch.setenv("ROTEST_HTML_PATH", "out/run.html")
    stream = io.StringIO()
    report = run([outcomes.PassingCase], load_config(), RunOptions(outputs=["html"]),
                 stream=stream)
    assert (report.run_dir / "out" / "run.html").is_file()
    assert not (report.run_dir / "report.html").exists()


def test_a_report_that_cannot_be_written_does_not_break_the_run(workdir, monkeypatch,
                                                                capsys):
    monkeypatch.setenv("ROTEST_HTML_PATH", ".")  # a directory: the write must fail
    # Not the hostile cases: their lone surrogate cannot go through captured stderr.
    report = run([outcomes.OuterSuite], load_config(), RunOptions(outputs=["html"]),
                 stream=io.StringIO())
    assert report.exit_code == 1 and report.result.testsRun == 7
    assert "output handler 'html' failed in stop_test_run" in capsys.readouterr().err


def rerun_record() -> RunRecord:
    """A run whose one test failed, was run again and passed, with a known issue."""
    start = datetime(2026, 11, 21, 7, 0, tzinfo=timezone(timedelta(hours=2)))
    root = Record(name="delta", kind="suite", classname="rotest_core.runner.delta",
                      start=start, end=start + timedelta(seconds=5))
    test = Record(name="Flaky.test_it", kind="case", classname="lab.Flaky",
                      parent=root, start=start + timedelta(seconds=3),
                      end=start + timedelta(seconds=4), own_outcome="success",
                      infos=["steady now"], resources={"dut": "dev1"},
                      reruns=[Attempt("failure", [("failure", "AssertionError: \x1b[1mflaky")],
                                      start, start + timedelta(seconds=2))],
                      signatures=[{"name": "BUG-7", "pattern": "flaky",
                                   "link": "https://bugs.example/7"},
                                  {"name": "sneaky", "pattern": "x",
                                   "link": "javascript:alert(1)"}])
    root.children.append(test)
    return RunRecord(name="delta", root=root, start=start, end=start + timedelta(seconds=5))


def test_view_of_keeps_reruns_signatures_and_times():
    view = view_of(rerun_record())
    json.dumps(view)  # all of it serialisable
    assert view["start"] == "2026-11-21T07:00:00+02:00" and view["duration"] == 5.0
    assert view["status"] == "passed"
    (test,) = view["tree"]["children"]
    assert test["reruns"] == [{"outcome": "failure", "duration": 2.0,
                               "details": [["failure", "AssertionError: flaky"]]}]
    assert test["signatures"][0] == {"name": "BUG-7", "pattern": "flaky",
                                     "link": "https://bugs.example/7"}
    assert (test["infos"], test["resources"], test["log"]) == (["steady now"],
                                                               {"dut": "dev1"}, "")
    running = rerun_record()
    running.end = None
    assert view_of(running)["status"] == "running"


def test_the_text_budget_keeps_every_error_line_and_failing_logs_first(tmp_path):
    start = datetime(2026, 11, 21, 7, 0, tzinfo=timezone.utc)
    root = Record(name="big", kind="suite", classname="x", start=start, end=start)
    trace = "Traceback (most recent call last):\n" + "  frame\n" * 2000 + "ValueError: {}"
    for number in range(40):
        work_dir = tmp_path / str(number)
        work_dir.mkdir()
        (work_dir / "test.log").write_text(f"log of {number}\n" * 3000)
        passed = number % 2 == 0
        root.children.append(Record(
            name=f"T.test_{number}", kind="case", classname="x.T", parent=root,
            start=start, end=start, work_dir=work_dir,
            own_outcome="success" if passed else "error",
            details=[] if passed else [("error", trace.format(number))]))
    run = RunRecord(name="big", root=root, start=start, end=start)

    tests = view_of(run, text_budget=200_000)["tree"]["children"]  # short even of errors
    texts = [text for test in tests for _outcome, text in test["details"]]
    assert len(texts) == 20 and sum(map(len, texts)) < 200_000 + 20 * 2_100
    assert "characters cut" in texts[-1] and "characters cut" not in texts[0]
    for number, test in enumerate(tests):  # every error still says what was raised
        if test["details"]:
            assert test["details"][0][1].endswith(f"ValueError: {number}")

    # Room for every traceback and about ten of the forty logs.
    budget = sum(len(trace.format(number)) for number in range(20)) + 300_000
    tests = view_of(run, text_budget=budget)["tree"]["children"]
    failing = [test["log"] for test in tests if test["outcome"] == "error"]
    passing = [test["log"] for test in tests if test["outcome"] == "success"]
    assert "characters cut" not in failing[0] and failing[0].endswith("log of 1\n")
    assert all("characters cut" in log for log in passing)
    assert sum(map(len, failing)) > 3 * sum(map(len, passing))
    assert passing[-1].endswith("log of 38\n")  # a cut log keeps its end


def synthetic_view(tests: int, *, per_suite: int = 100, hostile: str = "") -> dict:
    """A run view of ``tests`` cases in suites of ``per_suite``: one in ten
    fails with a traceback, one in fifty errors, one in forty is skipped."""
    ids = itertools.count()
    counts = dict.fromkeys(("error", "failure", "unexpected_success", "expected_failure",
                            "skip", "success"), 0)

    def node(name: str, kind: str, outcome: str | None, **extra) -> dict:
        base = {"id": next(ids), "name": name, "kind": kind, "classname": "lab.tests." + name,
                "outcome": outcome, "start": "2026-11-21T07:00:00.000000+00:00",
                "end": "2026-11-21T07:00:00.250000+00:00", "duration": 0.25,
                "description": "", "tags": [], "note": "", "resources": {}, "infos": [],
                "details": [], "log": "", "reruns": [], "signatures": [], "children": []}
        base.update(extra)
        return base

    trace = ('Traceback (most recent call last):\n  File "/lab/test_device.py", line 12, '
             'in test_reading\n    self.assertEqual(reading, 42)\n'
             'AssertionError: 41 != 42 ' + hostile + '\n')
    root = node("nightly", "suite", "error")
    for number in range(tests):
        if number % per_suite == 0:
            suite = node(f"Suite{number // per_suite}", "suite", "failure")
            root["children"].append(suite)
        outcome = ("error" if number % 50 == 7 else "failure" if number % 10 == 3
                   else "skip" if number % 40 == 5 else "success")
        counts[outcome] += 1
        details = {"error": [["error", trace]], "failure": [["failure", trace]],
                   "skip": [["skip", "no bench"]]}.get(outcome, [])
        suite["children"].append(node(
            f"DeviceCase.test_{number:05d}", "case", outcome, details=details,
            resources={"dut": f"dev{number % 7}"}, log="line\n" * 5 if details else ""))
    return {"name": "nightly " + hostile, "start": "2026-11-21T07:00:00+00:00",
            "end": "2026-11-21T07:40:00+00:00", "duration": 2400.0, "status": "failed",
            "counts": counts, "environment": {"host": "lab1", "note": hostile},
            "settings": {"workdir": hostile}, "artifact": None, "tree": root}


def test_markup_in_any_text_stays_text():
    view = synthetic_view(20, hostile=INJECTION + " ]]> \u2028 <!-- ")
    document = lxml.html.document_fromstring(render_report(view, back_url="/runs"))
    assert len(document.xpath("//script")) == 2
    assert not document.xpath("//b | //img")
    assert data_of(document) == view  # the data survives the trip intact
    assert INJECTION in document.findtext(".//h1")
    assert document.xpath("//a[@class='back']/@href") == ["/runs"]


# --- in the browser -----------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_report(browser):
    """Opens a report file; checks afterwards that the page raised nothing,
    fetched nothing and opened no dialog (an injected script would)."""
    pages, problems = [], []

    def opener(path: Path):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"),
                                          dialog.dismiss()))
        page.on("request", lambda request: None if request.url.startswith("file:")
                else problems.append(f"fetched {request.url}"))
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-drawing=done]")
        pages.append(page)
        return page

    yield opener
    for page in pages:
        page.close()
    assert problems == []


def shown_tests(page) -> list[str]:
    """Names of the tests whose rows are drawn and not inside a closed part."""
    return page.evaluate("""() => [...document.querySelectorAll('.leaf > .row .name')]
        .filter(name => !name.closest('[hidden]')).map(name => name.textContent)""")


def wait_drawn(page) -> None:
    page.wait_for_selector("body[data-drawing=done]", state="attached")


@needs_chromium
def test_filter_by_outcome_and_search_by_name(workdir, open_report):
    page = open_report(run_report())
    assert sorted(shown_tests(page)) == sorted(outcomes.EXPECTED)  # small: all open

    page.click("button[data-outcome=failure]")
    page.wait_for_selector("#shown:has-text('Showing 2 of 10 tests')")
    wait_drawn(page)
    assert sorted(shown_tests(page)) == sorted(FAILURES)
    assert page.url.endswith("#outcome=failure")
    page.reload()  # the address keeps the filter: a link shows the same tests
    wait_drawn(page)
    assert sorted(shown_tests(page)) == sorted(FAILURES)
    assert page.get_attribute("button[data-outcome=failure]", "aria-pressed") == "true"
    page.click("button[data-outcome=error]")  # a second outcome adds to the first
    page.wait_for_selector("#shown:has-text('Showing 4 of 10 tests')")
    wait_drawn(page)
    assert {*FAILURES, "ProblemCase.test_errors"} < set(shown_tests(page))

    page.click("#clear")
    page.click("#problems")  # errors, failures and unexpected successes
    page.wait_for_selector("#shown:has-text('Showing 5 of 10 tests')")
    wait_drawn(page)
    assert sorted(shown_tests(page)) == sorted(
        name for name, outcome in outcomes.EXPECTED.items()
        if outcome in ("error", "failure", "unexpected_success"))
    page.click("#problems")
    page.wait_for_selector("#shown:text-is('10 tests')")
    page.fill("#search", "ünïcödé")
    page.wait_for_selector("#shown:has-text('Showing 1 of 10 tests')")
    wait_drawn(page)
    assert shown_tests(page) == ["HostileCase.test_ünïcödé_name"]
    page.fill("#search", "innersuite")  # a suite's name shows all its tests
    page.wait_for_selector("#shown:has-text('Showing 5 of 10 tests')")
    wait_drawn(page)
    assert all(name.startswith("ProblemCase.") for name in shown_tests(page))
    page.fill("#search", "no such test")
    page.wait_for_selector(".empty:has-text('No test matches')")


@needs_chromium
def test_open_the_tree_a_traceback_and_a_log(workdir, open_report):
    page = open_report(run_report())
    page.click("#collapse-all")
    wait_drawn(page)
    assert shown_tests(page) == ["HostileCase.test_hostile_failure",
                                 "HostileCase.test_huge_traceback",
                                 "HostileCase.test_ünïcödé_name"]
    page.click(".composite > .row:has-text('OuterSuite')")
    page.click(".composite > .row:has-text('InnerSuite')")
    wait_drawn(page)
    assert "ProblemCase.test_fails" in shown_tests(page)

    failed = page.locator(".leaf", has=page.locator(".row .name",
                                                    has_text="ProblemCase.test_fails"))
    assert failed.locator("pre").count() == 0  # drawn only when opened
    failed.locator(".row").click()
    traceback = failed.locator(".panel pre").first
    assert "Traceback (most recent call last)" in traceback.inner_text()
    assert "one is not two" in traceback.inner_text()
    failed.locator("button", has_text="Show the log").click()
    assert "the test ended with a failure" in failed.locator(".panel pre").last.inner_text()
    failed.locator(".row").click()
    assert not failed.locator(".panel").is_visible()

    failed.locator(".row").focus()  # the keyboard: down to the next test, open it
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    skipped = page.locator(".leaf", has=page.locator(".row .name",
                                                     has_text="ProblemCase.test_skipped"))
    assert skipped.locator(".panel pre").inner_text() == "not on this bench"


@needs_chromium
def test_hostile_text_is_shown_literally(workdir, open_report):
    page = open_report(run_report())
    hostile = page.locator(".leaf", has=page.locator(
        ".row .name", has_text="HostileCase.test_hostile_failure"))
    hostile.locator(".row").click()
    text = hostile.locator(".panel pre").first.inner_text()
    assert "]]> <b>&amp;" in text and "שלום ✓ 日本" in text
    assert page.locator("main b").count() == 0

    huge = page.locator(".leaf", has=page.locator(
        ".row .name", has_text="HostileCase.test_huge_traceback"))
    huge.locator(".row").click()
    shown = len(huge.locator(".panel pre").first.inner_text())
    huge.locator("button", has_text="Show all").click()
    assert len(huge.locator(".panel pre").first.inner_text()) > shown >= 10_000


@needs_chromium
def test_markup_injected_through_the_view_never_runs(tmp_path, open_report):
    path = tmp_path / "report.html"
    path.write_text(render_report(synthetic_view(30, hostile=INJECTION)), encoding="utf-8")
    page = open_report(path)
    assert page.locator("script").count() == 2 and page.locator("img, main b").count() == 0
    assert INJECTION in page.locator("h1").inner_text()
    page.click("button[data-outcome=failure]")
    wait_drawn(page)
    page.locator(".leaf .row").first.click()
    assert INJECTION in page.locator(".panel pre").first.inner_text()


@needs_chromium
def test_ten_thousand_tests_open(tmp_path, open_report):
    path = tmp_path / "report.html"
    path.write_text(render_report(synthetic_view(10_000)), encoding="utf-8")
    started = time.perf_counter()
    page = open_report(path)
    # Generous: the benchmark measures; this only catches a report that hangs.
    assert time.perf_counter() - started < 10
    assert page.locator("#shown").inner_text() == "10000 tests"
    assert page.locator(".tree > .node").count() == 100  # one row per suite, closed
    page.click("button[data-outcome=error]")
    page.wait_for_selector("#shown:has-text('Showing 200 of 10000 tests')")
    wait_drawn(page)
    assert len(shown_tests(page)) == 200


@needs_chromium
def test_reruns_and_known_issues_are_shown(tmp_path, open_report):
    path = tmp_path / "report.html"
    path.write_text(render_report(view_of(rerun_record())), encoding="utf-8")
    page = open_report(path)
    page.click(".leaf > .row")
    panel = page.locator(".panel")
    assert panel.locator("a", has_text="BUG-7").get_attribute("href") == "https://bugs.example/7"
    assert panel.locator("a", has_text="sneaky").count() == 0  # not a web link: text only
    assert "javascript:alert(1)" in panel.inner_text()
    assert "Earlier attempts (1)" in panel.text_content()
    panel.locator("button", has_text="Show what happened").click()
    assert "AssertionError: flaky" in panel.locator(".reruns pre").inner_text()
    assert "dut = dev1" in panel.inner_text() and "steady now" in panel.inner_text()


@needs_chromium
def test_a_view_with_only_the_essentials_still_shows(tmp_path, open_report):
    """The server builds views from its database; fields it leaves out are empty."""
    leaf = {"id": 2, "name": "Case.test_one", "kind": "case", "outcome": "failure",
            "details": [["failure", "AssertionError: boom"]]}
    view = {"name": "minimal", "status": "failed", "counts": {"failure": 1},
            "tree": {"id": 0, "name": "minimal", "kind": "suite", "children": [
                {"id": 1, "name": "Suite", "kind": "suite", "outcome": "failure",
                 "children": [leaf]}]}}
    path = tmp_path / "report.html"
    path.write_text(render_report(view), encoding="utf-8")
    page = open_report(path)
    assert shown_tests(page) == ["Case.test_one"]
    page.click(".leaf > .row")
    assert page.locator(".panel pre").inner_text() == "AssertionError: boom"


@needs_chromium
def test_an_address_set_later_filters_and_search_reads_messages(workdir, open_report):
    page = open_report(run_report())
    page.evaluate("() => { location.hash = 'outcome=failure'; }")  # a link in the page
    page.wait_for_selector("#shown:has-text('Showing 2 of 10 tests')")
    wait_drawn(page)
    assert sorted(shown_tests(page)) == sorted(FAILURES)
    page.evaluate("() => { location.hash = ''; }")
    page.wait_for_selector("#shown:text-is('10 tests')")
    page.fill("#search", "the device fell over")  # in a traceback, not in a name
    page.wait_for_selector("#shown:has-text('Showing 1 of 10 tests')")
    wait_drawn(page)
    assert shown_tests(page) == ["ProblemCase.test_errors"]


@needs_chromium
def test_sort_the_slowest_and_links_to_a_tests_files(workdir, open_report):
    path = run_report()
    page = open_report(path)
    assert page.locator("#slowest li").count() == 10
    page.select_option("#sort", "outcome")
    wait_drawn(page)
    shown = shown_tests(page)
    assert shown[0] == "ProblemCase.test_errors"  # the worst first, suites by their worst
    assert shown.index("ProblemCase.test_fails") < shown.index("PassingCase.test_passes")
    assert "sort=outcome" in page.url
    page.reload()  # the order is in the address too
    wait_drawn(page)
    assert shown_tests(page) == shown
    page.click(".leaf .row:has-text('PassingCase.test_with_messages')")
    link = page.locator(".panel a:text-matches('test.log$')").first
    href = link.get_attribute("href")
    assert href.startswith("./") and (path.parent / href).resolve().is_file()


def test_each_test_s_wait_for_its_locks_and_the_total_are_shown(workdir, lab):
    path = run_report(merge_samples.DeviceCase, merge_samples.OutcomesA)
    document = lxml.html.parse(str(path)).getroot()
    nodes = {node["name"]: node for node in leaves(data_of(document)["tree"])}
    wait = nodes["DeviceCase.test_holds_the_device"]["lock_wait"]
    assert wait >= 0 and nodes["DeviceCase.test_holds_the_device"]["setup_time"] >= 0
    assert nodes["OutcomesA.test_passes"]["lock_wait"] is None
    (total,) = document.xpath("//*[@id='lock-wait']")
    assert total.text_content().startswith("waited ")
    # A run that locked nothing says nothing of waits.
    plain = lxml.html.parse(str(run_report(merge_samples.OutcomesA))).getroot()
    assert plain.xpath("//*[@id='lock-wait']") == []
