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
PACKAGES = ("app", "rotest_core", "reports", "migrations", "templates")

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
               and installed_name(name) not in names]
    assert not missing, f"the wheel lacks {len(missing)} files: {missing}"


def installed_name(path: str) -> str:
    """Where a tracked file of a package folder lands in the wheel (setup.py's FOLDERS)."""
    folder, _, rest = path.partition("/")
    return {"app": "rotest_app", "reports": "rotest_reports", "templates": "rotest_templates",
            "migrations": "rotest_app/migrations"}.get(folder, folder) + "/" + rest


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


def check_pages(url: str, test_name: str = "test_fails", password: str = "wheel-password") -> None:
    """The login page, a run's page and the API document: real HTML and JSON."""
    web = requests.Session()
    login = web.get(f"{url}/admin/login", timeout=10)
    assert login.status_code == 200 and "<form" in login.text, login.text[:500]
    [token] = re.findall(r'name="csrf_token"[^>]*value="([^"]+)"', login.text)
    web.post(f"{url}/admin/login", timeout=10, data={
        "username": "admin", "password": password, "csrf_token": token})
    runs = web.get(f"{url}/runs", timeout=10)
    assert runs.status_code == 200, runs.text[:500]
    [run_link] = set(re.findall(r'href="(/runs/\d+)"', runs.text))
    page = web.get(url + run_link, timeout=10)
    assert page.status_code == 200 and test_name in page.text, page.text[:500]
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


# --- a good neighbour: the user's own app, reports, migrations, wsgi, templates -----

#: The import names the wheel may install: the project's own.
OUR_NAMES = {"rotest_core", "rotest_app", "rotest_reports", "rotest_templates"}

TEAM_FILES = {
    # a Flask team's own app, reports, migrations, wsgi and templates
    "app/__init__.py": '''
from flask import Flask

NAME = "the team's app"
app = Flask(__name__)


@app.get("/")
def index():
    return NAME
''',
    "reports.py": '''
def monthly():
    return "the team's monthly report"
''',
    "migrations/env.py": "# the team's own Alembic environment (never run here)\n",
    "migrations/versions/.keep": "",
    "wsgi.py": "from app import app\n",
    "templates/index.html": "<p>the team's page</p>\n",
    # their resource plugins, named as many teams name them
    "resources/__init__.py": '''
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from rotest_app.models import ResourceData
from rotest_core.resources import BaseResource


class BenchData(ResourceData):
    """A lab bench."""
    __tablename__ = "team_bench"
    room: Mapped[str] = mapped_column(String(32), default="")


class Bench(BaseResource):
    DATA_CLASS = BenchData
''',
    "models/__init__.py": '''
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from rotest_app.models import ResourceData


class LicenceData(ResourceData):
    """A licence seat."""
    __tablename__ = "team_licence"
    product: Mapped[str] = mapped_column(String(32), default="")
''',
    "benches.yml": "- {type: BenchData, name: bench1, room: lab-2}\n",
    "rotest.yml": "rotest:\n  plugins: [resources, models]\n",
    "tests/test_team.py": '''
import app
import reports
from resources import Bench
from rotest_core import TestCase


class TeamTest(TestCase):
    bench = Bench.request()

    def test_sees_its_own_modules_and_a_bench(self):
        self.assertEqual(app.NAME, "the team's app")
        self.assertEqual(reports.monthly(), "the team's monthly report")
        self.assertEqual(self.bench.data.room, "lab-2")
''',
}


def team_project(home: Path) -> Path:
    project = home / "project"
    for name, text in TEAM_FILES.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text.lstrip("\n"))
    return project


def test_the_wheel_installs_only_names_of_its_own(wheel):
    top = {name.split("/")[0].removesuffix(".py") for name in zipfile.ZipFile(wheel).namelist()
           if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == OUR_NAMES, f"names outside the project's namespace: {top - OUR_NAMES}"


def test_a_team_project_with_its_own_app_reports_and_migrations(outside, tmp_path):
    project = team_project(tmp_path)
    env = dict(outside, PYTHONPATH=str(project))  # the team's checkout, as the example's
    upgraded = rotest(env, project, "db", "upgrade")  # plugins without migrations yet
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    migrated = rotest(env, project, "db", "migrate", "-m", "benches", "--plugin", "resources")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert list((project / "resources" / "migrations" / "versions").glob("*.py"))
    for command in (("db", "upgrade"), ("users", "create", "admin", "--admin",
                                        "--password", "team-password"),
                    ("resources", "import", "benches.yml")):
        done = rotest(env, project, *command)
        assert done.returncode == 0, (command, done.stdout + done.stderr)
    assert "resources: " in rotest(env, project, "db", "current").stdout  # its own branch

    ran = rotest(env, project, "run", "tests", "-o", "tree,junit,excel,html,history")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "test_sees_its_own_modules_and_a_bench" in ran.stdout
    [run_dir] = (tmp_path / "work" / "runs").iterdir()
    for report in ("junit.xml", "results.xlsx", "report.html"):
        assert (run_dir / report).stat().st_size > 0, report

    with served(env, project) as url:
        check_pages(url, test_name="test_sees_its_own_modules_and_a_bench",
                     password="team-password")
    # their own app is untouched and still theirs
    theirs = subprocess.run([str(Path(outside["PATH"].split(os.pathsep)[0]) / "python"), "-c",
                             "import app, reports, wsgi; print(app.NAME, reports.monthly())"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert theirs.stdout.strip() == "the team's app the team's monthly report", theirs.stderr
