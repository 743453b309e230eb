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
from typing import TYPE_CHECKING, Any, Sequence

from rotest_app.engine.lazy import lazy_attributes

from .case import TestCase, request
from .suite import TestSuite
from .version import version

if TYPE_CHECKING:
    from .block import TestBlock
    from .flow import TestFlow, create_flow
    from .flow_component import (MODE_CRITICAL, MODE_FINALLY, MODE_OPTIONAL, BlockInput,
                                 BlockOutput, Pipe)
    from .monitor import AbstractMonitor, AbstractResourceMonitor
    from .resources.base import BaseResource
    from .resources.request import ResourceRequest
    from .result import AbstractResultHandler

#: The rest of the API, imported when first used (see :mod:`.lazy`).
_lazy = lazy_attributes(__name__, {
    "TestBlock": ".block", "TestFlow": ".flow", "create_flow": ".flow",
    "MODE_CRITICAL": ".flow_component", "MODE_FINALLY": ".flow_component",
    "MODE_OPTIONAL": ".flow_component", "BlockInput": ".flow_component",
    "BlockOutput": ".flow_component", "Pipe": ".flow_component",
    "AbstractMonitor": ".monitor", "AbstractResourceMonitor": ".monitor",
    "BaseResource": ".resources.base", "ResourceRequest": ".resources.request",
    "AbstractResultHandler": ".result"})


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return version()
    return _lazy(name)


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
    # Lazy: the CLI (click) only for a module run as a script.
    from .cli import run_module
    run_module(sys._getframe(1).f_globals["__name__"], tests, argv)
