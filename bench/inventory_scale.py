"""The inventory at lab scale: import, export, re-import and list of N resources.

    python bench/inventory_scale.py [--sizes 100,1000,10000,50000] [--db sqlite,postgresql]

For each database and N, a fresh database gets N of the calculator example's
resources (N/2 CalculatorData, each with its SubProcessData nested), through
``rotest resources import -q`` in a process of its own. Then, on the same
database: ``export`` to a file, ``import`` of that file again (a no-op: all
unchanged, which the benchmark checks) and ``list --json`` (every page of the
embedded client's query). Each step prints its wall time and the process's
peak memory (max RSS), and the ratio of the time to N = 100's of the same run.

PostgreSQL (127.0.0.1:5432, trust auth, as the tests use) is skipped when
it cannot be reached.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "calculator"
PG_ADMIN = os.environ.get("ROTEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
STEPS = ("import", "export", "re-import", "list")


def inventory(n: int) -> str:
    """An import file of ``n`` resources: n/2 calculators, each with its worker."""
    return "".join(
        f"- type: CalculatorData\n  name: calc{i}\n  ip_address: 10.{i >> 16 & 255}."
        f"{i >> 8 & 255}.{i & 255}\n  port: {18000 + i % 1000}\n  comment: rack {i % 40}\n"
        f"  sub_process: {{type: SubProcessData, name: calc{i}-worker}}\n"
        for i in range(max(n // 2, 1)))


def run_step(args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """``rotest resources ARGS`` in a child process: wall seconds, CPU seconds
    (of the whole process, start-up included), peak MB, output."""
    code = ("import resource, sys, time; from rotest_core.inventory import resources\n"
            "began = time.perf_counter()\n"
            "try:\n    resources.main(sys.argv[1:], standalone_mode=False)\n"
            "finally:\n"
            "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
            "    print(json.dumps([time.perf_counter() - began, usage.ru_utime + "
            "usage.ru_stime, usage.ru_maxrss / 1024]), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", "import json\n" + code, *args],
                          cwd=EXAMPLE, env=env, capture_output=True, text=True,
                          timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"rotest resources {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    seconds, cpu, peak = json.loads(done.stderr.strip().splitlines()[-1])
    return seconds, cpu, peak, done.stdout


Figures = dict[str, tuple[float, float, float]]


def measure(database_url: str, n: int, folder: Path) -> Figures:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEST_")}
    env.update(ROTEST_CONFIG=str(EXAMPLE / "rotest.yml"), ROTEST_WORKDIR=str(folder),
               ROTEST_DATABASE_URL=database_url,
               PYTHONPATH=os.pathsep.join([str(ROOT), str(EXAMPLE)]))
    source, exported = folder / "lab.yml", folder / "exported.yml"
    source.write_text(inventory(n), encoding="utf-8")
    figures: Figures = {}
    *figures["import"], out = run_step(["import", "-q", str(source)], env)
    *figures["export"], _ = run_step(["export", "-o", str(exported)], env)
    *figures["re-import"], out = run_step(["import", "-q", str(exported)], env)
    if " 0 created, 0 updated," not in out:
        raise SystemExit(f"importing the export changed something: {out}")
    *figures["list"], out = run_step(["list", "--json"], env)
    if len(json.loads(out)) != 2 * max(n // 2, 1):
        raise SystemExit("list did not show every resource")
    return figures


def database(kind: str, folder: Path):
    """A fresh database URL of ``kind`` and a function that drops it (or None)."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'rotest.db'}", lambda: None
    from sqlalchemy import create_engine, text
    admin_url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://")
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - no server: skip it
        print(f"postgresql: skipped ({str(error).splitlines()[0]})")
        return None

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,50000")
    parser.add_argument("--db", default="sqlite,postgresql")
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    print("Each step: wall seconds (ratio to the first N of the same run) / CPU seconds "
          "of its process / its peak MB.\nOn a shared machine, CPU seconds are the "
          "steadier figure (PostgreSQL's own work is not in them).")
    for kind in options.db.split(","):
        base: dict[str, float] = {}
        print(f"\n{kind}:\n{'N':>7}  " + "  ".join(f"{step:>30}" for step in STEPS))
        for n in sizes:
            with tempfile.TemporaryDirectory(prefix="rotest-bench-") as tmp:
                made = database(kind, Path(tmp))
                if made is None:
                    break
                url, drop = made
                try:
                    figures = measure(url, n, Path(tmp))
                finally:
                    drop()
            cells = []
            for step in STEPS:
                seconds, cpu, peak = figures[step]
                base.setdefault(step, seconds)
                cells.append(f"{seconds:6.2f}s ({seconds / base[step]:5.1f}x) "
                             f"{cpu:6.2f}s {peak:4.0f}MB")
            print(f"{n:>7}  " + "  ".join(f"{cell:>30}" for cell in cells), flush=True)


if __name__ == "__main__":
    main()
