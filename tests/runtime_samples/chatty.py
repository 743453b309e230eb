"""A case that logs at every level, for the log console handlers."""
from __future__ import annotations

from rotest_core import TestCase

from runtime_samples.outcomes import HOSTILE


class ChattyCase(TestCase):
    def test_logs(self):
        self.logger.debug("a debug line")
        self.logger.info("an info line")
        self.logger.warning("a warning line: %s", HOSTILE)


class BacktrackingCase(TestCase):
    """A failure whose text makes (a+)+$ backtrack for ever."""

    def test_many_as(self):
        self.fail("a" * 40 + "!")
