"""``--rotest-report junit,excel,html,history``: a pytest run, told to rotest's
report handlers as ``rotest run`` tells them its tests.

It runs where pytest reports (the only process, or the controller of a
pytest-xdist run), from pytest's reports of each test: the handlers see each
test as a case of its module's class (or of its module, for a function), with
its outcome, output, markers as tags, and the resources it used.
"""
from __future__ import annotations

import sys
import unittest
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

__all__ = ["PytestCase", "PytestRun", "ReportBridge"]


class PytestRun(unittest.TestSuite):
    """The run's root, as the handlers read it (``name``, ``outputs``, how
    many tests are planned)."""

    TAGS: tuple[str, ...] = ()
    parent = None

    def __init__(self, name: str, outputs: list[str], work_dir: Path) -> None:
        super().__init__()
        self.name, self.outputs, self.work_dir = name, outputs, work_dir
        self.planned = 0

    def countTestCases(self) -> int:  # noqa: N802 - unittest's name
        return self.planned


class PytestCase(unittest.TestCase):
    """A pytest test as a report handler sees it: ``Class.test[param]``, its
    class named after the test's class, or after its module for a function."""

    __test__ = False  # pytest must not collect it

    def __init__(self, nodeid: str, name: str, parent: PytestRun) -> None:
        super().__init__("runTest")  # the one name unittest takes without a method
        self._testMethodName = name
        self.nodeid = nodeid
        self.parent = parent
        self.TAGS: list[str] = []

    def runTest(self) -> None:  # noqa: N802 - never run: pytest ran the test
        """Stands for the pytest test."""

    def id(self) -> str:
        return self.nodeid


_CLASSES: dict[tuple[str, str], type[PytestCase]] = {}


def case_for(nodeid: str, location: tuple[str, int | None, str], root: PytestRun
             ) -> PytestCase:
    """The stand-in of the test ``nodeid`` (``dir/test_x.py::TestY::test_z[1]``)."""
    path = Path(location[0] if location else nodeid.split("::")[0])
    module = ".".join([*path.parent.parts, path.stem]).strip(".") or path.stem
    domain = location[2] if location and location[2] else nodeid.split("::")[-1]
    head, bracket, params = domain.partition("[")  # parameters may hold dots
    owner, _, base = head.rpartition(".")
    name = base + bracket + params
    qualname = owner or path.stem
    cls = _CLASSES.get((module, qualname))
    if cls is None:
        cls = _CLASSES[(module, qualname)] = type(
            qualname.rpartition(".")[2], (PytestCase,),
            {"__module__": module, "__qualname__": qualname, "__doc__": None})
    return cls(nodeid, name, root)


class ReportBridge:
    """Feeds rotest's :class:`~rotest_core.result.Result` from pytest's hooks."""

    def __init__(self, config: pytest.Config, outputs: list[str], handler_classes: list[type],
                 rotest_config: Any, run_dir: Path) -> None:
        self.config = config
        self.rotest_config = rotest_config
        self.run_dir = run_dir
        self.root = PytestRun(config.getoption("rotest_run_name"), outputs, run_dir)
        self.handler_classes = handler_classes
        self.result: Any = None
        self.interrupted = False
        self._tests: dict[str, PytestCase] = {}
        self._reports: dict[str, list[pytest.TestReport]] = {}

    @classmethod
    def from_config(cls, config: pytest.Config) -> "ReportBridge":
        """The handlers named by ``--rotest-report``; a UsageError names a bad one."""
        # Lazy: pytest loads this plugin in every run; it costs nothing until used.
        # Lazy: pytest loads this plugin in every run; it costs nothing until used.
        from ..case import new_run_dir
        from ..result import HandlerNotAvailable, handler_class
        from ..runner import _with_journal
        from .locking import load_rotest_config
        outputs = [n.strip() for n in config.getoption("rotest_report").split(",") if n.strip()]
        try:
            rotest_config = load_rotest_config(config)
            classes = _with_journal([handler_class(name) for name in outputs])
        except HandlerNotAvailable as error:
            raise pytest.UsageError(f"--rotest-report: {error}") from None
        except Exception as error:  # noqa: BLE001 - a bad rotest.yml, said plainly
            raise pytest.UsageError(f"rotest: {type(error).__name__}: {error}") from None
        run_dir = new_run_dir(rotest_config.workdir, config.getoption("rotest_run_name"))
        return cls(config, outputs, classes, rotest_config, run_dir)

    # --- the run -----------------------------------------------------------

    def _start(self) -> Any:
        if self.result is None:
            # Lazy: pytest loads this plugin in every run; it costs nothing until used.
            # Lazy: pytest loads this plugin in every run; it costs nothing until used.
            from ..result import Result
            from ..runner import _make_handlers
            handlers = _make_handlers(self.handler_classes, self.root, stream=sys.stdout,
                                      config=self.rotest_config, work_dir=self.run_dir)
            self.result = Result(handlers)
            self.result.startTestRun()
        return self.result

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: the workers' resources work under this run's directory."""
        node.workerinput["rotest_run_dir"] = str(self.run_dir)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.root.planned = max(self.root.planned, len(ids))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.root.planned = max(self.root.planned, len(session.items))

    def pytest_runtest_logstart(self, nodeid: str, location: tuple) -> None:
        test = self._tests[nodeid] = case_for(nodeid, location, self.root)
        self._reports[nodeid] = []
        self._start().startTest(test)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self._tests:  # a crashed worker's test: never started
            self.pytest_runtest_logstart(report.nodeid, report.location)
        self._reports[report.nodeid].append(report)
        test = self._tests[report.nodeid]
        for name, value in report.user_properties:
            if name == "rotest_resources" and report.when in ("setup", "call"):
                self.result.updateResources(test, {key: SimpleNamespace(name=resource)
                                                   for key, resource in value.items()})
            elif name == "rotest_lock_wait" and report.when in ("setup", "call"):
                self.result.addInfo(test, f"waited {value:.2f} s for the resources' locks")
                test.lock_wait = value  # the reports' per-test wait, as rotest run's
            elif name == "rotest_setup_time" and report.when in ("setup", "call"):
                test.setup_time = value
            elif name == "rotest_tags" and report.when == "setup":
                self._tag(test, list(value))
        if report.when == "???":  # pytest-xdist: the worker died in this test
            self.pytest_runtest_logfinish(report.nodeid, report.location)

    def _tag(self, test: PytestCase, tags: list[str]) -> None:
        """The test's markers, known from its first report (a worker's): the
        records made at its start take them too."""
        test.TAGS = tags
        for handler in self.result.handlers:
            if callable(getattr(handler, "record_of", None)):
                handler.record_of(test).tags = list(tags)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple) -> None:
        test = self._tests.pop(nodeid, None)
        if test is None:
            return
        reports = self._reports.pop(nodeid, [])
        for event, *text in outcomes(reports):
            self.result.record_outcome(event, test, *text)
        last = reports[-1] if reports else None
        test.output = SimpleNamespace(stdout=getattr(last, "capstdout", ""),
                                      stderr=getattr(last, "capstderr", ""))
        self.result.stopTest(test)

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.interrupted = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        result = self._start()
        for nodeid in list(self._tests):  # interrupted, or its worker died
            self.pytest_runtest_logfinish(nodeid, ())
        if self.interrupted:
            result.mark_interrupted()
        result.stopTestRun()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(f"rotest: reports ({', '.join(self.root.outputs)}) "
                                    f"in {self.run_dir}")


def outcomes(reports: list[pytest.TestReport]) -> list[tuple[str, ...]]:
    """The handler events (``add_success``, ``add_failure``...) of one test,
    from pytest's reports of its phases, each with its text."""
    events: list[tuple[str, ...]] = []
    for report in reports:
        text = report.longreprtext or ""
        xfail = hasattr(report, "wasxfail")
        if report.when == "call":
            if report.passed:
                events.append(("add_unexpected_success",) if xfail else ("add_success",))
            elif report.failed:
                events.append((_failure_or_error(report), text))
            elif xfail:
                events.append(("add_expected_failure", text or report.wasxfail))
            else:
                events.append(("add_skip", _skip_reason(report)))
        elif report.failed:  # set-up or tear-down, or a dead worker ("???")
            events.append(("add_error", text))
        elif report.skipped and report.when == "setup":
            events.append(("add_expected_failure", report.wasxfail) if xfail
                          else ("add_skip", _skip_reason(report)))
    return events


def _failure_or_error(report: pytest.TestReport) -> str:
    """An assertion (or pytest.fail) is a failure; any other exception an
    error, as unittest and rotest tell them apart."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", "") or ""
    return ("add_failure" if message.startswith(("AssertionError", "assert ", "Failed"))
            else "add_error")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")
