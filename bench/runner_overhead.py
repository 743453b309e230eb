"""Runner overhead: trivial tests under `rotest run -o dots` against the same
tests under `python -m unittest`, whole-process wall time, in one run.

    python bench/runner_overhead.py [--repeat 3]

Prints, for 500 and 5,000 trivial tests, the best of N wall times of each and
their ratio (target: at most 1.5x unittest), and the wall time of a run of a
single test (target: under 0.5 s).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS_PER_CLASS = 50


def write_suite(folder: Path, count: int, base: str) -> Path:
    """``count`` trivial tests in classes of 50, in one test module."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"from {base} import TestCase", ""]
    for number in range(0, count, TESTS_PER_CLASS):
        lines.append(f"class Trivial{number}(TestCase):")
        for index in range(number, min(count, number + TESTS_PER_CLASS)):
            lines.append(f"    def test_{index}(self):\n        self.assertTrue(True)")
        lines.append("")
    (folder / "test_trivial.py").write_text("\n".join(lines))
    return folder


def wall(command: list[str], cwd: Path, env: dict[str, str], repeat: int) -> float:
    """The best of ``repeat`` wall times, after one warm-up run."""
    best = float("inf")
    for attempt in range(repeat + 1):
        began = time.perf_counter()
        finished = subprocess.run(command, cwd=cwd, env=env, capture_output=True)
        elapsed = time.perf_counter() - began
        if finished.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{finished.stdout.decode()[-2000:]}"
                     f"{finished.stderr.decode()[-2000:]}")
        if attempt:
            best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        temp_path = Path(temp)
        env = dict(os.environ, ROTEST_WORKDIR=str(temp_path / "workdir"),
                   PYTHONPATH=str(ROOT))
        env.pop("ROTEST_HOST", None)
        # As installed code runs: compiled once (the standard library unittest
        # imports is). Each command's first run, a warm-up, writes the caches.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        rotest = [sys.executable, "-m", "rotest_core.cli", "run", "-o", "dots", "."]
        unittest = [sys.executable, "-m", "unittest", "discover", "-s", ".", "-p", "test*.py"]
        print(f"{'tests':>6} {'unittest s':>11} {'rotest s':>9} {'ratio':>6}")
        for count in (500, 5000):
            plain = write_suite(temp_path / f"unittest{count}", count, "unittest")
            ours = write_suite(temp_path / f"rotest{count}", count, "rotest_core")
            base = wall(unittest, plain, env, args.repeat)
            mine = wall(rotest, ours, env, args.repeat)
            print(f"{count:>6} {base:>11.2f} {mine:>9.2f} {mine / base:>5.2f}x  "
                  f"(target <= 1.5x)")
        one_plain = write_suite(temp_path / "unittest1", 1, "unittest")
        one = write_suite(temp_path / "rotest1", 1, "rotest_core")
        base = wall(unittest, one_plain, env, args.repeat)
        mine = wall(rotest, one, env, args.repeat)
        print(f"one test: rotest run {mine:.2f} s, unittest {base:.2f} s "
              f"(target: rotest under 0.5 s)")


if __name__ == "__main__":
    main()
