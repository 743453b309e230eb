"""Plain unittest and testresources suites under ``rotest run`` (issue 18,
items 2 and 3): a team's existing modules, unchanged but for testresources'
import, run by the real console entry in a subprocess."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rotest_core import testresources
from runtime_samples.fixtures import ROTEST, SAMPLES, cli_env, sample_dir, workdir  # noqa: F401


@pytest.fixture
def rotest(workdir, sample_dir, tmp_path):
    """``rotest run ARGS`` in a subprocess; returns the CompletedProcess."""
    def invoke(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*ROTEST, "run", *args], env=cli_env(workdir, sample_dir),
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
    return invoke


def steps(sample_dir: Path) -> list[str]:
    log = sample_dir / "steps.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_plain_unittest_module_runs_with_rotests_runner_and_reports(rotest, workdir):
    process = rotest(str(SAMPLES / "plain_unittest.py"), "-o", "tree,junit")
    assert process.returncode == 1, process.stdout + process.stderr
    out = process.stdout
    for line in ("  ArithmeticTest.test_add ... OK", "  ArithmeticTest.test_subtract ... OK",
                 "  ArithmeticTest.test_wrong ... FAIL", "  ArithmeticTest.test_skipped ... SKIP",
                 "  ArithmeticTest.test_known_bug ... EXPECTED FAILURE"):
        assert line in out, out
    assert "two times two" in out and "NotATest" not in out
    assert "FAILED (failures=1, skipped=1, expected failures=1)" in out
    (run_dir,) = (workdir / "runs").iterdir()
    junit = (run_dir / "junit.xml").read_text()
    assert 'tests="5"' in junit and 'failures="1"' in junit


def test_filters_and_listing_apply_to_plain_tests(rotest):
    process = rotest(str(SAMPLES / "plain_unittest.py"), "-f", "test_add or test_subtract")
    assert process.returncode == 0, process.stdout + process.stderr
    assert "Ran 2 tests" in process.stdout


def test_load_tests_chooses_the_tests_and_their_order(rotest):
    process = rotest(str(SAMPLES / "load_tests_sample.py"), "-l")
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines() == [
        "AllTests", "  load_tests_sample", "    Chosen.test_b", "    Chosen.test_a"]
    process = rotest(str(SAMPLES / "load_tests_sample.py"))
    assert process.returncode == 0, process.stdout + process.stderr
    assert "Ran 2 tests" in process.stdout


def test_a_load_tests_that_fails_is_an_error_of_its_file(rotest, tmp_path):
    broken = tmp_path / "test_broken_loader.py"
    broken.write_text("def load_tests(loader, tests, pattern):\n"
                      "    raise ValueError('no lab today')\n")
    process = rotest(str(broken))
    assert process.returncode == 2
    assert "ValueError: no lab today" in process.stderr and "Traceback" not in process.stderr


def test_testresources_documented_example_runs_under_rotest_run(rotest, sample_dir):
    process = rotest(str(SAMPLES / "testresources_docs.py"))
    assert process.returncode == 0, process.stdout + process.stderr
    assert "Ran 4 tests" in process.stdout
    # The documented manager is always dirty: remade for its second test;
    # the database (upstream signatures) is shared by its two tests.
    assert "resources: 3 made, 1 reset, 3 cleaned" in process.stdout
    assert steps(sample_dir).count("make database") == 1
    assert steps(sample_dir).count("make tmpdir") == 3  # 2 for its tests, 1 for the database


# ---------------------------------------------------------------------------
# issue 18.3: the documentation's signatures and the code's, in process
# ---------------------------------------------------------------------------

class Documented(testresources.TestResourceManager):
    """isDirty(self, resource), make(self), clean(self, resource)."""

    def __init__(self):
        super().__init__()
        self.made = self.cleaned = 0

    def make(self):
        self.made += 1
        return {"rows": []}

    def clean(self, resource):
        self.cleaned += 1

    def isDirty(self, resource):
        return bool(resource["rows"])


class CheapReset(Documented):
    """_reset(self, resource): the resource only, no dependencies."""

    def _reset(self, resource):
        resource["rows"].clear()
        return resource


def test_documented_signatures_are_called_with_what_they_take():
    manager = Documented()
    first = manager.getResource()
    manager.finishedWith(first)
    assert (manager.made, manager.cleaned) == (1, 1)
    held = manager.getResource()
    again = manager.getResource()  # clean: shared
    assert again is held and manager.made == 2
    held["rows"].append(1)  # isDirty(resource) sees it
    third = manager.getResource()
    assert third is not held and (manager.made, manager.cleaned) == (3, 2)


def test_a_reset_taking_the_resource_only():
    manager = CheapReset()
    resource = manager.getResource()
    resource["rows"].append(1)
    assert manager.getResource() is resource and resource["rows"] == []
    assert manager.made == 1
