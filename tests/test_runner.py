"""The runner in process: discovery, the tree and its filters, -r overrides,
the result fan-out to handlers (entry points, built-ins, broken ones)."""
from __future__ import annotations

import io
import sys
import textwrap

import pytest

from rotest_core import result as result_module
from rotest_core.config import load_config
from rotest_core.discover import discover, find_test_files, import_test_file, module_tests
from rotest_core.result import HandlerNotAvailable, handler_class
from rotest_core.runner import (EXIT_NO_TESTS, RunOptions, build_tree, filter_names,
                                format_tree, parse_resource_overrides, run, select)
from rotest_core.suite import SuiteDefinitionError, TestSuite, iter_cases
from runtime_samples import cases
from runtime_samples.fixtures import workdir  # noqa: F401 - fixture
from runtime_samples.handlers import Broken, Recorder


def write(folder, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


CASE = """
    from rotest_core import TestCase

    class {name}(TestCase):
        def test_it(self):
            pass
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A tree of test files; the modules it imports are forgotten afterwards."""
    root = tmp_path / "project"
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield root
    for name in set(sys.modules) - before:
        del sys.modules[name]


# ---------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------

def test_discovery_walks_directories_for_test_files(project):
    write(project, "test_one.py", CASE.format(name="One"))
    write(project, "two_test.py", CASE.format(name="Two"))
    write(project, "helpers.py", CASE.format(name="Helper"))
    write(project, "sub/test_three.py", CASE.format(name="Three"))
    write(project, "build/test_built.py", CASE.format(name="Built"))
    write(project, "venv/lib/test_lib.py", CASE.format(name="Lib"))
    files = find_test_files([project], ["build", "venv"])
    assert [f.relative_to(project).as_posix() for f in files] == [
        "test_one.py", "two_test.py", "sub/test_three.py"]
    found = discover([project], ["build", "venv"])
    assert [cls.__name__ for cls in found.tests] == ["One", "Two", "Three"]
    assert found.errors == []


def test_a_file_given_by_name_is_a_test_file_whatever_its_name(project):
    write(project, "helpers.py", CASE.format(name="Helper"))
    assert [c.__name__ for c in discover([project / "helpers.py"]).tests] == ["Helper"]


def test_discovery_takes_defined_concrete_classes_once(project):
    write(project, "test_mix.py", """
        from rotest_core import TestCase, TestSuite
        from runtime_samples.cases import FirstCase   # imported: not this module's

        class Base(TestCase):            # no test methods: abstract
            pass

        class Hidden(TestCase):
            __test__ = False
            def test_x(self):
                pass

        class Shown(Hidden):             # __test__ of its base is not its own
            pass

        class InSuite(TestCase):
            def test_y(self):
                pass

        class Alone(TestCase):
            def test_z(self):
                pass

        class Empty(TestSuite):
            pass

        class Suite(TestSuite):
            components = [InSuite]
    """)
    found = discover([project])
    assert [cls.__name__ for cls in found.tests] == ["Shown", "Alone", "Suite"]


def test_the_tests_of_one_module_leave_out_what_its_suites_hold(project):
    write(project, "test_suite.py", """
        from rotest_core import TestCase, TestSuite

        class Held(TestCase):
            def test_x(self):
                pass

        class Suite(TestSuite):
            components = [Held]
    """)
    module = import_test_file(project / "test_suite.py")
    assert [cls.__name__ for cls in module_tests(module)] == ["Suite"]


def test_packages_import_under_their_dotted_names(project):
    write(project, "pkg/__init__.py", "")
    write(project, "pkg/helpers.py", "VALUE = 7\n")
    write(project, "pkg/test_pkg.py", """
        from rotest_core import TestCase
        from .helpers import VALUE

        class Packaged(TestCase):
            def test_value(self):
                assert VALUE == 7
    """)
    (test,) = discover([project]).tests
    assert test.__module__ == "pkg.test_pkg"


def test_import_errors_are_reported_per_file(project):
    write(project, "test_good.py", CASE.format(name="Good"))
    write(project, "test_syntax.py", "def broken(:\n")
    write(project, "test_raises.py", "x = 1\nraise RuntimeError('at import')\n")
    found = discover([project])
    assert [cls.__name__ for cls in found.tests] == ["Good"]
    messages = {error.path.name: str(error) for error in found.errors}
    assert "SyntaxError" in messages["test_syntax.py"]
    assert messages["test_raises.py"].endswith(
        f"RuntimeError: at import (at {project / 'test_raises.py'}:2)")


def test_two_files_with_one_module_name_are_an_error(project):
    write(project, "a/test_same.py", CASE.format(name="A"))
    write(project, "b/test_same.py", CASE.format(name="B"))
    found = discover([project])
    assert [cls.__name__ for cls in found.tests] == ["A"]
    (error,) = found.errors
    assert "module name 'test_same' is taken" in str(error)


# ---------------------------------------------------------------------------
# The tree, filters, overrides
# ---------------------------------------------------------------------------

def test_the_tree_expands_suites_into_test_methods():
    root = build_tree([cases.OuterSuite, cases.SuccessCase], "nightly")
    assert format_tree(root).splitlines() == [
        "nightly",
        "  OuterSuite",
        "    FirstCase.test_one  [first]",
        "    FirstCase.test_two  [first]",
        "    InnerSuite  [inner]",
        "      SecondCase.test_three  [second]",
        "  SuccessCase.test_messages",
    ]
    three = list(iter_cases(root))[2]
    assert filter_names(three) == ["second", "SecondCase", "test_three", "inner",
                                   "InnerSuite", "OuterSuite", "nightly"]


@pytest.mark.parametrize("expression, expected", [
    ("first", ["test_one", "test_two"]),
    ("inner", ["test_three"]),
    ("test_t*", ["test_two", "test_three"]),
    ("OuterSuite and not second", ["test_one", "test_two"]),
    ("nothing", []),
])
def test_filters_select_by_tags_and_names(expression, expected):
    root = build_tree([cases.OuterSuite])
    left = select(root, expression)
    assert [case._testMethodName for case in iter_cases(root)] == expected
    assert left == len(expected)


def test_a_suite_of_something_else_is_refused():
    class Wrong(TestSuite):
        components = [cases.FirstCase("test_one")]
    with pytest.raises(SuiteDefinitionError, match="Wrong.components"):
        Wrong()


def test_resource_overrides_parse():
    assert parse_resource_overrides("calc=calc2, dev.group.name=QA,dev.mode=x") == {
        "calc": {"name": "calc2"}, "dev": {"group__name": "QA", "mode": "x"}}
    assert parse_resource_overrides(None) == {}
    for bad in ("calc", "=x", "calc=", "calc..name=x"):
        with pytest.raises(ValueError, match="bad resource override"):
            parse_resource_overrides(bad)


# ---------------------------------------------------------------------------
# Runs without resources, suites
# ---------------------------------------------------------------------------

def test_a_run_that_locks_nothing_never_opens_the_database(workdir):
    report = run([cases.OuterSuite], load_config(), RunOptions(outputs=["dots"]),
                 stream=io.StringIO())
    assert report.exit_code == 1
    assert not (workdir / "rotest.db").exists()


def test_suites_get_nested_work_directories(workdir):
    report = run([cases.OuterSuite], load_config(), RunOptions(outputs=[Recorder]))
    inner = report.run_dir / "OuterSuite" / "InnerSuite" / "SecondCase.test_three"
    assert (inner / "test.log").is_file()


def test_nothing_to_run_exits_5(workdir):
    stream = io.StringIO()
    report = run([cases.OuterSuite], load_config(), RunOptions(filter="nothing"),
                 stream=stream)
    assert report.exit_code == EXIT_NO_TESTS and "no tests to run" in stream.getvalue()


def test_composite_events_wrap_their_tests(workdir):
    Recorder.events = []
    run([cases.OuterSuite], load_config(), RunOptions(outputs=[Recorder]))
    trace = [(event, test) for event, test, _ in Recorder.events
             if event in ("start_composite", "stop_composite", "start_test")]
    assert trace == [
        ("start_composite", "AllTests"), ("start_composite", "OuterSuite"),
        ("start_test", "FirstCase.test_one"), ("start_test", "FirstCase.test_two"),
        ("start_composite", "InnerSuite"), ("start_test", "SecondCase.test_three"),
        ("stop_composite", "InnerSuite"), ("stop_composite", "OuterSuite"),
        ("stop_composite", "AllTests")]


# ---------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------

def test_a_broken_handler_is_reported_once_and_left_out(workdir, capsys):
    Broken.calls, Recorder.events = 0, []
    report = run([cases.FirstCase], load_config(), RunOptions(outputs=[Broken, Recorder]))
    assert report.exit_code == 0
    assert Broken.calls == 1
    err = capsys.readouterr().err
    assert err.count("output handler 'broken' failed in start_test") == 1
    assert "RuntimeError: the report broke" in err
    assert [e for e, _, _ in Recorder.events].count("add_success") == 2


def test_handlers_come_from_entry_points_ours_and_a_third_partys_alike(monkeypatch):
    from rotest_app.engine import plugins
    from rotest_app.engine.entry_points import EntryPoint, EntryPoints
    point = EntryPoint("recorder", "runtime_samples.handlers:Recorder",
                       result_module.ENTRY_POINT_GROUP)
    with_recorder = EntryPoints([*plugins.installed(result_module.ENTRY_POINT_GROUP), point])
    monkeypatch.setattr(plugins, "_all_entry_points", lambda: with_recorder)
    assert handler_class("recorder") is Recorder
    assert handler_class("tree").NAME == "tree"
    with pytest.raises(HandlerNotAvailable, match="choose from .*dots, excel, full, .*recorder.*tree"):
        handler_class("nosuch")


def test_an_unknown_handler_lists_the_known_ones():
    with pytest.raises(HandlerNotAvailable, match=r"unknown output handler 'nope'.*tree"):
        handler_class("nope")


def test_a_set_up_class_error_fails_the_run(workdir):
    stream = io.StringIO()
    report = run([cases.BrokenClassSetUpCase, cases.FirstCase], load_config(),
                 RunOptions(outputs=["tree"]), stream=stream)
    assert report.exit_code == 1 and ("ran", True) not in cases.SEEN
    out = stream.getvalue()
    assert "setUpClass (runtime_samples.cases.BrokenClassSetUpCase) ... ERROR" in out
    assert "RuntimeError: class set-up broke" in out
    assert "FAILED (errors=1)" in out
