"""Test cases that declare the resources they use."""
from __future__ import annotations

import sys
import unittest
from typing import Any

from .managers import Resources, _release

__all__ = ["ResourcedTestCase", "setUpResources", "tearDownResources"]


class ResourcedTestCase(unittest.TestCase):
    """A TestCase whose ``resources`` (``[(name, manager), ...]``) are got in
    setUp and given back in tearDown, as attributes named by ``name``.

    Optional: ``dirtiedResources``, names of resources the test leaves dirty,
    lets OptimisingTestSuite count the resets that follows (a hint, no more).
    """

    resources: Resources = []

    def setUp(self) -> None:
        super().setUp()
        self.setUpResources()

    def setUpResources(self) -> None:
        """Get this test's resources."""
        setUpResources(self, self.resources, _get_result())
        # Also a cleanup: if a subclass's setUp fails after this, tearDown
        # never runs, and the resources would stay counted as used forever.
        self.addCleanup(self.tearDownResources)

    def tearDown(self) -> None:
        self.tearDownResources()
        super().tearDown()

    def tearDownResources(self) -> None:
        """Give back this test's resources (those it still holds)."""
        tearDownResources(self, self.resources, _get_result())


def setUpResources(test: Any, resources: Resources, result: Any) -> None:
    """Set ``test.<name>`` to each manager's resource; if one fails, give
    back those already got and raise."""
    got: dict[str, Any] = {}
    try:
        for name, manager in resources:
            got[name] = manager.getResource(result)
            setattr(test, name, got[name])
    except BaseException:
        _forget(test, got)
        _release(resources, got, result)
        raise


def tearDownResources(test: Any, resources: Resources, result: Any) -> None:
    """Give back the resources ``test`` holds (last first) and delete their
    attributes; a second call gives back nothing."""
    held = {name: vars(test)[name] for name, _ in resources if name in vars(test)}
    _forget(test, held)
    _release(resources, held, result)


def _forget(test: Any, names: dict[str, Any]) -> None:
    for name in names:
        vars(test).pop(name, None)


def _get_result() -> Any:
    """The TestResult of the test running now, or None.

    unittest does not hand the result to setUp: find it in the frame of the
    ``run`` or ``__call__`` that got it (what testresources does too).
    """
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name in ("run", "__call__"):
            result = frame.f_locals.get("result")
            if result is not None and hasattr(result, "startTest"):
                return result
        frame = frame.f_back
    return None
