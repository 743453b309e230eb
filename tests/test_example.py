"""The README's promise: one command runs the calculator example end to end."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_example_script_runs_the_calculator_tests(tmp_path):
    example = tmp_path / "repo"
    shutil.copytree(ROOT, example, ignore=shutil.ignore_patterns(
        ".git", ".rotest", "__pycache__", "*.egg-info", ".pytest_cache"))
    env = dict(os.environ, EXAMPLE_NO_INSTALL="1",
               PYTHONPATH=str(example))  # this copy, not the installed tree
    finished = subprocess.run(["bash", "scripts/example.sh"], cwd=example, env=env,
                              capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "Ran 7 tests" in finished.stdout  # 4 cases, and the 3 blocks of a flow
    assert "CheckBlock ... OK" in finished.stdout
    assert "OK" in finished.stdout
    runs = list((example / "examples/calculator/.rotest/runs").iterdir())
    assert len(runs) == 1 and any(runs[0].rglob("test.log"))
