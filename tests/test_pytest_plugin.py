"""The pytest plugin (rotest_core.pytest_plugin): plain pytest tests lock lab
resources through the same clients, lifecycle, settings and reports as
``rotest run``.

Each test runs pytest in a subprocess on small sample files, against the
embedded database of the ``lab`` fixture (dev1, dev2) and, where the client
matters, against the lock server over HTTP.
"""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests

from api_helpers import add_user, case_outcomes
from engine_helpers import Lab
from lab_plugin import DeviceData
from rotest_core.store import EmbeddedClient, RemoteClient
from server_process import ROOT, GunicornServer, server_env

from runtime_samples.fixtures import cli_env, lab, sample_dir, server, workdir  # noqa: F401

CONFTEST = '''
from rotest_core.pytest_plugin import manager_fixture, resource_fixture
from rotest_core.testresources import TestResourceManager
from runtime_samples.lab import Device, record

dev1 = resource_fixture(Device.request(name="dev1"))
dev2 = resource_fixture(Device.request(name="dev2"))
dev1_module = resource_fixture(Device.request(name="dev1"), scope="module")
pair = resource_fixture(a=Device.request(), b=Device.request())


class Counter(TestResourceManager):
    def make(self, dependencies):
        record("make", "counter")
        return {"uses": 0}

    def clean(self, resource):
        record("clean", "counter")

    def _reset(self, resource, dependencies):
        record("reset", "counter")
        return {"uses": 0}


counter = manager_fixture(Counter(), scope="module")
'''


@pytest.fixture(params=["embedded", "remote"])
def mode(request, lab) -> list[str]:
    """The plugin's options for the embedded client, then for the server."""
    if request.param == "embedded":
        return []
    http, token = request.getfixturevalue("server")
    return ["--rotest-host", "127.0.0.1", "--rotest-port", str(http.port),
            "--rotest-token", token]


def write_suite(tmp_path: Path, files: dict[str, str], conftest: str = CONFTEST) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    (suite / "conftest.py").write_text(conftest)
    for name, text in files.items():
        (suite / name).write_text(text)
    return suite


def pytest_command(suite: Path, *args: str, autoload: bool = False) -> list[str]:
    """pytest on ``suite``; with only the rotest and xdist plugins unless
    ``autoload`` (the others installed here take seconds to import)."""
    plugins = [] if autoload else ["-p", "rotest", "-p", "xdist"]
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugins, "-q",
            "-rA", str(suite), *args]


def pytest_env(workdir: Path, sample_dir: Path, autoload: bool = False) -> dict[str, str]:
    env = cli_env(workdir, sample_dir)
    if not autoload:  # -p names the plugins (rotest by its entry point's name)
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def run_pytest(tmp_path: Path, workdir: Path, sample_dir: Path, files: dict[str, str],
               *args: str, conftest: str = CONFTEST, autoload: bool = False
               ) -> subprocess.CompletedProcess:
    suite = write_suite(tmp_path, files, conftest)
    return subprocess.run(pytest_command(suite, *args, autoload=autoload), cwd=tmp_path,
                          env=pytest_env(workdir, sample_dir, autoload), capture_output=True,
                          text=True, timeout=180)


def steps(sample_dir: Path) -> list[str]:
    log = sample_dir / "steps.log"
    return log.read_text().splitlines() if log.exists() else []


def held(lab) -> set[str]:
    return {name for name, session in lab.holders().items() if session is not None}


def lock_soon(lab, name: str, mode: list[str] = (), within: float = 20.0) -> float:
    """Lock ``name`` in this process (waiting up to ``within`` s), release it;
    the seconds it took. ``mode``: the plugin's options for a server, if any."""
    options = dict(zip(mode[::2], mode[1::2]))
    client = (RemoteClient(f"http://127.0.0.1:{options['--rotest-port']}",
                               options["--rotest-token"]) if options
              else EmbeddedClient(lab.url))
    started = time.monotonic()
    try:
        client.open()
        client.lock([{"type": "DeviceData", "properties": {"name": name}}], timeout=within)
        return time.monotonic() - started
    finally:
        client.close()


# ---------------------------------------------------------------------------
# The lifecycle, reuse by scope, dirty after a failure
# ---------------------------------------------------------------------------

def test_a_module_scoped_resource_is_kept_and_set_up_afresh_after_a_failure(
        tmp_path, workdir, sample_dir, lab, mode):
    files = {"test_a.py": "def test_first(dev1_module):\n    assert dev1_module.name == 'dev1'\n"
                          "def test_fails(dev1_module):\n    assert False, 'broken'\n"
                          "def test_after(dev1_module):\n    pass\n",
             "test_b.py": "def test_other_module(dev1_module):\n    pass\n"}
    done = run_pytest(tmp_path, workdir, sample_dir, files, "--rotest-skip-init", *mode)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 3 passed" in done.stdout
    assert steps(sample_dir) == [
        "connect dev1",                      # test_first: locked, no init (-S)
        "finalize dev1",                     # test_fails failed: released dirty at once
        "connect dev1", "initialize dev1",   # test_after: dirty, so initialized even with -S
        "finalize dev1",                     # the module ends
        "connect dev1", "finalize dev1"]     # test_b: clean again, -S skips init
    assert "kept from suite/test_a.py::test_first (module scope)" in done.stdout
    assert held(lab) == set() and lab.row("dev1")["dirty"] is False


def test_function_scoped_resources_are_set_up_per_test_and_released_dirty_on_failure(
        tmp_path, workdir, sample_dir, lab):
    files = {"test_f.py": "def test_ok(dev1):\n    pass\n"
                          "def test_fails(dev2):\n    raise RuntimeError('cable cut')\n"}
    done = run_pytest(tmp_path, workdir, sample_dir, files)
    assert done.returncode == 1, done.stdout + done.stderr
    assert steps(sample_dir) == ["connect dev1", "initialize dev1", "finalize dev1",
                                 "connect dev2", "initialize dev2", "finalize dev2"]
    assert lab.row("dev1")["dirty"] is False and lab.row("dev2")["dirty"] is True
    assert held(lab) == set()


def test_the_fixtures_of_one_scope_are_locked_all_or_nothing(tmp_path, workdir, sample_dir,
                                                            lab):
    other = EmbeddedClient(lab.url)  # another user holds dev2
    other.open()
    other.lock([{"type": "DeviceData", "properties": {"name": "dev2"}}], timeout=5)
    files = {"test_both.py": "def test_both(dev1, dev2):\n    pass\n"
                             "def test_pair(pair):\n"
                             "    assert {pair.a.name, pair.b.name} == {'dev1', 'dev2'}\n"}
    try:
        done = run_pytest(tmp_path, workdir, sample_dir, files, "--rotest-timeout", "0")
    finally:
        other.close()
    assert done.returncode == 1
    assert "2 errors" in done.stdout and "ResourceUnavailableError" in done.stdout
    # dev1 was free, yet never locked alone: one request for both, refused.
    assert steps(sample_dir) == [] and held(lab) == set()
    done = run_pytest(tmp_path, workdir, sample_dir, files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "waited" in done.stdout and "for the lock" in done.stdout


def test_rotest_lock_in_a_test_and_the_state_of_a_failure(tmp_path, workdir, sample_dir, lab):
    files = {"test_lock.py": "from runtime_samples.lab import Device\n"
                             "def test_locks(rotest_lock):\n"
                             "    dev = rotest_lock(Device.request(name='dev2'))\n"
                             "    both = rotest_lock(x=Device.request(name='dev1'))\n"
                             "    assert (dev.name, both.x.name) == ('dev2', 'dev1')\n"
                             "    assert False, 'fails holding both'\n"}
    done = run_pytest(tmp_path, workdir, sample_dir, files, "--rotest-save-state")
    assert done.returncode == 1
    assert "fails holding both" in done.stdout
    assert sorted(s for s in steps(sample_dir) if s.startswith("store_state")) == [
        "store_state dev1", "store_state dev2"]
    state = sorted(workdir.glob("runs/*/*/state/*/device.txt"))
    assert [p.read_text() for p in state] == ["dev2 was here\n", "dev1 was here\n"]
    assert lab.row("dev1")["dirty"] is True and lab.row("dev2")["dirty"] is True
    assert held(lab) == set()


def test_a_testresources_manager_as_a_fixture(tmp_path, workdir, sample_dir, lab):
    files = {"test_m.py": "def test_one(counter):\n    counter['uses'] += 1\n"
                          "def test_two(counter):\n    assert counter['uses'] == 1\n"
                          "    assert False\n"
                          "def test_three(counter):\n    assert counter['uses'] == 0\n"}
    done = run_pytest(tmp_path, workdir, sample_dir, files)
    assert "1 failed, 2 passed" in done.stdout, done.stdout
    # Shared by the module, reset after the test that failed with it.
    assert steps(sample_dir) == ["make counter", "reset counter", "clean counter"]
    assert not (workdir / "runs").exists()  # no lock session was needed for it


# ---------------------------------------------------------------------------
# Markers, and a plugin that stays out of the way
# ---------------------------------------------------------------------------

def test_markers_select_tests_by_their_resources(tmp_path, workdir, sample_dir, lab):
    files = {"test_sel.py": "def test_one(dev1):\n    pass\n"
                            "def test_two(dev2):\n    pass\n"
                            "def test_pair(pair):\n    pass\n"
                            "def test_none():\n    pass\n"}

    def selected(*args: str) -> list[str]:
        done = run_pytest(tmp_path, workdir, sample_dir, files, "--collect-only",
                          "--strict-markers", *args)
        assert "error" not in done.stdout.lower(), done.stdout
        return [line.split("::")[1] for line in done.stdout.splitlines() if "::" in line]

    assert selected("-m", "dev2") == ["test_two"]
    assert selected("-m", "rotest and not pair", "-k", "DeviceData and not dev1") == [
        "test_two"]
    assert selected("-m", "not rotest") == ["test_none"]


def test_the_plugin_is_inert_until_a_test_uses_it(tmp_path, workdir, sample_dir):
    conftest = ("import sys\n"
                "def pytest_sessionfinish(session):\n"
                "    heavy = [m for m in ('sqlalchemy', 'flask', 'reports',\n"
                "                         'rotest_core.resources.manager') if m in sys.modules]\n"
                "    print('HEAVY', heavy)\n"
                "    print('LOADED', session.config.pluginmanager.has_plugin('rotest'))\n")
    files = {"test_plain.py": "def test_plain():\n    pass\n"}
    # Installed, the plugin loads itself (the pytest11 entry point).
    done = run_pytest(tmp_path, workdir, sample_dir, files, "-s", conftest=conftest,
                      autoload=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOADED True" in done.stdout
    assert "HEAVY []" in done.stdout  # no database, client or report was loaded
    assert not workdir.exists()  # no run directory, no database
    # -p no:rotest turns it off: its fixtures say so instead of locking.
    files = {"test_off.py": "def test_off(dev1):\n    pass\n"}
    done = run_pytest(tmp_path, workdir, sample_dir, files, "-p", "no:rotest",
                      autoload=True)
    assert "the rotest pytest plugin is off" in done.stdout
    assert not workdir.exists()


# ---------------------------------------------------------------------------
# Nothing stays locked: Ctrl-C, a killed pytest, a dead xdist worker
# ---------------------------------------------------------------------------

HOLDS = ("import time, pathlib, os\n"
         "def test_holds(dev1):\n"
         "    pathlib.Path(os.environ['ROTEST_SAMPLE_DIR'], 'holding').write_text('yes')\n"
         "    time.sleep(60)\n")


def start_holding(tmp_path, workdir, sample_dir, mode) -> subprocess.Popen:
    suite = write_suite(tmp_path, {"test_hold.py": HOLDS})
    process = subprocess.Popen(pytest_command(suite, *mode), cwd=tmp_path,
                               env=pytest_env(workdir, sample_dir), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (sample_dir / "holding").exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the sample test never started"
        time.sleep(0.05)
    return process


def test_ctrl_c_releases_the_resources_dirty(tmp_path, workdir, sample_dir, lab, mode):
    process = start_holding(tmp_path, workdir, sample_dir, mode)
    assert held(lab) == {"dev1"}
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output  # pytest: interrupted
    assert "KeyboardInterrupt" in output
    assert held(lab) == set()  # at once, not after a lease
    assert lab.row("dev1")["dirty"] is True
    assert steps(sample_dir)[-1] == "finalize dev1"


def test_a_killed_pytest_leaves_nothing_locked(tmp_path, workdir, sample_dir, lab, mode):
    process = start_holding(tmp_path, workdir, sample_dir, mode)
    process.kill()
    process.communicate(timeout=30)
    # The dead process's session ends (its presence is gone): dev1 is free.
    assert lock_soon(lab, "dev1", mode) < 15
    assert lab.row("dev1")["dirty"] is True


# ---------------------------------------------------------------------------
# pytest-xdist and the reports
# ---------------------------------------------------------------------------

XDIST = ("import os, time, pathlib\n"
         "import pytest\n"
         "@pytest.mark.parametrize('n', range(6))\n"
         "def test_dev1(dev1, n):\n"
         "    log = pathlib.Path(os.environ['ROTEST_SAMPLE_DIR'], 'spans.log')\n"
         "    start = time.time()\n"
         "    time.sleep(0.2)\n"
         "    with open(log, 'a') as f:\n"
         "        f.write(f'{os.getpid()} {start} {time.time()}\\n')\n"
         "def test_worker_dies(dev2):\n"
         "    os._exit(3)\n")


def test_two_xdist_workers_share_the_lab_without_overlap(tmp_path, workdir, sample_dir, lab,
                                                        mode):
    done = run_pytest(tmp_path, workdir, sample_dir, {"test_x.py": XDIST}, "-n", "2",
                      "--rotest-timeout", "60",
                      "--rotest-report", "junit,html", *mode)
    assert "6 passed" in done.stdout and "1 failed" in done.stdout, done.stdout + done.stderr
    spans = [line.split() for line in (sample_dir / "spans.log").read_text().splitlines()]
    assert len(spans) == 6 and len({pid for pid, *_ in spans}) == 2
    ordered = sorted((float(start), float(end)) for _, start, end in spans)
    # dev1 was held by one worker at a time.
    assert all(end <= next_start for (_, end), (next_start, _) in zip(ordered, ordered[1:]))
    # The dead worker's dev2 is free again, and dirty.
    assert lock_soon(lab, "dev2", mode) < 15
    assert held(lab) == set() and lab.row("dev2")["dirty"] is True
    runs = list((workdir / "runs").iterdir())
    assert len(runs) == 1  # one run directory for both workers
    cases = ElementTree.parse(runs[0] / "junit.xml").getroot().iter("testcase")
    outcomes = {case.get("name"): [child.tag for child in case] for case in cases}
    assert len(outcomes) == 7
    assert {name for name, tags in outcomes.items() if "error" in tags} == {
        "test_worker_dies"}


REPORTED = ("import pytest\n"
            "class TestGroup:\n"
            "    def test_passes(self, dev1):\n"
            "        print('hello from the test')\n"
            "    def test_fails(self, dev2):\n"
            "        assert 1 == 2\n"
            "@pytest.mark.slow\n"
            "def test_skips():\n"
            "    pytest.skip('not today')\n"
            "def test_errs(dev1):\n"
            "    raise ValueError('no such thing')\n")


def test_the_reports_of_a_run(tmp_path, workdir, sample_dir, lab):
    done = run_pytest(tmp_path, workdir, sample_dir, {"test_rep.py": REPORTED},
                      "--rotest-report", "junit,excel,html,history", "--rotest-run-name",
                      "nightly")
    assert "2 failed, 1 passed, 1 skipped" in done.stdout, done.stdout + done.stderr
    (run,) = (workdir / "runs").iterdir()
    assert run.name.endswith("-nightly") and f"rotest: reports (junit, excel, html, " \
        f"history) in {run}" in done.stdout
    for report in ("junit.xml", "results.xlsx", "report.html"):
        assert (run / report).stat().st_size > 0, report
    root = ElementTree.parse(run / "junit.xml").getroot()
    # Grouped as the code is: a class, and the module's functions.
    found = {(case.get("classname"), case.get("name")): case[0].tag
             for case in root.iter("testcase")}
    assert found == {
        ("suite.test_rep.TestGroup", "test_passes"): "system-out",
        ("suite.test_rep.TestGroup", "test_fails"): "failure",
        ("suite.test_rep.test_rep", "test_skips"): "skipped",
        ("suite.test_rep.test_rep", "test_errs"): "error"}, found
    assert "hello from the test" in (run / "junit.xml").read_text()
    page = (run / "report.html").read_text()
    assert '"resources":{"dev1":"dev1"}' in page and '"tags":["slow"]' in page
    assert "for the resources\\u0027 locks" in page  # the lock wait, as an info
    # A report that does not exist is a usage error, before any test runs.
    done = run_pytest(tmp_path, workdir, sample_dir, {"test_rep.py": REPORTED},
                      "--rotest-report", "junit,nope")
    assert done.returncode == 4 and "unknown output handler 'nope'" in done.stderr
    assert "passed" not in done.stdout
    with sqlite3.connect(workdir / "rotest.db") as db:  # the embedded history
        name, counts = db.execute("SELECT name, counts FROM history_run").fetchone()
    assert name == "nightly"
    assert {k: v for k, v in json.loads(counts).items() if v} == {
        "success": 1, "failure": 1, "error": 1, "skip": 1}


# ---------------------------------------------------------------------------
# gunicorn on PostgreSQL: two workers, and the run in the server's history
# ---------------------------------------------------------------------------

GUNICORN = ("import time\n"
            "import pytest\n"
            "@pytest.mark.parametrize('n', range(4))\n"
            "def test_dev1(dev1, n):\n"
            "    time.sleep(0.1)\n"
            "def test_fails(pair):\n"
            "    assert pair.a.name == pair.b.name\n")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_xdist_against_gunicorn_on_postgresql_with_the_history(
        app, database_url, tmp_path, workdir, sample_dir):
    token = add_user(app, "tester")
    pg_lab = Lab(database_url, create=False)
    pg_lab.add(DeviceData, "dev1")
    pg_lab.add(DeviceData, "dev2")
    gunicorn = GunicornServer(server_env(database_url, tmp_path / "server"), workers=2,
                            threads=8, log=tmp_path / "gunicorn.log", cwd=ROOT)
    try:
        gunicorn.start()
        done = run_pytest(tmp_path, workdir, sample_dir, {"test_g.py": GUNICORN}, "-n", "2",
                          "--rotest-host", "127.0.0.1", "--rotest-port", str(gunicorn.port),
                          "--rotest-token", token, "--rotest-timeout", "60",
                          "--rotest-report", "history")
        assert "1 failed, 4 passed" in done.stdout, done.stdout + done.stderr
        assert held(pg_lab) == set()
        assert pg_lab.row("dev1")["dirty"] is True  # the pair's test failed with both
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        (summary,) = api.get(f"{gunicorn.url}/api/v1/runs?name=pytest", timeout=10
                             ).json()["runs"]
        run = api.get(f"{gunicorn.url}/api/v1/runs/{summary['id']}", timeout=10).json()
        leaves = case_outcomes(run)
        # A function's name in the history is its module's and its own.
        assert leaves == {**{f"test_g.test_dev1[{n}]": "success" for n in range(4)},
                          "test_g.test_fails": "failure"}
    finally:
        gunicorn.stop()
        pg_lab.dispose()
