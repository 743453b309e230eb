"""testresources' own test suite, run against rotest_core.testresources.

The files are upstream's (testing-cabal/testresources 2.1.2, tests/), dual
licensed BSD / Apache-2.0 (see COPYING, BSD, Apache-2.0 here), changed only
where they name the package: the imports (``testresources`` ->
``rotest_core.testresources``, ``testresources.tests`` -> this package), the
module path that three ``testId`` tests expect in ``id()``
(``rotest_core.testresources.X``), and upstream's ``test_suite()`` runner
glue, which pytest does not need.

Left out, each because it tests an internal of upstream's optimiser, which
rotest_core.order replaces (exact on small groups, bounded local search on
large ones), rather than the API:

- tests/test_resource_graph.py (``_resource_graph``: upstream's digraph
  helpers and Kruskal's spanning tree);
- TestCostGraph below (``OptimisingTestSuite._getGraph``, the graph upstream
  builds between resource sets).

The ordering tests themselves (TestGraphStuff: global minimum, dependencies
counted, resource-less tests last) run and pass.
"""
import pytest

LEFT_OUT = {
    "TestCostGraph": "upstream's internal cost graph (_getGraph); rotest_core.order "
                     "orders without it",
}


def pytest_collection_modifyitems(items):
    for item in items:
        reason = LEFT_OUT.get(getattr(item.cls, "__name__", ""))
        if reason is not None and "testresources_upstream" in item.nodeid:
            item.add_marker(pytest.mark.skip(reason=reason))
