"""A test file that cannot be imported."""
from rotest_core import TestCase

import no_such_module_here  # noqa: F401


class NeverLoaded(TestCase):
    def test_never(self):
        pass
