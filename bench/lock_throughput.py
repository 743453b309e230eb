"""Lock throughput and hand-off latency, embedded SQLite vs gunicorn+PostgreSQL.

    python bench/lock_throughput.py [--seconds 3] [--clients 1,4,16]

For 1, 4 and 16 concurrent client *processes*, each doing lock+release cycles
of "any DeviceData" from a pool of 16, it prints cycles per second and p50/p99
cycle latency. The baseline, measured in the same run with the same number of
processes, is the bare round trip each mode cannot avoid: one write
transaction on the same SQLite file (embedded), one GET /api/v1/health through
the same gunicorn (server). ``cost`` = how many baseline round trips one
lock+release cycle takes (baseline ops/s / cycles/s).

Hand-off latency: a holder releases, a waiter in another process (long-polling
or, embedded, waiting in the engine) records when its grant arrives.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PG_ADMIN = os.environ.get("ROTEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
POOL = 16


# --- set-up -----------------------------------------------------------------

def seed(url: str) -> str:
    """Schema, one user with a token, the device pool; returns the token."""
    from sqlalchemy.orm import Session

    import bench_models
    from app.engine import open_engine
    from app.models import ApiToken, User, db
    engine = open_engine(url)
    db.metadata.create_all(engine)
    with Session(engine) as session:
        token, plain = ApiToken.issue(User(username="bench", is_admin=True))
        session.add(token)
        session.add_all(bench_models.BenchDevice(name=f"dev{i}") for i in range(POOL))
        session.commit()
    engine.dispose()
    return plain


def make_client(mode: str, target: str):
    """A lock client: target is a database URL (embedded) or 'URL|token'."""
    import bench_models  # noqa: F401 - the resource model must be mapped
    from rotest_core.resources import EmbeddedLockClient, RemoteLockClient
    if mode == "embedded":
        return EmbeddedLockClient(target, "bench")
    url, token = target.split("|")
    return RemoteLockClient(url, token)


# --- workers (run in child processes) ---------------------------------------

def lock_cycles(mode: str, target: str, seconds: float, start: float, out) -> None:
    from rotest_core.resources import descriptor
    client = make_client(mode, target)
    client.open(description="bench")
    latencies = []
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < start + seconds:
        began = time.perf_counter()
        resource, = client.lock([descriptor("BenchDevice")], timeout=30)
        client.release([resource["name"]])
        latencies.append(time.perf_counter() - began)
    client.close()
    out.put(latencies)


def baseline_cycles(mode: str, target: str, seconds: float, start: float, out) -> None:
    latencies = []
    if mode == "embedded":
        from sqlalchemy import text
        from app.engine import open_engine
        engine = open_engine(target)
        op = lambda: _bare_transaction(engine, text)  # noqa: E731
    else:
        import requests
        http = requests.Session()
        url = target.split("|")[0] + "/api/v1/health"
        op = lambda: http.get(url).raise_for_status()  # noqa: E731
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < start + seconds:
        began = time.perf_counter()
        op()
        latencies.append(time.perf_counter() - began)
    out.put(latencies)


def _bare_transaction(engine, text) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE resource SET comment = comment WHERE id = 1"))


def handoff_holder(mode: str, target: str, rounds: int, to_waiter, to_holder,
                   out) -> None:
    from rotest_core.resources import descriptor
    client = make_client(mode, target)
    client.open()
    stamps = []
    for _ in range(rounds):
        client.lock([descriptor("BenchDevice", name="dev0")], timeout=30)
        to_waiter.put("held")
        time.sleep(0.15)  # let the waiter settle into its wait
        stamps.append(time.time())
        client.release(["dev0"])
        to_holder.get()  # the waiter released it again
    client.close()
    out.put(stamps)


def handoff_waiter(mode: str, target: str, rounds: int, to_waiter, to_holder,
                   out) -> None:
    from rotest_core.resources import descriptor
    client = make_client(mode, target)
    client.open()
    stamps = []
    for _ in range(rounds):
        to_waiter.get()
        client.lock([descriptor("BenchDevice", name="dev0")], timeout=30)
        stamps.append(time.time())
        client.release(["dev0"])
        to_holder.put("done")
    client.close()
    out.put(stamps)


# --- measuring ----------------------------------------------------------------

def run_parallel(worker, mode: str, target: str, clients: int, seconds: float):
    context = mp.get_context("spawn")
    out = context.Queue()
    start = time.time() + 2.0 + 0.1 * clients  # all processes started and connected
    processes = [context.Process(target=worker, args=(mode, target, seconds, start, out))
                 for _ in range(clients)]
    for process in processes:
        process.start()
    latencies = [x for _ in processes for x in out.get(timeout=120)]
    for process in processes:
        process.join()
    return len(latencies) / seconds, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_handoff(mode: str, target: str, rounds: int = 20) -> list[float]:
    context = mp.get_context("spawn")
    to_waiter, to_holder = context.Queue(), context.Queue()
    out_h, out_w = context.Queue(), context.Queue()
    holder = context.Process(target=handoff_holder,
                             args=(mode, target, rounds, to_waiter, to_holder, out_h))
    waiter = context.Process(target=handoff_waiter,
                             args=(mode, target, rounds, to_waiter, to_holder, out_w))
    holder.start()
    waiter.start()
    released, granted = out_h.get(timeout=180), out_w.get(timeout=180)
    holder.join()
    waiter.join()
    return [g - r for r, g in zip(released, granted)]


def report(mode: str, target: str, levels: list[int], seconds: float,
           title: str) -> None:
    print(f"\n## {title}")
    print(f"{'clients':>7} {'cycles/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'baseline/s':>11} {'cost':>6}")
    for clients in levels:
        rate, lat = run_parallel(lock_cycles, mode, target, clients, seconds)
        base_rate, _ = run_parallel(baseline_cycles, mode, target, clients, seconds)
        print(f"{clients:>7} {rate:>10.0f} {percentile(lat, .5) * 1e3:>8.2f} "
              f"{percentile(lat, .99) * 1e3:>8.2f} {base_rate:>11.0f} "
              f"{base_rate / rate:>5.0f}x")
    handoff = measure_handoff(mode, target)
    print(f"hand-off (release -> waiter's grant, {len(handoff)} rounds): "
          f"p50 {statistics.median(handoff) * 1e3:.1f} ms, "
          f"p99 {percentile(handoff, .99) * 1e3:.1f} ms")


def postgres_database():
    """A fresh database URL and a function that drops it; None without a server."""
    try:
        import psycopg
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except Exception as error:  # noqa: BLE001
        print(f"\n## server (gunicorn + PostgreSQL): skipped, no PostgreSQL at "
              f"{PG_ADMIN} ({error})")
        return None, None
    name = f"rotest_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}", lambda: admin.execute(
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_gunicorn(database_url: str, workdir: str):
    from app.serving import GunicornServer
    env = dict(os.environ, ROTEST_DATABASE_URL=database_url, ROTEST_WORKDIR=workdir,
               ROTEST_PLUGINS="bench_models", ROTEST_SECRET_KEY="bench",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(Path(__file__).parent)]))
    return GunicornServer(env, workers=4, threads=32, cwd=ROOT).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", default="1,4,16")
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    print(f"lock+release cycles, {args.seconds:g} s per measurement, pool of {POOL} "
          f"devices, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        seed(url)
        report("embedded", url, levels, args.seconds, "embedded (SQLite file)")
        pg_url, drop = postgres_database()
        if pg_url:
            token = seed(pg_url)
            server = start_gunicorn(pg_url, folder)
            try:
                report("server", f"{server.url}|{token}", levels, args.seconds,
                       "server (gunicorn -w 4 gthread + PostgreSQL)")
            finally:
                server.stop()
                drop()


if __name__ == "__main__":
    main()
