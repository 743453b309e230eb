"""File reports: time and size of each report for 1,000 and 10,000 results.

    python bench/reports.py [--sizes 1000 10000] [--handlers junit excel html]

Generated tests (plain unittest cases in suites of 50: 90% pass, 5% fail and
3% error with a real traceback, 2% skip) are fed, event by event, through
the real :class:`rotest_core.result.Result` to one handler at a time, looked
up by name (a handler that cannot be loaded yet is skipped, with a note).
For each it prints the time of the events (the handler's per-test work), the
time of the end of the run (where the file is written), the file's size, and
the ratios to baselines measured in the same run: the same events with no
handler, and ``json.dump`` of the same results. Target: every file written
in under 5 s for 10,000 results.

When the html handler loads, its file is opened in headless Chromium
(Playwright, /usr/bin/chromium) and timed until ``document.readyState`` is
complete, with the first contentful paint (target: usable in under 2 s).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import unittest
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The checkout first, as the other benchmarks do.
sys.path.insert(0, str(ROOT))

from rotest_core.result import HandlerNotAvailable, Result, handler_class  # noqa: E402

PER_SUITE = 50
CHROMIUM = "/usr/bin/chromium"


class Suite(unittest.TestSuite):
    """A named suite, as the reports see Rotest's (``name``, ``parent``)."""

    def __init__(self, name: str, parent: Any = None) -> None:
        super().__init__()
        self.name, self.parent = name, parent


def outcome_of(index: int) -> str:
    slot = index % 100
    return ("failure" if slot < 5 else "error" if slot < 8 else "skip" if slot < 10
            else "success")


def make_tree(count: int) -> tuple[Suite, list[tuple[Suite, list[unittest.TestCase]]]]:
    """The run's root and its suites of generated cases."""
    root, suites = Suite("bench"), []
    for first in range(0, count, PER_SUITE):
        suite = Suite(f"Suite{first // PER_SUITE:04d}", root)
        methods = {f"test_{index:05d}": lambda self: None
                   for index in range(first, min(count, first + PER_SUITE))}
        case_class = type(f"Case{first // PER_SUITE:04d}", (unittest.TestCase,),
                          {**methods, "__module__": "bench.generated"})
        cases = [case_class(name) for name in methods]
        for case in cases:
            case.parent = suite
        suite.addTests(cases)
        root.addTest(suite)
        suites.append((suite, cases))
    return root, suites


def exc_info(kind: str) -> Any:
    """A real exception with its traceback, a few frames deep."""
    def deep(level: int) -> None:
        if level:
            deep(level - 1)
        elif kind == "failure":
            raise AssertionError("expected 200 from the device, got 503: " + "x" * 200)
        else:
            raise ConnectionError("the device at 10.0.0.1 did not answer")
    try:
        deep(8)
    except Exception:  # noqa: BLE001 - we want its exc_info
        return sys.exc_info()


def feed(result: Result, suites: list) -> None:
    """Every event of the run but its end, through ``result``."""
    errors = {"failure": exc_info("failure"), "error": exc_info("error")}
    result.startTestRun()
    index = 0
    for suite, cases in suites:
        result.startComposite(suite)
        for case in cases:
            result.startTest(case)
            outcome = outcome_of(index)
            if outcome == "success":
                result.addSuccess(case)
            elif outcome == "skip":
                result.addSkip(case, "not on this bench")
            elif outcome == "failure":
                result.addFailure(case, errors["failure"])
            else:
                result.addError(case, errors["error"])
            result.stopTest(case)
            index += 1
        result.stopComposite(suite)


def timed_run(handler_type: type | None, count: int, folder: Path) -> dict[str, Any]:
    """Events and end of one run into ``folder``; the files it wrote."""
    folder.mkdir(parents=True)
    root, suites = make_tree(count)
    handlers = ([handler_type(root, stream=io.StringIO(), config=None, work_dir=folder)]
                if handler_type else [])
    result = Result(handlers)
    began = time.perf_counter()
    feed(result, suites)
    events = time.perf_counter() - began
    began = time.perf_counter()
    result.stopTestRun()
    end = time.perf_counter() - began
    if handlers and not result.handlers:
        raise RuntimeError(f"the {handler_type.__name__} handler broke (see stderr)")
    files = [path for path in folder.rglob("*") if path.is_file()]
    return {"events": events, "end": end, "files": files, "suites": suites,
            "size": sum(path.stat().st_size for path in files), "result": result}


def json_baseline(bare: dict[str, Any], folder: Path) -> tuple[float, int]:
    """Seconds and bytes of json.dump of the results of the run ``bare``."""
    result = bare["result"]
    problems = {id(test): text for test, text in result.failures + result.errors}
    cases = [case for _suite, suite_cases in bare["suites"] for case in suite_cases]
    records = [{"name": str(case), "classname": type(case).__qualname__,
                "outcome": outcome_of(index), "traceback": problems.get(id(case), "")}
               for index, case in enumerate(cases)]
    path = folder / "results.json"
    began = time.perf_counter()
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(records, stream)
    return time.perf_counter() - began, path.stat().st_size


def chromium_load(path: Path) -> tuple[float, float | None]:
    """Seconds until the page's readyState is complete, and its first
    contentful paint (seconds), in headless Chromium."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox"])
        page = browser.new_page()
        began = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function("document.readyState === 'complete'")
        loaded = time.perf_counter() - began
        paint = page.evaluate("(performance.getEntriesByName('first-contentful-paint')[0]"
                              " || {}).startTime || null")
        browser.close()
    return loaded, paint / 1000 if paint else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--handlers", nargs="+", default=["junit", "excel", "html"])
    args = parser.parse_args()
    loaded = {}
    for name in args.handlers:
        try:
            loaded[name] = handler_class(name)
        except HandlerNotAvailable as error:
            print(f"note: skipping {name}: {error}")
    with tempfile.TemporaryDirectory() as temp:
        temp_path = Path(temp)
        print(f"{'handler':<8} {'results':>7} {'events s':>9} {'x bare':>7} "
              f"{'write s':>8} {'x json':>7} {'size MB':>8} {'x json':>7}  target")
        for count in args.sizes:
            bare_run = timed_run(None, count, temp_path / f"bare{count}")
            bare = bare_run["events"]
            dump, dump_size = json_baseline(bare_run, temp_path / f"bare{count}")
            print(f"{'(none)':<8} {count:>7} {bare:>9.2f} {1:>6.1f}x {dump:>8.2f} "
                  f"{1:>6.1f}x {dump_size / 1e6:>8.2f} {1:>6.1f}x  json.dump baseline")
            for name, handler_type in loaded.items():
                measured = timed_run(handler_type, count, temp_path / f"{name}{count}")
                verdict = "ok" if measured["end"] < 5 else "OVER 5 s"
                print(f"{name:<8} {count:>7} {measured['events']:>9.2f} "
                      f"{measured['events'] / bare:>6.1f}x {measured['end']:>8.2f} "
                      f"{measured['end'] / dump:>6.1f}x {measured['size'] / 1e6:>8.2f} "
                      f"{measured['size'] / dump_size:>6.1f}x  {verdict}")
                pages = [path for path in measured["files"] if path.suffix == ".html"]
                if pages:
                    seconds, paint = chromium_load(pages[0])
                    shown = f"{paint:.2f} s" if paint is not None else "n/a"
                    print(f"{'':<8} {'':>7} html in Chromium: loaded in {seconds:.2f} s, "
                          f"first paint at {shown} "
                          f"({'ok' if seconds < 2 else 'OVER 2 s'})")


if __name__ == "__main__":
    main()
