"""testresources' documented examples with the import changed only:
``import testresources`` became ``from rotest_core import testresources``.

One manager written as the documentation writes it (``make(self)``,
``isDirty(self, resource)``), one as testresources' code does
(``make(self, dependency_resources)``, ``isDirty(self)``), with a
dependency; the module hands its tests to an OptimisingTestSuite in
``load_tests``, as the documentation advises.
"""
import os
import shutil
import tempfile

from rotest_core import testresources

from .lab import record


class TemporaryDirectoryResource(testresources.TestResourceManager):
    """The documentation's form."""

    def clean(self, resource):
        record("clean", "tmpdir")
        shutil.rmtree(resource)

    def make(self):
        record("make", "tmpdir")
        return tempfile.mkdtemp()

    def isDirty(self, resource):
        # A directory may be written to unnoticed: never reuse one.
        return True


class Database:
    def __init__(self, folder):
        self.folder = folder
        self.rows = []


class DatabaseResource(testresources.TestResourceManager):
    """testresources' own signatures, with a dependency."""

    resources = [("folder", TemporaryDirectoryResource())]

    def make(self, dependency_resources):
        record("make", "database")
        return Database(dependency_resources["folder"])

    def clean(self, resource):
        record("clean", "database")

    def isDirty(self):
        return bool(self._currentResource.rows)


TMPDIR = TemporaryDirectoryResource()
DATABASE = DatabaseResource()


class TestTemporaryFiles(testresources.ResourcedTestCase):
    resources = [("tmpdir", TMPDIR)]

    def test_writes(self):
        with open(os.path.join(self.tmpdir, "a.txt"), "w") as stream:
            stream.write("a")
        self.assertEqual(os.listdir(self.tmpdir), ["a.txt"])

    def test_starts_empty(self):
        self.assertEqual(os.listdir(self.tmpdir), [])


class TestDatabase(testresources.ResourcedTestCase):
    resources = [("db", DATABASE)]

    def test_reads(self):
        self.assertEqual(self.db.rows, [])
        self.assertTrue(os.path.isdir(self.db.folder))

    def test_reads_again(self):
        self.assertEqual(self.db.rows, [])


def load_tests(loader, tests, pattern):
    return testresources.OptimisingTestSuite(tests)
