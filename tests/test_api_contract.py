"""The server keeps its own document: Schemathesis, an independent schema-driven
fuzzer, runs every check and every phase (examples, coverage, fuzzing and the
stateful phase, which follows the links it infers between operations) against
gunicorn on PostgreSQL (and SQLite, outside CI or with ROTEST_FUZZ_SQLITE=1),
and any failure fails the test with its report.

The seed is fixed and generation deterministic, so a failure here is the same
on every machine; the README's API section has the command for a run with a
fresh seed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import lab_plugin
from rotest_app.engine import open_engine
from rotest_app.models import ApiToken, User, db
from server_process import ROOT, GunicornServer, server_env

#: CI's seed. ROTEST_FUZZ_SEED=random runs a fresh one (printed in the report),
#: ROTEST_FUZZ_SEED=N replays seed N; ROTEST_FUZZ_EXAMPLES sets the cases.
SEED = os.environ.get("ROTEST_FUZZ_SEED", "20261204")
#: Cases per operation in the fuzzing and stateful phases (the coverage phase
#: makes its own): under a minute a database on two cores.
EXAMPLES = int(os.environ.get("ROTEST_FUZZ_EXAMPLES", "15"))


def seed_lab(database_url: str) -> str:
    """The schema, a user with a token, and a few resources; returns the token."""
    engine = open_engine(database_url)
    db.metadata.create_all(engine)
    with Session(engine) as session:
        token, plain = ApiToken.issue(User(username="fuzzer"))
        session.add(token)
        session.add_all(lab_plugin.DeviceData(name=f"dev{i}", ip_address=f"10.0.0.{i}",
                                              port=lab_plugin.PortData(name=f"port{i}"))
                        for i in range(3))
        session.add(lab_plugin.LicenseData(name="lic", seats=2))
        session.commit()
    engine.dispose()
    return plain


def schemathesis_command(url: str, token: str, *, seed: int | None,
                         examples: int) -> list[str]:
    """``schemathesis run`` with every check and phase against ``url``."""
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) \
        or shutil.which("schemathesis")
    assert executable, "schemathesis is a test dependency: pip install -e '.[test]'"
    command = [executable, "run", f"{url}/api/v1/openapi.json", "--url", f"{url}/api/v1",
               "--header", f"Authorization: Bearer {token}", "--checks", "all",
               "--phases", "examples,coverage,fuzzing,stateful",
               "--max-examples", str(examples), "--no-color",
               # PostgreSQL stores no NUL in text, and the document cannot say so
               # for every string; the server answers 400 to one (tested elsewhere).
               "--generation-allow-x00", "false",
               "--request-timeout", "10",
               # A presence stream never ends while its session lives: by design
               # it would time out; tests/test_presence.py exercises it.
               "--exclude-operation-id", "presence"]
    # Deterministic generation keeps no example database; a fresh run keeps none
    # either, so that nothing is left in the work tree.
    return command + (["--seed", str(seed), "--generation-deterministic"]
                      if seed is not None else ["--generation-database", "none"])


@pytest.fixture(params=["postgresql", "sqlite"])
def fuzzed_url(request, tmp_path) -> str:
    """PostgreSQL, the team's database, in CI; SQLite too elsewhere, or in CI
    with ROTEST_FUZZ_SQLITE=1 (a minute more of a two-core CI run)."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    in_ci = os.environ.get("CI", "").lower() == "true"
    if in_ci and not os.environ.get("ROTEST_FUZZ_SQLITE"):
        pytest.skip("CI fuzzes the server on PostgreSQL; ROTEST_FUZZ_SQLITE=1 adds SQLite")
    return f"sqlite:///{tmp_path / 'rotest.db'}"


def test_the_server_keeps_its_document(fuzzed_url, tmp_path):
    database_url = fuzzed_url
    token = seed_lab(database_url)
    # Short long polls: a generated ?wait= holds a thread for this long at most.
    env = server_env(database_url, tmp_path / "workdir", long_poll_seconds=0.2)
    with GunicornServer(env, workers=2, log=tmp_path / "gunicorn.log", cwd=ROOT) as server:
        result = subprocess.run(
            schemathesis_command(server.url, token, examples=EXAMPLES,
                                 seed=None if SEED == "random" else int(SEED)),
            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    report = result.stdout + result.stderr
    # A 500's traceback is in the server's log: show its end with the report.
    log = (tmp_path / "gunicorn.log").read_text("utf-8", "replace")
    assert result.returncode == 0, report[-25_000:] + "\n--- server log ---\n" + log[-5_000:]
    assert "Stateful" in report  # the phase ran, not only the single calls

