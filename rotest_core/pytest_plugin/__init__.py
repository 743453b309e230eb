"""rotest's pytest plugin: plain pytest tests lock lab resources too.

Registered under the ``pytest11`` entry point as ``rotest`` (``-p no:rotest``
turns it off). It does nothing, and costs nothing, until a test uses one of
its fixtures or a ``--rotest-*`` option is given::

    # conftest.py
    from rotest_core.pytest_plugin import resource_fixture
    from mylab.resources import Calculator

    calc = resource_fixture(Calculator.request())

    # test_calc.py
    def test_add(calc):
        assert calc.calculate("1 + 2") == 3

Resources are locked through the same embedded or remote client, settings
(``rotest.yml``, ``ROTEST_*``, ``--rotest-host``...) and lifecycle as
``rotest run``: connect, validate, initialize; finalize and release after
their pytest scope, dirty after a test that failed with them. See
:mod:`.fixtures` (the fixtures), :mod:`.hooks` (options, markers, outcomes)
and :mod:`.reporting` (``--rotest-report``).
"""
from .fixtures import manager_fixture, resource_fixture, rotest_lock
from .hooks import pytest_addoption, pytest_collection_modifyitems, pytest_configure

__all__ = ["manager_fixture", "resource_fixture", "rotest_lock", "pytest_addoption",
           "pytest_collection_modifyitems", "pytest_configure"]
