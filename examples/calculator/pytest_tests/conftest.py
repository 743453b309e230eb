"""The calculator as pytest fixtures: the rotest plugin locks, sets up and
releases them as ``rotest run`` does for the TestCases of ``tests/``."""
from rotest_core.pytest_plugin import resource_fixture

from calculator_resources import Calculator

#: Any free calculator, locked and set up for each test that takes it.
calc = resource_fixture(Calculator.request())
#: calc1, kept for all the tests of a class (set up once for them).
calc1 = resource_fixture(Calculator.request(name="calc1"), scope="class")
