"""The README's promise: one command runs the calculator example end to end."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_example_script_runs_the_calculator_tests(tmp_path):
    example = tmp_path / "repo"
    shutil.copytree(ROOT, example, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".rotest", "__pycache__", "*.egg-info", ".pytest_cache"))
    env = dict(os.environ, EXAMPLE_NO_INSTALL="1",
               PYTHONPATH=str(example))  # this copy, not the installed tree
    finished = subprocess.run(["bash", "scripts/example.sh"], cwd=example, env=env,
                              capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "Ran 7 tests" in finished.stdout  # 4 cases, and the 3 blocks of a flow
    assert "CheckBlock ... OK" in finished.stdout
    assert "OK" in finished.stdout
    workdir = example / "examples/calculator/.rotest"
    every_run = sorted((workdir / "runs").iterdir())
    runs = [run for run in every_run if not run.name.endswith("-pytest")]
    assert len(runs) == 1 and any(runs[0].rglob("test.log"))
    # The pytest variant, with the rotest plugin: the same calculators.
    assert "6 passed" in finished.stdout
    (pytest_run,) = set(every_run) - set(runs)
    assert (pytest_run / "junit.xml").read_text().count("<testcase") == 6
    # The reports the example's rotest.yml asks for.
    for report in ("junit.xml", "results.xlsx", "report.html"):
        assert (runs[0] / report).stat().st_size > 0, report
    assert [zip_.name for zip_ in (workdir / "artifacts").iterdir()] == [f"{runs[0].name}.zip"]
    with sqlite3.connect(workdir / "rotest.db") as db:  # the embedded history
        (counts,) = db.execute("SELECT counts FROM history_run").fetchone()
    assert json.loads(counts)["success"] == 7
