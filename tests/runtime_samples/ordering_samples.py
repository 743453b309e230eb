"""Sample runs for the ordering: rotest services declared in a bad order, and
testresources managers with a dependency, a test that dirties and a make
that raises. Every step goes to runtime_samples.lab's record (steps.log).
"""
from __future__ import annotations

from rotest_core import BaseResource, TestCase, TestSuite
from rotest_core.testresources import ResourcedTestCase, TestResourceManager

from runtime_samples.lab import record


# --- rotest resources: services, shared by the smart client when equal ----------

class Probe(BaseResource):
    """A service (never locked) that records its set-up and finalize."""

    setUpCost = 5

    def connect(self) -> None:
        super().connect()
        record("setup", f"{self.name}:{self.kind}")

    def finalize(self) -> None:
        super().finalize()
        record("finalize", f"{self.name}:{self.kind}")


def _ran(test: TestCase) -> None:
    record("ran", type(test).__name__)


class AlphaOne(TestCase):
    TAGS = ["first"]
    probe = Probe.request(kind="alpha")

    def test_it(self):
        _ran(self)


class BetaOne(TestCase):
    TAGS = ["first"]
    probe = Probe.request(kind="beta")

    def test_it(self):
        _ran(self)


class AlphaTwo(TestCase):
    probe = Probe.request(kind="alpha")

    def test_it(self):
        _ran(self)


class BetaTwo(TestCase):
    probe = Probe.request(kind="beta")

    def test_it(self):
        _ran(self)


class AlphaThree(TestCase):
    probe = Probe.request(kind="alpha")

    def test_it(self):
        _ran(self)


class BetaThree(TestCase):
    probe = Probe.request(kind="beta")

    def test_it(self):
        _ran(self)


class ProbeSuite(TestSuite):
    """Alternating requests: the declared order sets up at every test."""

    components = [AlphaOne, BetaOne, AlphaTwo, BetaTwo, AlphaThree, BetaThree]


# --- testresources managers ------------------------------------------------------

class Recorded(TestResourceManager):
    """Makes a dict named after the manager; records make, clean and reset."""

    label = ""

    def make(self, dependency_resources):
        record("make", self.label)
        return {"label": self.label, **dependency_resources}

    def clean(self, resource):
        record("clean", self.label)

    def _reset(self, resource, dependency_resources):
        record("reset", self.label)
        return {"label": self.label, **dependency_resources}


class DatabaseManager(Recorded):
    label = "database"


class ServerManager(Recorded):
    label = "server"
    resources = [("database", DatabaseManager())]


class BrokenManager(TestResourceManager):
    def make(self, dependency_resources):
        record("make", "broken")
        raise RuntimeError("the broken resource cannot be made")


SERVER = ServerManager()
BROKEN = BrokenManager()


class ReaderOne(ResourcedTestCase):
    resources = [("server", SERVER)]

    def test_reads(self):
        record("ran", "ReaderOne.test_reads")
        assert self.server["database"]["label"] == "database"

    def test_reads_again(self):
        record("ran", "ReaderOne.test_reads_again")


class Writer(ResourcedTestCase):
    resources = [("server", SERVER)]
    dirtiedResources = ["server"]

    def test_writes(self):
        record("ran", "Writer.test_writes")
        SERVER.dirtied(self.server)


class Broken(ResourcedTestCase):
    resources = [("broken", BROKEN)]

    def test_never_runs(self):
        record("ran", "Broken.test_never_runs")


class ReaderTwo(ResourcedTestCase):
    resources = [("server", SERVER)]

    def test_reads(self):
        record("ran", "ReaderTwo.test_reads")


class ManagedSuite(TestSuite):
    """In the declared order: a failed make, then share, dirty, reset."""

    components = [Broken, ReaderOne, Writer, ReaderTwo]
