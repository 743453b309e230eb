"""How lock and release costs grow with the pool and the queue.

    python bench/pool_scale.py [--sizes 100,1000,10000,50000] [--waiters 0,200,1000]
                               [--databases sqlite,postgresql] [--repeat 7]

For each database and pool size N (BenchDevice rows, all lockable), through
the lock engine in this process (as the embedded client and each server
worker call it), medians of ``--repeat`` tries:

- ``any``: lock "any BenchDevice" and release it;
- ``any, 99% held``: the same with 99 % of the pool held by another session;
- ``by name``: lock one device by name and release it;
- with W waiting requests for "any" (the whole pool held): ``release → grant``,
  the release call that hands the freed device to the head of the queue (the
  grant is made in it), and ``new request``: one more request for "any"
  answered (it queues behind them).

Each figure is printed with its ratio to N = 100 of the same run. The
machine is shared: compare within a run. ``ROTEST_BENCH_ROOT`` measures
another checkout (before/after).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import ExitStack
from typing import Any, Callable

import lockbench

ANY = {"type": "BenchDevice", "properties": {}}


class Engine:
    """The lock engine on one database, acting as one or more users."""

    def __init__(self, url: str) -> None:
        from rotest_app.engine import open_engine
        self.engine = open_engine(url)

    def call(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from rotest_app.models import User
        with Session(self.engine) as db:
            user = db.scalar(select(User).where(User.username == lockbench.USER))
            return operation(db, user, *args, **kwargs)

    def hold(self, session_id: str, fraction: float) -> None:
        """Mark ``fraction`` of the pool (the lowest ids) held by ``session_id``."""
        from sqlalchemy import func, select, update
        from sqlalchemy.orm import Session

        from rotest_app.models import ResourceData
        with Session(self.engine) as db:
            count = db.scalar(select(func.count()).select_from(ResourceData))
            limit = db.scalar(select(ResourceData.id).order_by(ResourceData.id)
                              .offset(max(0, int(count * fraction) - 1)).limit(1))
            db.execute(update(ResourceData).where(ResourceData.id <= limit)
                       .values(session_id=session_id, owner=lockbench.USER))
            db.commit()

    def free_all(self) -> None:
        from sqlalchemy import update
        from sqlalchemy.orm import Session

        from rotest_app.models import LockRequest, ResourceData
        with Session(self.engine) as db:
            db.execute(update(ResourceData).values(session_id=None, owner=""))
            db.execute(update(LockRequest).where(LockRequest.state == "waiting")
                       .values(state="cancelled"))
            db.commit()

    def dispose(self) -> None:
        from rotest_app.engine import notify
        notify.forget(self.engine)
        self.engine.dispose()


def timed(repeat: int, action: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def measure_pool(url: str, size: int, waiter_levels: list[int],
                 repeat: int) -> dict[str, float]:
    from rotest_app import engine as lock
    bench = Engine(url)
    results: dict[str, float] = {}
    try:
        sid = bench.call(lock.open_session, lease_seconds=3600)["id"]

        def cycle(descriptor: dict[str, Any]) -> None:
            answer = bench.call(lock.request_lock, sid, [descriptor])
            assert answer["state"] == "granted", answer
            bench.call(lock.release, [answer["resources"][0]["name"]])

        cycle(ANY)  # warm
        results["any"] = timed(repeat, lambda: cycle(ANY))
        results["by name"] = timed(repeat, lambda: cycle(
            {"type": "BenchDevice", "properties": {"name": f"dev{size // 2}"}}))
        holder = bench.call(lock.open_session, lease_seconds=3600)["id"]
        bench.hold(holder, 0.99)
        results["any, 99% held"] = timed(repeat, lambda: cycle(ANY))
        bench.free_all()
        for waiters in waiter_levels:
            if not waiters:
                continue
            bench.hold(holder, 1.0)
            queued = bench.call(lock.open_session, lease_seconds=3600)["id"]
            for _ in range(waiters):
                answer = bench.call(lock.request_lock, queued, [ANY], timeout=3600)
                assert answer["state"] == "waiting", answer
            names = iter(f"dev{i}" for i in range(size))

            def hand_over() -> None:
                # The holder lets one go; the head of the queue gets it in the call.
                bench.call(lock.release, [next(names)], force=True)

            results[f"{waiters} waiting: release -> grant"] = timed(
                min(repeat, waiters), hand_over)
            results[f"{waiters} waiting: new request"] = timed(repeat, lambda: bench.call(
                lock.request_lock, queued, [ANY], timeout=0))
            bench.call(lock.close_session, queued)
            bench.free_all()
    finally:
        bench.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,50000")
    parser.add_argument("--waiters", default="0,200,1000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    waiters = [int(n) for n in args.waiters.split(",")]
    print(f"pool scale, medians of {args.repeat}; code: {lockbench.ROOT}")
    for database in args.databases.split(","):
        table: dict[str, dict[int, float]] = {}
        for size in sizes:
            with ExitStack() as stack:
                if database == "sqlite":
                    folder = stack.enter_context(tempfile.TemporaryDirectory())
                    url = f"sqlite:///{folder}/bench.db"
                else:
                    missing = lockbench.postgres_available()
                    if missing:
                        print(f"\n## postgresql: skipped, {missing}")
                        break
                    url = stack.enter_context(lockbench.postgres_database())
                lockbench.create_schema(url)
                lockbench.add_devices(url, size)
                for name, value in measure_pool(url, size, waiters, args.repeat).items():
                    table.setdefault(name, {})[size] = value
        if table:
            print(f"\n## {database} (ms; ratio to N = {sizes[0]})")
            print(f"{'':34}" + "".join(f"{'N = ' + format(n, ','):>22}" for n in sizes))
            for name, row in table.items():
                base = row.get(sizes[0])
                cells = "".join(
                    f"{row[n] * 1e3:>12.1f} {'(' + format(row[n] / base, '.1f') + 'x)':>9}"
                    if n in row and base else f"{'-':>22}" for n in sizes)
                print(f"{name:34}{cells}")


if __name__ == "__main__":
    main()
