"""Rotest's client runtime: resources, test cases, runner and results.

Users' tests import it; it talks to the lock server, or to an embedded
database when no server is configured. Code written for Rotest ports by
changing its imports::

    from rotest_core import BaseResource, TestCase, TestSuite, main, request
"""
from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Sequence

try:
    __version__ = version("rotest-flask")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .case import TestCase, request  # noqa: E402 - after __version__, which cli imports
from .resources.base import BaseResource  # noqa: E402
from .resources.request import ResourceRequest  # noqa: E402
from .result import AbstractResultHandler  # noqa: E402
from .suite import TestSuite  # noqa: E402

__all__ = ["AbstractResultHandler", "BaseResource", "ResourceRequest", "TestCase",
           "TestSuite", "__version__", "main", "request"]


def main(*tests: type, argv: Sequence[str] | None = None) -> None:
    """Run the TestCases and TestSuites of the calling module (or ``tests``)
    with ``rotest run``'s options from the command line, then exit::

        if __name__ == "__main__":
            main()
    """
    from .cli import run_module
    run_module(sys._getframe(1).f_globals["__name__"], tests, argv)
