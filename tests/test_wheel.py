"""The built wheel works outside the checkout, as a new user installs it.

The wheel is built from the tracked files, installed (not editable) into a
fresh virtualenv that sees nothing of this machine's site-packages, and used
from a folder outside the repository: the schema, a user, a run with the file
reports, and the server's pages and document, all from the installed copy.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "rotest_core", "reports", "migrations")

pytestmark = pytest.mark.xdist_group("wheel")  # one worker builds the wheel once

SMALL_TEST = '''
from rotest_core import TestCase


class Small(TestCase):
    def test_passes(self):
        self.assertEqual(1 + 1, 2)

    def test_fails(self):
        self.assertEqual(1 + 1, 3)
'''


def tracked_files() -> list[str]:
    """The files of the installable packages, as git has them."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the wheel is built from the tracked files")
    listed = subprocess.run(["git", "ls-files", *PACKAGES, "wsgi.py", "setup.py",
                             "pyproject.toml", "README.md"], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    return listed.stdout.split()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the tracked files (the checkout stays clean)."""
    source = tmp_path_factory.mktemp("source")
    for name in tracked_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--disable-pip-version-check",
                            "-q", "-w", str(out), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    [path] = out.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv (no system site-packages) with the wheel installed."""
    home = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(home)
    done = subprocess.run([str(home / "bin" / "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return home / "bin"


@pytest.fixture
def outside(installed, tmp_path) -> dict[str, str]:
    """An environment for the installed ``rotest``, in a folder far from the repo."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ROTEST_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{installed}{os.pathsep}{env.get('PATH', '')}",
               HOME=str(tmp_path), ROTEST_WORKDIR=str(tmp_path / "work"))
    return env


def rotest(env: dict[str, str], cwd: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["rotest", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_the_wheel_holds_every_file_of_the_packages(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in tracked_files()
               if name.startswith(PACKAGES) and "__pycache__" not in name
               and name not in names]
    assert not missing, f"the wheel lacks {len(missing)} files: {missing}"
    assert "wsgi.py" in names


def test_the_installed_wheel_serves_and_runs_outside_the_checkout(outside, tmp_path):
    home = tmp_path
    finished = rotest(outside, home, "--help")
    assert finished.returncode == 0 and "run" in finished.stdout, finished.stderr

    upgraded = rotest(outside, home, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert "Running upgrade" in upgraded.stdout + upgraded.stderr  # migrations found
    created = rotest(outside, home, "users", "create", "admin", "--admin",
                     "--password", "wheel-password")
    assert created.returncode == 0, created.stdout + created.stderr

    (home / "test_small.py").write_text(SMALL_TEST)
    ran = rotest(outside, home, "run", "test_small.py", "-o", "dots,junit,excel,html,history")
    assert ran.returncode == 1, ran.stdout + ran.stderr  # one test fails, on purpose
    [run_dir] = (home / "work" / "runs").iterdir()
    for report in ("junit.xml", "results.xlsx", "report.html"):
        assert (run_dir / report).stat().st_size > 0, report
    assert 'failures="1"' in (run_dir / "junit.xml").read_text()

    with served(outside, home) as url:
        check_pages(url)


def check_pages(url: str) -> None:
    """The login page, a run's page and the API document: real HTML and JSON."""
    web = requests.Session()
    login = web.get(f"{url}/admin/login", timeout=10)
    assert login.status_code == 200 and "<form" in login.text, login.text[:500]
    [token] = re.findall(r'name="csrf_token"[^>]*value="([^"]+)"', login.text)
    web.post(f"{url}/admin/login", timeout=10, data={
        "username": "admin", "password": "wheel-password", "csrf_token": token})
    runs = web.get(f"{url}/runs", timeout=10)
    assert runs.status_code == 200, runs.text[:500]
    [run_link] = set(re.findall(r'href="(/runs/\d+)"', runs.text))
    page = web.get(url + run_link, timeout=10)
    assert page.status_code == 200 and "test_fails" in page.text, page.text[:500]
    document = web.get(f"{url}/api/v1/openapi.json", timeout=10)
    assert document.status_code == 200 and document.json()["paths"]


class served:
    """``rotest server`` of the installed wheel, on a free port, stopped at exit."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd

    def __enter__(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.log = (self.cwd / "server.log").open("w")
        self.process = subprocess.Popen(["rotest", "server", "--bind", f"127.0.0.1:{port}",
                                         "--workers", "1"],
                                        cwd=self.cwd, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.cwd / "server.log").read_text()
            try:
                requests.get(f"{url}/api/v1/health", timeout=2)
                return url
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("rotest server did not answer in 30 s: "
                             + (self.cwd / "server.log").read_text())

    def __exit__(self, *exc_info) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()
        log = (self.cwd / "server.log").read_text()
        assert "TemplateNotFound" not in log and "Traceback" not in log, log
