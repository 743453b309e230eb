"""Parallel runs: 40 tests that each sleep 0.25 s, under ``rotest run -p 1``,
``-p 2`` and ``-p 4``; whole-process wall time, in one run.

    python bench/parallel.py [--repeat 2]

Three suites of 40 such tests: ``free`` tests lock nothing; ``locked`` tests
each lock a device by name in the embedded database (four devices, two test
classes of five tests per device: tests that want one device share a worker
and its set-ups); ``pool`` tests each want any one of the four devices.
Prints the best of N wall times for each and the speed-up against -p 1
(targets for these I/O-bound tests: at least 1.9x at -p 2, close to linear
beyond).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
TESTS, SLEEP, DEVICES = 40, 0.25, 4


def write_free(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = ["import time", "from rotest_core import TestCase", "",
             "class SleepCase(TestCase):"]
    lines += [f"    def test_{n}(self):\n        time.sleep({SLEEP})" for n in range(TESTS)]
    (folder / "test_free.py").write_text("\n".join(lines) + "\n")
    return folder


def write_locked(folder: Path) -> Path:
    """Eight classes of five tests, class k on device k % 4: ten tests per device."""
    folder.mkdir(parents=True)
    lines = ["import time", "from rotest_core import BaseResource, TestCase",
             "from bench_models import BenchDevice", "",
             "class Device(BaseResource):", "    DATA_CLASS = BenchDevice", ""]
    for k in range(TESTS // 5):
        lines.append(f"class Case{k}(TestCase):")
        lines.append(f"    dev = Device.request(name='dev{k % DEVICES}')")
        lines += [f"    def test_{n}(self):\n        time.sleep({SLEEP})" for n in range(5)]
        lines.append("")
    (folder / "test_locked.py").write_text("\n".join(lines))
    (folder / "lab.yml").write_text("".join(f"- type: BenchDevice\n  name: dev{n}\n"
                                            for n in range(DEVICES)))
    return folder


def write_pool(folder: Path) -> Path:
    """One class of 40 tests that each want any one of the four devices."""
    folder.mkdir(parents=True)
    lines = ["import time", "from rotest_core import BaseResource, TestCase",
             "from bench_models import BenchDevice", "",
             "class Device(BaseResource):", "    DATA_CLASS = BenchDevice", "",
             "class PoolCase(TestCase):", "    dev = Device.request()"]
    lines += [f"    def test_{n}(self):\n        time.sleep({SLEEP})" for n in range(TESTS)]
    (folder / "test_pool.py").write_text("\n".join(lines) + "\n")
    return folder


def wall(command: list[str], cwd: Path, env: dict[str, str],
         repeat: int) -> tuple[float, float]:
    """The best whole-process wall time of ``repeat`` runs, and the time the
    run itself reported (``Ran N tests in X s``: start-up and exit left out)."""
    best, best_run = float("inf"), float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        finished = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - began
        if finished.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{finished.stdout[-2000:]}"
                     f"{finished.stderr[-2000:]}")
        ran = re.search(r"Ran \d+ tests? in ([\d.]+)s", finished.stdout)
        best = min(best, elapsed)
        best_run = min(best_run, float(ran.group(1)) if ran else elapsed)
    return best, best_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        temp_path = Path(temp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEST_")}
        env.update(ROTEST_WORKDIR=str(temp_path / "workdir"), ROTEST_PLUGINS="bench_models",
                   PYTHONPATH=os.pathsep.join([str(ROOT), str(BENCH)]),
                   PYTHONDONTWRITEBYTECODE="1")
        rotest = [sys.executable, "-m", "rotest_core.cli"]
        locked = write_locked(temp_path / "locked")
        subprocess.run([*rotest, "resources", "import", "lab.yml"], cwd=locked, env=env,
                       check=True, capture_output=True)  # pool's tests share the lab
        pool = write_pool(temp_path / "pool")
        suites = {"free": write_free(temp_path / "free"), "locked": locked, "pool": pool}
        print(f"{TESTS} tests of {SLEEP} s each (serial sleep: {TESTS * SLEEP:.0f} s)")
        print("wall: the whole `rotest run` process; tests: the run's own 'Ran ... in'")
        print(f"{'suite':>7} {'-p':>3} {'wall s':>7} {'speed-up':>9} {'tests s':>8} "
              f"{'speed-up':>9}")
        target = {1: "", 2: "  (target >= 1.9x)", 4: "  (target: close to 4x)"}
        for name, folder in suites.items():
            base = base_run = None
            for processes in (1, 2, 4):
                seconds, in_run = wall([*rotest, "run", "-o", "dots", "-p", str(processes),
                                        "."], folder, env, args.repeat)
                base, base_run = base or seconds, base_run or in_run
                print(f"{name:>7} {processes:>3} {seconds:>7.2f} {base / seconds:>8.2f}x "
                      f"{in_run:>8.2f} {base_run / in_run:>8.2f}x{target[processes]}")


if __name__ == "__main__":
    main()
