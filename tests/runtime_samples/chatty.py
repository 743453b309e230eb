"""A case that logs at every level, for the log console handlers."""
from __future__ import annotations

from rotest_core import TestCase

from runtime_samples.outcomes import HOSTILE


class ChattyCase(TestCase):
    def test_logs(self):
        self.logger.debug("a debug line")
        self.logger.info("an info line")
        self.logger.warning("a warning line: %s", HOSTILE)

