"""testresources' API on rotest's runtime: a suite written for testresources
runs after changing one import::

    import testresources                      # before
    from rotest_core import testresources     # after

Managers (``TestResourceManager``, ``GenericResource``, ``FixtureResource``)
make a resource once and share it between the tests that use it while it is
clean; a dirtied one is reset before its next use; dependencies (a manager's
``resources``) are made before and cleaned after what needs them.
``OptimisingTestSuite`` orders its tests with :mod:`rotest_core.order`, which
is exact on small suites and counts reset costs, and holds resources between
tests. Differences from testresources, all where it leaked or crashed: a
failing make errors that test only and leaves nothing made; a failing setUp
still gives the test's resources back; dependencies' make/clean/reset events
reach the result too.
"""
from .cases import ResourcedTestCase, setUpResources, tearDownResources
from .managers import (FixtureResource, GenericResource, TestResource, TestResourceManager,
                       neededResources)
from .suite import OptimisingTestSuite, TestLoader, split_by_resources

__all__ = ["FixtureResource", "GenericResource", "OptimisingTestSuite", "ResourcedTestCase",
           "TestLoader", "TestResource", "TestResourceManager", "neededResources",
           "setUpResources", "split_by_resources", "tearDownResources"]
