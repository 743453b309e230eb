"""Lock+release throughput, latency, hand-off, server CPU and SQL per cycle.

    python bench/lock_throughput.py [--seconds 3] [--clients 1,4,16]
                                    [--modes embedded,server,gunicorn,gunicorn2]

Modes: ``embedded`` (the engine in each client process on one SQLite file),
``server`` (``rotest server`` on SQLite), ``gunicorn`` (one gunicorn, 4
gthread workers, on PostgreSQL) and ``gunicorn2`` (two gunicorn instances on
one PostgreSQL database, clients alternating between them). For each number
of client *processes* it prints:

- cycles/s and cycle p50/p99, each client locking "any BenchDevice" of a pool
  of 20 and releasing it at once;
- hand-off p50/p99: the same clients on a pool of 2, from a holder's release
  call to a waiting client's grant (waiting: its request began before that
  release);
- server CPU per cycle (user+system of every server process, over the
  throughput run) and SQL per cycle (statements / round trips: on PostgreSQL
  counted on the wire, the server's ReadyForQuery answers; else statements,
  BEGINs, COMMITs; counted in this process through the same code path).

Each figure has beside it its ratio to the single-client figure of the same
run. The machine is shared by everything running on it: compare figures of
one run, not across runs. ``ROTEST_BENCH_ROOT=/other/checkout`` measures
another version of the project with this script (before/after).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass

import lockbench
from lockbench import Servers, percentile

POOL = 20
CONTENDED = ["dev0", "dev1"]


def cycles_worker(target: str, pool: list[str] | None, seconds: float, ready, go,
                  out) -> None:
    """Lock+release until the time is up; report latencies and events."""
    from rotest_core.store import descriptor
    client = lockbench.make_client(target)
    client.open(description="bench")
    wanted = descriptor("BenchDevice", name__in=pool) if pool else descriptor("BenchDevice")
    latencies, events = [], []
    ready.put(os.getpid())
    while not go.value:
        time.sleep(0.005)
    start = go.value
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < start + seconds:
        asked = time.time()
        resource, = client.lock([wanted], timeout=60)
        granted = time.time()
        client.release([resource["name"]])
        latencies.append(time.time() - asked)
        events.append((asked, granted, resource["name"], granted))
    client.close()
    out.put((latencies, events))


def run(targets: list[str], clients: int, seconds: float, pool: list[str] | None):
    """Every client process's latencies and events."""
    context = mp.get_context("spawn")
    out, ready, go = context.Queue(), context.Queue(), context.Value("d", 0.0)
    processes = [context.Process(target=cycles_worker,
                                 args=(targets[i % len(targets)], pool, seconds, ready, go,
                                       out))
                 for i in range(clients)]
    for process in processes:
        process.start()
    for _ in processes:  # every process started and connected
        ready.get(timeout=180)
    go.value = time.time() + 0.2
    results = [out.get(timeout=seconds + 180) for _ in processes]
    for process in processes:
        process.join(30)
    latencies = [x for lat, _ in results for x in lat]
    events = [e for _, ev in results for e in ev]
    return latencies, events


def handoffs(events: list[tuple[float, float, str, float]]) -> list[float]:
    """Release call → grant of the same resource to a request made before it."""
    releases: dict[str, list[float]] = {}
    for _asked, _granted, name, released in events:
        releases.setdefault(name, []).append(released)
    for times in releases.values():
        times.sort()
    found = []
    for asked, granted, name, _released in events:
        before = [t for t in releases[name] if t < granted]
        if before and before[-1] > asked:
            found.append(granted - before[-1])
    return found


@dataclass
class Row:
    clients: int
    rate: float
    p50: float
    p99: float
    hand50: float
    hand99: float
    cpu: float


def ratio(value: float, base: float) -> str:
    if base != base or value != value or not base:  # NaN or zero
        return ""
    return f"({value / base:.1f}x)"


def measure(title: str, targets: list[str], servers: Servers | None, levels: list[int],
            seconds: float, sql: tuple[float, float]) -> None:
    rows = []
    for clients in levels:
        cpu_before = servers.cpu_seconds() if servers else 0.0
        latencies, _ = run(targets, clients, seconds, None)
        cpu = (servers.cpu_seconds() - cpu_before) / max(1, len(latencies)) \
            if servers else float("nan")
        _, events = run(targets, clients, seconds, CONTENDED)
        hands = handoffs(events)
        rows.append(Row(clients, len(latencies) / seconds, percentile(latencies, .5),
                        percentile(latencies, .99), percentile(hands, .5),
                        percentile(hands, .99), cpu))
    base = rows[0]
    print(f"\n## {title}")
    print(f"SQL per cycle: {sql[0]:.0f} statements, {sql[1]:.0f} round trips "
          f"(on PostgreSQL: counted on the wire; else statements and BEGIN/COMMIT); "
          f"CPU per cycle in one process, one client, no HTTP: "
          f"{lockbench.sql_per_cycle.cpu * 1e3:.1f} ms")
    print(f"{'clients':>7} {'cycles/s':>16} {'p50 ms':>14} {'p99 ms':>16} "
          f"{'hand-off p50 ms':>17} {'p99 ms':>9} {'server CPU ms/cycle':>22}")
    for row in rows:
        print(f"{row.clients:>7} {row.rate:>8.0f} {ratio(row.rate, base.rate):>7} "
              f"{row.p50 * 1e3:>6.1f} {ratio(row.p50, base.p50):>7} "
              f"{row.p99 * 1e3:>8.1f} {ratio(row.p99, base.p99):>7} "
              f"{row.hand50 * 1e3:>17.1f} {row.hand99 * 1e3:>9.1f} "
              f"{row.cpu * 1e3:>13.2f} {ratio(row.cpu, base.cpu):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--modes", default="embedded,server,gunicorn,gunicorn2")
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    modes = args.modes.split(",")
    print(f"lock+release cycles, {args.seconds:g} s a measurement, pool of {POOL} "
          f"(hand-off: {len(CONTENDED)}), {os.cpu_count()} cores shared with the "
          f"clients; code: {lockbench.ROOT}")
    any_device = {"type": "BenchDevice", "properties": {}}
    with tempfile.TemporaryDirectory() as folder:
        if "embedded" in modes or "server" in modes:
            url = f"sqlite:///{folder}/bench.db"
            token = lockbench.create_schema(url)
            lockbench.add_devices(url, POOL)
            if "embedded" in modes:
                measure("embedded (SQLite file)", [url], None, levels, args.seconds,
                        lockbench.sql_per_cycle(url, None, any_device))
            if "server" in modes:
                servers = Servers().development(url, folder)
                try:
                    measure("rotest server (SQLite)", [f"{servers.urls[0]}|{token}"],
                            servers, levels, args.seconds,
                            lockbench.sql_per_cycle(url, token, any_device))
                finally:
                    servers.stop()
        for mode, instances in (("gunicorn", 1), ("gunicorn2", 2)):
            if mode not in modes:
                continue
            missing = lockbench.postgres_available()
            if missing:
                print(f"\n## {mode}: skipped, {missing}")
                continue
            with ExitStack() as stack:
                pg_url = stack.enter_context(lockbench.postgres_database())
                token = lockbench.create_schema(pg_url)
                lockbench.add_devices(pg_url, POOL)
                servers = Servers()
                stack.callback(servers.stop)
                for _ in range(instances):
                    servers.gunicorn(pg_url, folder)
                sql = lockbench.sql_per_cycle(pg_url, token, any_device)
                measure(f"{instances} gunicorn instance(s) (-w 4 gthread) + PostgreSQL",
                        [f"{u}|{token}" for u in servers.urls], servers, levels,
                        args.seconds, sql)


if __name__ == "__main__":
    main()
