"""Finding tests: the TestCase and TestSuite classes in files and directories.

In a directory, files named ``test*.py`` or ``*_test.py`` are test modules;
a ``.py`` file given by name is one whatever its name. A module is imported
as pytest's "prepend" mode does: the first folder above it without an
``__init__.py`` goes on ``sys.path``, so tests import their neighbours and
packages keep their dotted names.

A module's tests are the classes it defines (not those it imports) except
abstract ones: no test methods (or no components, or no blocks), or
``__test__ = False`` in the class itself; TestBlocks run in flows only. A
case, suite or flow that a found suite or flow holds runs there only, not a
second time on its own. Plain ``unittest.TestCase`` classes (testresources'
``ResourcedTestCase`` among them) are tests too, and a module with unittest's
``load_tests(loader, tests, pattern)`` gives the tests that function returns,
as one suite named after the module.
"""
from __future__ import annotations

import fnmatch
import importlib
import os
import sys
import traceback
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Sequence

from .case import TestCase
from .suite import TestSuite, case_method_names

__all__ = ["Discovery", "DiscoveryError", "discover", "find_test_files",
           "import_test_file", "module_tests"]

TEST_FILE_PATTERNS = ("test*.py", "*_test.py")
_HERE = Path(__file__).resolve()


@dataclass
class DiscoveryError:
    """A test file that could not be imported, and why (one line)."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"cannot import {self.path}: {self.message}"


@dataclass
class Discovery:
    """The test classes found, in order, and the files that failed."""

    tests: list[type] = field(default_factory=list)
    errors: list[DiscoveryError] = field(default_factory=list)


def discover(paths: Iterable[str | Path], blacklist: Sequence[str] = ()) -> Discovery:
    """The tests in ``paths`` (files or directories), in path order."""
    found = Discovery()
    for path in find_test_files(paths, blacklist):
        try:
            tests = module_tests(import_test_file(path))  # load_tests is the user's too
        except UnusableTestFile as error:
            found.errors.append(DiscoveryError(path, str(error)))
        except (Exception, SystemExit) as error:  # noqa: BLE001 - any error of the user's module
            found.errors.append(DiscoveryError(path, _describe(error, path)))
        else:
            found.tests.extend(tests)
    found.tests = _outside_suites(found.tests)
    return found


def find_test_files(paths: Iterable[str | Path], blacklist: Sequence[str] = ()) -> list[Path]:
    """Test files under ``paths``: given files as they are, directories walked
    in name order, skipping names that match a ``blacklist`` pattern."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files.extend(_walk(path, blacklist))
        else:
            files.append(path)
    return list(dict.fromkeys(p.resolve() for p in files))


def _walk(root: Path, blacklist: Sequence[str]) -> list[Path]:
    def listed(name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in blacklist)

    found = []
    for folder, dirs, files in os.walk(root):
        # Pruned in place, so that os.walk never enters a blacklisted folder.
        dirs[:] = sorted(d for d in dirs if not listed(d))
        found.extend(Path(folder) / name for name in sorted(files)
                     if not listed(name)
                     and any(fnmatch.fnmatch(name, p) for p in TEST_FILE_PATTERNS))
    return found


class UnusableTestFile(ImportError):
    """A path that cannot be imported as a test module of its own."""


def import_test_file(path: Path) -> ModuleType:
    """Import a test file under its package-qualified name."""
    path = path.resolve()
    if path.suffix != ".py":
        raise UnusableTestFile("not a Python file (expected a .py file)")
    root, name = _module_name(path)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = importlib.import_module(name)
    loaded = Path(getattr(module, "__file__", "") or "").resolve()
    if loaded != path:
        raise UnusableTestFile(
            f"its module name {name!r} is taken by {loaded}: rename one of the files, "
            f"or put an __init__.py beside each to make them packages")
    return module


def _module_name(path: Path) -> tuple[Path, str]:
    parts, folder = [path.stem], path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    if parts[-1] == "__init__":
        parts.pop()
    return folder, ".".join(parts)


def module_tests(module: ModuleType) -> list[type]:
    """The test classes ``module`` defines, in definition order, but those
    its suites hold; or, when it has unittest's ``load_tests``, one suite of
    what that returns."""
    classes = _outside_suites([obj for obj in vars(module).values()
                               if isinstance(obj, type) and obj.__module__ == module.__name__
                               and is_test_class(obj)])
    load_tests = getattr(module, "load_tests", None)
    if not callable(load_tests):
        return classes
    return [loaded_suite(module, load_tests, classes)]


def is_test_class(cls: type) -> bool:
    """A concrete TestCase, TestSuite or TestFlow subclass (each class says
    whether it is: a case with test methods, a suite with components...), or
    a plain unittest.TestCase with test methods."""
    if cls.__dict__.get("__test__", True) is False:
        return False
    if issubclass(cls, (TestCase, TestSuite)):
        return cls._discoverable()
    return issubclass(cls, unittest.TestCase) and bool(case_method_names(cls))


class LoadedSuite(TestSuite):
    """The tests a module's ``load_tests`` returned (unittest's protocol).

    unittest's own suites in it are flattened (they only group: class and
    module fixtures follow the order, which is kept); Rotest's suites and
    flows stay whole.
    """

    __test__ = False
    loaded: unittest.TestSuite = unittest.TestSuite()

    def __init__(self, tests: Any = None, *, parent: Any = None) -> None:
        super().__init__(_flattened(self.loaded) if tests is None else tests,
                         parent=parent)

    @classmethod
    def _discoverable(cls) -> bool:
        return True


def loaded_suite(module: ModuleType, load_tests: Any, classes: list[type]) -> type[LoadedSuite]:
    """A suite class (named after the module) of what ``load_tests`` returns,
    given unittest's loader and the module's standard tests."""
    loader = unittest.TestLoader()
    standard = unittest.TestSuite(
        loader.loadTestsFromTestCase(cls) if issubclass(cls, unittest.TestCase)
        else cls() for cls in classes)
    loaded = load_tests(loader, standard, TEST_FILE_PATTERNS[0])
    if not isinstance(loaded, unittest.TestSuite):
        raise UnusableTestFile(f"load_tests returned {type(loaded).__name__}, not a "
                               f"unittest.TestSuite")
    return type(module.__name__.rpartition(".")[2], (LoadedSuite,),
                {"loaded": loaded, "__module__": module.__name__})


def _flattened(suite: unittest.TestSuite) -> list[Any]:
    tests: list[Any] = []
    for test in suite:
        if isinstance(test, unittest.TestSuite) and not isinstance(test, TestSuite):
            tests.extend(_flattened(test))
        else:
            tests.append(test)
    return tests


def _outside_suites(tests: list[type]) -> list[type]:
    inside: set[type] = set()

    def collect(suite: type) -> None:
        for component in [*getattr(suite, "components", ()), *getattr(suite, "blocks", ())]:
            # A flow's ``SubFlow.params(...)`` is a subclass: SubFlow is inside too.
            original = getattr(component, "_parametrized_from", None)
            for held in filter(None, (component, original)):
                if held not in inside:
                    inside.add(held)
                    collect(held)

    for test in tests:
        if issubclass(test, TestSuite):
            collect(test)
    return [test for test in tests if test not in inside]


def _describe(error: BaseException, path: Path) -> str:
    """``Type: message (at file:line)``, the line in the test file if it is there."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, SyntaxError):
        return text  # its message names the file and line
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not f.filename.startswith("<") and Path(f.filename).resolve() != _HERE
              and "importlib" not in Path(f.filename).parts]
    ours = [f for f in frames if Path(f.filename).resolve() == path]
    frame = (ours or frames or [None])[-1]
    return f"{text} (at {frame.filename}:{frame.lineno})" if frame else text

