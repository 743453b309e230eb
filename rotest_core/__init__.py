"""Rotest's client runtime: resources, test cases, runner and results.

Users' tests import it; it talks to the lock server, or to an embedded
database when no server is configured. Code written for Rotest ports by
changing its imports::

    from rotest_core import BaseResource, TestCase, TestSuite, main, request
    from rotest_core import TestBlock, TestFlow, BlockInput, BlockOutput, Pipe

(or ``rotest_core.flow`` / ``rotest_core.block`` / ``rotest_core.flow_component``,
as Rotest's ``rotest.core.flow``...).
"""
from __future__ import annotations

import sys
from typing import Any, Sequence

from .block import TestBlock
from .case import TestCase, request
from .flow import TestFlow, create_flow
from .flow_component import (MODE_CRITICAL, MODE_FINALLY, MODE_OPTIONAL, BlockInput,
                             BlockOutput, Pipe)
from .monitor import AbstractMonitor, AbstractResourceMonitor
from .resources.base import BaseResource
from .resources.request import ResourceRequest
from .result import AbstractResultHandler
from .suite import TestSuite


def __getattr__(name: str) -> Any:
    # importlib.metadata costs ~20 ms to import: only --version needs it.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("rotest-flask")
        except PackageNotFoundError:  # a source tree that is not installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AbstractMonitor", "AbstractResourceMonitor", "AbstractResultHandler",
           "BaseResource", "BlockInput", "BlockOutput", "MODE_CRITICAL", "MODE_FINALLY",
           "MODE_OPTIONAL", "Pipe", "ResourceRequest", "TestBlock", "TestCase", "TestFlow",
           "TestSuite", "__version__", "create_flow", "main", "request"]


def main(*tests: type, argv: Sequence[str] | None = None) -> None:
    """Run the TestCases and TestSuites of the calling module (or ``tests``)
    with ``rotest run``'s options from the command line, then exit::

        if __name__ == "__main__":
            main()
    """
    from .cli import run_module
    run_module(sys._getframe(1).f_globals["__name__"], tests, argv)
