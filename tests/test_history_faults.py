"""Results that outlive a server outage and a killed runner, and a --delta
that is never green by mistake after them: ``rotest run`` in subprocesses
against gunicorn (SQLite, and PostgreSQL), the server stopped and started by
the test; and two test classes of one name, embedded."""
from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import requests

from api_helpers import add_user, case_outcomes
from runtime_samples.fixtures import (ROTEST, SAMPLES, cli_env,  # noqa: F401 - fixtures
                                      sample_dir, workdir)
from server_process import ROOT, GunicornServer, server_env

KILLABLE = str(SAMPLES / "killable.py")


@pytest.fixture
def lab(app, database_url, tmp_path):
    """A gunicorn server on ``database_url`` (not started) and a token for it."""
    token = add_user(app, "tester")
    server = GunicornServer(server_env(database_url, tmp_path / "server"), workers=1,
                            threads=4, log=tmp_path / "gunicorn.log", cwd=ROOT)
    yield server, token
    server.stop()


def client_env(workdir: Path, sample_dir: Path, server: GunicornServer, token: str,
               **settings: str) -> dict[str, str]:
    return cli_env(workdir, sample_dir, ROTEST_HOST="127.0.0.1",
                   ROTEST_PORT=str(server.port), ROTEST_TOKEN=token,
                   ROTEST_HISTORY_WAIT=settings.pop("wait", "1"), **settings)


def rotest(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*ROTEST, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def runs_on(server: GunicornServer, token: str) -> list[dict]:
    """The server's runs named nightly, oldest first, each with its leaf records."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    listed = api.get(f"{server.url}/api/v1/runs?name=nightly", timeout=10).json()["runs"]
    runs = []
    for summary in reversed(listed):
        run = api.get(f"{server.url}/api/v1/runs/{summary['id']}", timeout=10).json()
        runs.append({**run, "leaves": case_outcomes(run)})
    return runs



def wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_run_while_the_server_is_down_reaches_it_through_the_next_run(
        lab, workdir, sample_dir, tmp_path):
    server, token = lab
    (sample_dir / "no-hang").touch()
    env = client_env(workdir, sample_dir, server, token)
    down = rotest(env, "run", KILLABLE, "-n", "nightly", "-o", "dots,history",
                  cwd=tmp_path)
    assert down.returncode == 1, down.stderr  # its own failures; the history waits
    assert "the rest waits in" in down.stderr and "rotest history push" in down.stderr

    server.start()
    again = rotest(env, "run", KILLABLE, "-n", "nightly", "-o", "dots,history",
                   cwd=tmp_path)
    assert again.returncode == 1, again.stderr
    assert "sent the history of 1 earlier run(s)" in again.stderr
    first, second = runs_on(server, token)
    for run in (first, second):
        assert run["status"] == "failed" and len(run["leaves"]) == 11
        assert run["counts"]["failure"] == 4 and run["counts"]["success"] == 7
    assert first["start"] < second["start"]  # the older run was sent first

    pushed = rotest(env, "history", "push", cwd=tmp_path)
    assert pushed.returncode == 0 and "sent 0 run(s); 0 left" in pushed.stdout


def test_a_server_back_within_the_wait_gets_the_whole_run(lab, workdir, sample_dir,
                                                            tmp_path):
    server, token = lab
    server.start()
    env = client_env(workdir, sample_dir, server, token, wait="60")
    process = subprocess.Popen([*ROTEST, "run", KILLABLE, "-n", "nightly", "-o",
                                "dots,history"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(sample_dir / "reached", process)
    server.stop()                       # stopped mid-run...
    (sample_dir / "release").touch()    # ...the run goes on and ends...
    time.sleep(2)
    server.start()                      # ...and the server comes back while it waits
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, out + err
    [run] = runs_on(server, token)
    assert run["status"] == "failed" and run["end"] is not None
    assert len(run["leaves"]) == 11 and run["leaves"]["Steps.test_10"] == "success"


def test_a_killed_run_with_the_server_away_is_never_a_green_delta(lab, workdir,
                                                                  sample_dir, tmp_path):
    server, token = lab
    server.start()
    env = client_env(workdir, sample_dir, server, token)
    passed = rotest(env, "run", KILLABLE, "-n", "nightly", "-o", "dots,history",
                    "-f", "test_01 or test_03", cwd=tmp_path)
    assert passed.returncode == 0, passed.stderr  # an older, green run

    server.stop()
    process = subprocess.Popen([*ROTEST, "run", KILLABLE, "-n", "nightly", "-o",
                                "dots,history"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(sample_dir / "reached", process)
    process.kill()                      # kill -9, the server away all along
    process.communicate(timeout=30)

    server.start()
    (sample_dir / "no-hang").touch()
    delta = rotest(env, "run", KILLABLE, "-n", "nightly", "-o", "dots", "--delta", "1",
                   cwd=tmp_path)
    # The killed run reached the server first, ended as aborted, and is the base:
    # what failed there and what it never reached run again, and fail again.
    assert delta.returncode == 1, delta.stdout + delta.stderr
    assert "it was aborted" in delta.stdout
    assert "Ran 6 tests" in delta.stdout + delta.stderr
    runs = runs_on(server, token)
    killed = runs[1]
    assert killed["status"] == "aborted" and len(killed["leaves"]) == 8


DUP = textwrap.dedent("""
    from rotest_core import TestCase


    class DupCase(TestCase):
        def test_x(self):
            self.assertEqual({value}, 1)
""")


def test_two_classes_of_one_name_are_two_tests_everywhere(workdir, tmp_path):
    folder = tmp_path / "dups"
    folder.mkdir()
    (folder / "test_one.py").write_text(DUP.format(value=1))
    (folder / "test_two.py").write_text(DUP.format(value=2))
    env = cli_env(workdir)
    first = rotest(env, "run", str(folder), "-n", "nightly", "-o", "dots,junit,history",
                   cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    [run_dir] = (workdir / "runs").iterdir()
    junit = (run_dir / "junit.xml").read_text()
    assert junit.count("<testcase ") == 2 and 'failures="1"' in junit

    delta = rotest(env, "run", str(folder), "-n", "nightly", "-o", "dots", "--delta", "1",
                   cwd=tmp_path)
    assert delta.returncode == 1, delta.stdout + delta.stderr  # test_two's still fails
    assert "1 test(s) passed, 1 did not" in delta.stdout
    assert "Ran 1 test" in delta.stdout + delta.stderr
