"""rotest_core.testresources: testresources' API and semantics, its error
paths, the result events, the optimising suite, and a port check against the
real testresources package."""
from __future__ import annotations

import unittest
from collections import Counter

import pytest

from rotest_core import testresources as tr
from rotest_core.order import Cost, Usage, total_cost

# --- helpers ---------------------------------------------------------------------


class Log(list):
    """What the managers did, in order: ("make", name), ("clean", name)..."""

    def times(self, what: str, name: str | None = None) -> int:
        return sum(1 for event in self if event[0] == what and (name is None or event[1] == name))


class Thing:
    """A resource: knows its name and whether it was cleaned."""

    def __init__(self, name: str, dependencies: dict) -> None:
        self.name, self.dependencies, self.cleaned = name, dependencies, False


class Managed(tr.TestResourceManager):
    """A manager that logs make, clean and _reset; may fail to make or clean."""

    def __init__(self, name: str, log: Log, depends=(), fail_make=False, fail_clean=False,
                 cheap_reset=False, setup=1, teardown=1) -> None:
        super().__init__()
        self.name, self.log = name, log
        self.resources = list(depends)
        self.fail_make, self.fail_clean, self.cheap_reset = fail_make, fail_clean, cheap_reset
        self.setUpCost, self.tearDownCost = setup, teardown

    def make(self, dependency_resources):
        self.log.append(("make", self.name))
        if self.fail_make:
            raise RuntimeError(f"cannot make {self.name}")
        return Thing(self.name, dict(dependency_resources))

    def clean(self, resource):
        self.log.append(("clean", self.name))
        resource.cleaned = True
        if self.fail_clean:
            raise RuntimeError(f"cannot clean {self.name}")

    def _reset(self, resource, dependency_resources):
        self.log.append(("reset", self.name))
        if self.cheap_reset:
            return resource
        return super()._reset(resource, dependency_resources)


class EventResult(unittest.TestResult):
    """A result with testresources' six extension methods."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, str]] = []

    def _record(what, when):  # noqa: N805 - a factory for the methods below
        def method(self, manager):
            self.calls.append((what, when, getattr(manager, "name", manager.id())))
        return method

    startMakeResource, stopMakeResource = _record("make", "start"), _record("make", "stop")
    startCleanResource, stopCleanResource = _record("clean", "start"), _record("clean", "stop")
    startResetResource, stopResetResource = _record("reset", "start"), _record("reset", "stop")
    del _record


def case(resources, body=None, dirties=(), name="test"):
    """A ResourcedTestCase instance using ``resources``; ``body(test)`` runs
    as the test; ``dirties`` names resources the test dirties (and declares)."""
    def test(self):
        for attribute in dirties:
            dict(resources)[attribute].dirtied(getattr(self, attribute))
        self.seen = {attribute: getattr(self, attribute) for attribute, _ in resources}
        if body:
            body(self)
    cls = type(name, (tr.ResourcedTestCase,),
               {"resources": list(resources), "dirtiedResources": list(dirties), name: test})
    return cls(name)


def run(tests, result=None):
    result = result or unittest.TestResult()
    tr.OptimisingTestSuite(tests).run(result)
    return result


def assert_nothing_held(*managers):
    for manager in managers:
        assert manager._uses == 0, manager.name
        assert manager._currentResource is None, manager.name


# --- sharing, resets, dependencies --------------------------------------------------

def test_a_clean_resource_is_shared_between_the_tests_using_it():
    log = Log()
    db = Managed("db", log)
    tests = [case([("db", db)]) for _ in range(3)]
    result = run(tests)
    assert result.wasSuccessful() and result.testsRun == 3
    assert log == [("make", "db"), ("clean", "db")]
    assert len({id(test.seen["db"]) for test in tests}) == 1
    assert_nothing_held(db)


def test_a_dirtied_resource_is_reset_before_its_next_use():
    log = Log()
    db = Managed("db", log)
    tests = [case([("db", db)], dirties=["db"]), case([("db", db)]), case([("db", db)])]
    run(tests)
    assert log == [("make", "db"), ("reset", "db"), ("clean", "db"), ("make", "db"),
                   ("clean", "db")]
    first, second, third = (test.seen["db"] for test in tests)
    assert first is not second and second is third and first.cleaned


def test_a_cheaper_reset_keeps_the_resource():
    log = Log()
    db = Managed("db", log, cheap_reset=True)
    tests = [case([("db", db)], dirties=["db"]), case([("db", db)])]
    run(tests)
    assert log == [("make", "db"), ("reset", "db"), ("clean", "db")]
    assert tests[0].seen["db"] is tests[1].seen["db"]


def test_dependencies_are_made_before_passed_to_make_and_cleaned_after():
    log = Log()
    disk = Managed("disk", log)
    db = Managed("db", log, depends=[("disk", disk)])
    web = Managed("web", log, depends=[("db", db)])
    test = case([("web", web)])
    run([test])
    assert log == [("make", "disk"), ("make", "db"), ("make", "web"),
                   ("clean", "web"), ("clean", "db"), ("clean", "disk")]
    made = test.seen["web"]
    assert made.dependencies["db"] is made.db
    assert made.db.dependencies["disk"] is made.db.disk
    assert web.neededResources() == [disk, db, web]
    assert_nothing_held(disk, db, web)


def test_a_dirty_dependency_dirties_what_depends_on_it():
    log = Log()
    disk = Managed("disk", log, cheap_reset=True)
    db = Managed("db", log, depends=[("disk", disk)])
    tests = [case([("db", db), ("disk", disk)], dirties=["disk"]), case([("db", db)])]
    run(tests)
    assert log.times("reset", "disk") == 1 and log.times("reset", "db") == 1
    assert log.times("make", "disk") == 1  # the cheap reset kept it
    assert tests[1].seen["db"].disk is tests[0].seen["disk"]


def test_get_and_finished_with_count_users():
    log = Log()
    db = Managed("db", log)
    first, second = db.getResource(), db.getResource()
    assert first is second and log == [("make", "db")]
    db.finishedWith(first)
    assert log == [("make", "db")] and not first.cleaned
    db.finishedWith(second)
    assert log == [("make", "db"), ("clean", "db")] and first.cleaned
    with pytest.raises(RuntimeError, match="finishedWith without a getResource"):
        db.finishedWith(first)


def test_is_dirty_and_dirtied():
    db = Managed("db", Log())
    resource = db.getResource()
    assert not db.isDirty()
    db.dirtied(resource)
    assert db.isDirty()
    assert db.reset(resource) is not resource and not db.isDirty()
    db.finishedWith(db._currentResource)


def test_resources_are_torn_down_at_the_end_of_the_suite_not_before():
    log = Log()
    db, web = Managed("db", log), Managed("web", log)
    seen_during = []
    tests = [case([("db", db)], body=lambda t: seen_during.append(list(log))),
             case([("db", db), ("web", web)]),
             case([("db", db)], body=lambda t: seen_during.append(list(log)))]
    run(tests)
    assert all(("clean", "db") not in snapshot for snapshot in seen_during)
    assert log[-1] == ("clean", "db") and log.times("make", "db") == 1
    assert_nothing_held(db, web)


def test_without_the_suite_each_test_makes_and_cleans():
    log = Log()
    db = Managed("db", log)
    result = unittest.TestResult()
    unittest.TestSuite([case([("db", db)]), case([("db", db)])]).run(result)
    assert result.wasSuccessful()
    assert log == [("make", "db"), ("clean", "db")] * 2


def test_test_resource_is_an_alias():
    assert tr.TestResource is tr.TestResourceManager
    with pytest.raises(NotImplementedError):
        tr.TestResourceManager().make({})


# --- error paths ----------------------------------------------------------------

def test_make_raising_errors_that_test_only_and_leaks_nothing():
    log = Log()
    disk = Managed("disk", log)
    broken = Managed("broken", log, depends=[("disk", disk)], fail_make=True)
    db = Managed("db", log)
    good_before, bad, good_after = case([("db", db)]), case([("broken", broken)]), \
        case([("db", db), ("disk", disk)])
    result = run([good_before, bad, good_after])
    assert result.testsRun == 3
    assert [test for test, _ in result.errors] == [bad]
    assert "cannot make broken" in result.errors[0][1]
    assert hasattr(good_before, "seen") and hasattr(good_after, "seen")
    assert not hasattr(bad, "seen")
    assert log.times("make", "broken") == 1
    for name in ("disk", "db"):
        assert log.times("make", name) == log.times("clean", name)
    assert_nothing_held(disk, broken, db)


def test_make_raising_in_set_up_gives_back_what_was_got():
    """No optimising suite: the test's own setUp gets the resources."""
    log = Log()
    db, broken = Managed("db", log), Managed("broken", log, fail_make=True)
    test = case([("db", db), ("broken", broken)])
    result = unittest.TestResult()
    test.run(result)
    assert [t for t, _ in result.errors] == [test]
    assert log == [("make", "db"), ("make", "broken"), ("clean", "db")]
    assert not hasattr(test, "db")
    assert_nothing_held(db, broken)


def test_a_failing_set_up_after_the_resources_still_gives_them_back():
    log = Log()
    db = Managed("db", log)

    class Failing(tr.ResourcedTestCase):
        resources = [("db", db)]

        def setUp(self):
            super().setUp()
            raise RuntimeError("setUp broke")

        def test(self):
            pass
    result = unittest.TestResult()
    Failing("test").run(result)
    assert len(result.errors) == 1
    assert log == [("make", "db"), ("clean", "db")]
    assert_nothing_held(db)


def test_clean_raising_is_reported_and_the_rest_is_released():
    log = Log()
    disk = Managed("disk", log)
    db = Managed("db", log, depends=[("disk", disk)], fail_clean=True)
    other = Managed("other", log)
    result = run([case([("db", db)]), case([("other", other)])])
    assert result.testsRun == 2
    assert [str(problem) for problem, _ in result.errors] == [f"clean {db.id()}"]
    assert log.times("clean", "disk") == 1 and log.times("clean", "other") == 1
    assert_nothing_held(disk, db, other)


def test_a_stopped_run_releases_everything():
    log = Log()
    db = Managed("db", log)
    tests = [case([("db", db)], body=lambda t: result.stop()), case([("db", db)])]
    result = unittest.TestResult()
    run(tests, result)
    assert result.testsRun == 1
    assert log == [("make", "db"), ("clean", "db")]
    assert_nothing_held(db)


# --- result events -----------------------------------------------------------------

def test_the_result_hears_make_reset_and_clean():
    log = Log()
    disk = Managed("disk", log)
    db = Managed("db", log, depends=[("disk", disk)])
    result = EventResult()
    run([case([("db", db)], dirties=["db"]), case([("db", db)])], result)
    # The suite gets the dependency first, and gives it back last.
    assert result.calls == [
        ("make", "start", "disk"), ("make", "stop", "disk"),
        ("make", "start", "db"), ("make", "stop", "db"),
        ("reset", "start", "db"), ("reset", "stop", "db"),
        ("clean", "start", "db"), ("clean", "stop", "db"),
        ("clean", "start", "disk"), ("clean", "stop", "disk")]


def test_dependencies_events_nest_in_their_dependents():
    log = Log()
    disk = Managed("disk", log)
    db = Managed("db", log, depends=[("disk", disk)])
    result = EventResult()
    db.finishedWith(db.getResource(result), result)
    assert result.calls == [
        ("make", "start", "db"), ("make", "start", "disk"), ("make", "stop", "disk"),
        ("make", "stop", "db"),
        ("clean", "start", "db"), ("clean", "start", "disk"), ("clean", "stop", "disk"),
        ("clean", "stop", "db")]


def test_a_failed_make_still_stops_its_event():
    result = EventResult()
    run([case([("broken", Managed("broken", Log(), fail_make=True))])], result)
    assert result.calls == [("make", "start", "broken"), ("make", "stop", "broken")]


def test_a_result_without_the_events_is_fine():
    class Bare:
        shouldStop = False

        def __getattr__(self, name):
            if name.endswith("Resource"):
                raise AttributeError(name)
            return lambda *args: None
    db = Managed("db", Log())
    resource = db.getResource(Bare())
    db.finishedWith(resource, Bare())
    assert_nothing_held(db)


# --- the adapters -----------------------------------------------------------------

def test_generic_resource_sets_up_tears_down_and_remakes_between_uses():
    made = []

    class Server:
        def __init__(self, **dependencies):
            self.dependencies, self.state = dependencies, "new"
            made.append(self)

        def start(self):
            self.state = "up"

        def stop(self):
            self.state = "down"
    server = tr.GenericResource(Server, setup_method_name="start", teardown_method_name="stop")
    tests = [case([("server", server)]) for _ in range(2)]
    assert run(tests).wasSuccessful()
    assert [s.state for s in made] == ["down", "down"]
    assert tests[0].seen["server"] is made[0] and tests[1].seen["server"] is made[1]
    assert server.id().endswith("GenericResource[Server]")


def test_fixture_resource_sets_up_resets_between_uses_and_cleans_up():
    fixtures = pytest.importorskip("fixtures")
    calls = Counter()

    class Counting(fixtures.Fixture):
        def _setUp(self):
            calls["setUp"] += 1
            self.addCleanup(calls.update, ["cleanUp"])

        def reset(self):
            calls["reset"] += 1
            super().reset()
    fixture = tr.FixtureResource(Counting())
    tests = [case([("fix", fixture)]) for _ in range(3)]
    assert run(tests).wasSuccessful()
    assert all(test.seen["fix"] is fixture.fixture for test in tests)
    assert calls["reset"] == 2  # between the uses; fixtures' reset is cleanUp + setUp
    assert calls["setUp"] == calls["cleanUp"] == 3
    assert fixture._uses == 0


# --- the suite and the loader --------------------------------------------------------

def test_add_test_flattens_suites_and_distributes_custom_ones():
    class Custom(unittest.TestSuite):
        pass
    a, b, c, d = (case([], name=f"test_{x}") for x in "abcd")
    suite = tr.OptimisingTestSuite()
    suite.addTest(unittest.TestSuite([a, unittest.TestSuite([b])]))
    suite.addTests([Custom([c, d])])
    tests = list(suite)
    assert tests[:2] == [a, b]
    assert [type(t) for t in tests[2:]] == [Custom, Custom]
    assert [list(t) for t in tests[2:]] == [[c], [d]]
    assert suite.countTestCases() == 4


def test_loader_makes_optimising_suites():
    class Cases(tr.ResourcedTestCase):
        def test_one(self):
            pass
    suite = tr.TestLoader().loadTestsFromTestCase(Cases)
    assert isinstance(suite, tr.OptimisingTestSuite)


def test_the_suite_groups_interleaved_tests_and_makes_less_than_plain_unittest():
    log = Log()
    db, web = Managed("db", log, setup=10), Managed("web", log, setup=10)
    interleaved = [case([("db", db)]), case([("web", web)])] * 3
    unittest.TestSuite(interleaved).run(unittest.TestResult())
    plain = log.times("make")
    log.clear()
    run(interleaved)
    assert log.times("make") == 2 < plain


def test_the_order_is_deterministic_and_stable():
    log = Log()
    managers = [Managed(f"r{i}", log, setup=i + 1) for i in range(4)]
    tests = [case([(f"r{i % 4}", managers[i % 4]), (f"r{(i * 3) % 4}", managers[(i * 3) % 4])],
                  name=f"test_{i}") for i in range(24)]
    orders = []
    for _ in range(2):
        suite = tr.OptimisingTestSuite(tests)
        suite.sortTests()
        orders.append(list(suite))
    assert orders[0] == orders[1]
    position = {id(t): i for i, t in enumerate(orders[0])}
    by_set: dict[frozenset, list[int]] = {}
    for test in tests:  # input order
        key = frozenset(id(m) for _, m in test.resources)
        by_set.setdefault(key, []).append(position[id(test)])
    assert all(positions == sorted(positions) for positions in by_set.values())


def test_what_the_optimiser_prices_is_what_the_run_costs():
    """Price the run from the log (make = setUpCost, clean = tearDownCost; a
    default reset logs a clean and a make) and by rotest_core.order's model:
    equal."""
    log = Log()
    disk = Managed("disk", log, setup=3, teardown=1)
    db = Managed("db", log, depends=[("disk", disk)], setup=20, teardown=5)
    web = Managed("web", log, setup=7, teardown=2)
    managers = {m.name: m for m in (disk, db, web)}
    shapes = [[("db", db)], [("web", web)], [("db", db), ("web", web)], [("disk", disk)]]
    tests = [case(shapes[i % 4], dirties=["db"] if i % 4 in (0, 2) and i % 3 else [])
             for i in range(16)]
    suite = tr.OptimisingTestSuite(tests)
    suite.sortTests()
    ran = list(suite)
    assert suite.run(unittest.TestResult()).wasSuccessful()
    paid = sum(managers[name].setUpCost if what == "make" else managers[name].tearDownCost
               for what, name in log if what != "reset")
    index = {name: i for i, name in enumerate(managers)}

    def usage(test):
        needs = {index[m.name] for m in tr.neededResources([m for _, m in test.resources])}
        return Usage(frozenset(needs), frozenset(index[name] for name in test.dirtiedResources))
    costs = {index[m.name]: Cost(m.setUpCost, m.tearDownCost) for m in managers.values()}
    assert paid == total_cost([usage(t) for t in ran], costs)
    assert log.times("reset") > 0


def test_the_suite_counts_always_dirty_resources_and_reset_costs():
    """An always-dirty resource with a dear reset: tests that need it are not
    run next to each other when something else can go between."""
    log = Log()
    cheap = Managed("cheap", log, setup=1, teardown=1)
    dear = Managed("dear", log, setup=1, teardown=1)
    dear.alwaysDirty, dear.resetCost = True, 50
    tests = [case([("dear", dear)]), case([("dear", dear)]), case([("cheap", cheap)])]
    suite = tr.OptimisingTestSuite(tests)
    suite.sortTests()
    assert list(suite)[1] is tests[2]


# --- porting: a suite written for the real testresources -------------------------

PORTED_SUITE = '''
import unittest

import fixtures
import testresources

LOG = []


class Disk(testresources.TestResourceManager):
    setUpCost = 5

    def make(self, dependency_resources):
        LOG.append("make disk")
        return {"files": []}

    def clean(self, resource):
        LOG.append("clean disk")


class Database(testresources.TestResourceManager):
    setUpCost = 20
    resources = [("disk", Disk())]

    def make(self, dependency_resources):
        LOG.append("make db")
        return type("Db", (), {"rows": [], "disk_seen": dependency_resources["disk"]})()

    def clean(self, resource):
        LOG.append("clean db")


class Web(testresources.TestResourceManager):
    def make(self, dependency_resources):
        LOG.append("make web")
        return ["web"]


DISK, DB, WEB = Disk(), Database(), Web()


class DbTests(testresources.ResourcedTestCase):
    resources = [("db", DB)]

    def test_a_insert(self):
        self.db.rows.append(1)
        DB.dirtied(self.db)

    def test_empty(self):
        self.assertEqual(self.db.rows, [])

    def test_fails(self):
        self.assertEqual(1, 2)

    def test_disk_is_shared(self):
        self.assertIs(self.db.disk, self.db.disk_seen)


class WebTests(testresources.ResourcedTestCase):
    resources = [("web", WEB), ("disk", DISK)]

    def test_web(self):
        self.assertEqual(self.web, ["web"])

    def test_errors(self):
        raise KeyError("boom")


class MoreDbTests(testresources.ResourcedTestCase):
    resources = [("db", DB), ("web", WEB)]

    def test_both(self):
        self.assertEqual(self.db.rows, [])


class Scratch(fixtures.Fixture):
    def _setUp(self):
        LOG.append("make scratch")
        self.addCleanup(LOG.append, "clean scratch")


SCRATCH = testresources.FixtureResource(Scratch())


class ScratchTests(testresources.ResourcedTestCase):
    resources = [("scratch", SCRATCH)]

    def test_one(self):
        self.assertIsInstance(self.scratch, Scratch)

    def test_two(self):
        pass


def load_tests(loader, tests, pattern):
    return testresources.OptimisingTestSuite(tests)
'''


def _run_ported(source: str):
    namespace: dict = {"__name__": "ported"}
    exec(compile(source, "ported.py", "exec"), namespace)
    loader = unittest.TestLoader()
    tests = unittest.TestSuite(loader.loadTestsFromTestCase(namespace[name])
                               for name in ("DbTests", "WebTests", "MoreDbTests", "ScratchTests"))
    suite = namespace["load_tests"](loader, tests, None)
    result = unittest.TestResult()
    suite.run(result)
    outcomes = {test.id().split(".")[-1]: kind
                for kind, pairs in (("error", result.errors), ("failure", result.failures))
                for test, _ in pairs}
    return result.testsRun, outcomes, Counter(namespace["LOG"])


def test_a_suite_written_for_testresources_runs_unchanged_under_ours():
    pytest.importorskip("testresources")
    pytest.importorskip("fixtures")
    theirs = _run_ported(PORTED_SUITE)
    ours = _run_ported(PORTED_SUITE.replace("import testresources",
                                            "from rotest_core import testresources"))
    assert ours[:2] == theirs[:2] == (9, {"test_fails": "failure", "test_errors": "error"})
    our_log, their_log = ours[2], theirs[2]
    for event in set(our_log) | set(their_log):
        if event.startswith("make"):
            assert our_log[event] <= their_log[event], event
    # testresources resets a fixture it has just set up; we do not.
    assert our_log["make scratch"] < their_log["make scratch"]
    for name in ("disk", "db", "scratch"):  # everything made is cleaned
        assert our_log[f"make {name}"] == our_log[f"clean {name}"]
