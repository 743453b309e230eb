"""A server restart under load: how long the stop takes, and the gap in answers.

    python bench/restart.py [--clients 16] [--rounds 2] [--no-baseline]

gunicorn (the README's settings, 4 gthread workers) on PostgreSQL (SQLite
without a PostgreSQL server); ``--clients`` client threads cycle lock+release
on a pool of 8 devices while a holder keeps one more and two waiters
long-poll for it. Then a restart as ``systemctl restart`` does it: SIGTERM,
wait for the exit, start again. Per round it prints:

- stop: SIGTERM to the master's exit;
- gap: the old server's last answer to the new one's first, as the clients
  saw them (every HTTP answer of every client is timed);
- start: the new server's start to its first healthy answer;
- the longest single request sent during the stop, and failed client calls.

Baselines, measured in the same run: a cold start of the server with no
clients (the part of the gap no stop can save: ``gap/start``), and the same
restart with gunicorn's own settings, without app/gunicorn_conf.py's graceful
stop (``--no-baseline`` skips it: it waits out the lock polls, ~25 s).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lock_throughput import postgres_database  # noqa: E402

POOL = 8


def seed(url: str, users: list[str]) -> dict[str, str]:
    from sqlalchemy.orm import Session

    import bench_models
    from rotest_app.engine import open_engine
    from rotest_app.models import ApiToken, User, db
    engine = open_engine(url)
    db.metadata.create_all(engine)
    tokens = {}
    with Session(engine) as session:
        for name in users:
            token, plain = ApiToken.issue(User(username=name))
            session.add(token)
            tokens[name] = plain
        session.add_all(bench_models.BenchDevice(name=f"dev{i}") for i in range(POOL + 1))
        session.commit()
    engine.dispose()
    return tokens


class Load:
    """Clients cycling, a holder, two waiters; every HTTP answer timed."""

    def __init__(self, url: str, tokens: dict[str, str], clients: int) -> None:
        from rotest_core.store import RemoteClient, descriptor
        self.url, self.answers, self.failures = url, [], []
        self.requests: list[tuple[float, float, str]] = []
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.holder = self._timed(RemoteClient(url, tokens["holder"]))
        self.holder.open()
        self.holder.lock([descriptor("BenchDevice", name=f"dev{POOL}")])
        self.threads = [threading.Thread(target=self._wait, args=(tokens[f"waiter{i}"],))
                        for i in range(2)]
        self.threads += [threading.Thread(target=self._cycle, args=(tokens[f"user{i}"],))
                         for i in range(clients)]
        for thread in self.threads:
            thread.start()

    def _timed(self, client):
        send = client.http.request

        def request(method, url, **kwargs):
            began = time.monotonic()
            response = send(method, url, **kwargs)
            with self.lock:
                self.answers.append(time.monotonic())
                self.requests.append((began, time.monotonic(), f"{method} {url}"))
            return response
        client.http.request = request
        return client

    def _cycle(self, token: str) -> None:
        from rotest_core.store import RemoteClient, descriptor
        pool = [f"dev{i}" for i in range(POOL)]
        try:
            with self._timed(RemoteClient(self.url, token)) as client:
                while not self.done.is_set():
                    resource, = client.lock([descriptor("BenchDevice", name__in=pool)],
                                            timeout=120)
                    time.sleep(0.01)
                    client.release([resource["name"]])
        except Exception as error:  # noqa: BLE001 - counted
            self.failures.append(error)

    def _wait(self, token: str) -> None:
        from rotest_core.store import RemoteClient, descriptor
        try:
            with self._timed(RemoteClient(self.url, token)) as client:
                client.lock([descriptor("BenchDevice", name=f"dev{POOL}")], timeout=600)
                client.release([f"dev{POOL}"])
        except Exception as error:  # noqa: BLE001 - counted
            self.failures.append(error)

    def finish(self) -> None:
        self.done.set()
        self.holder.release([f"dev{POOL}"])
        for thread in self.threads:
            thread.join(180)
        self.holder.close()


def restart(server, load: Load) -> dict[str, float]:
    time.sleep(2.0)  # the load settles
    sigterm = time.monotonic()
    stop = server.stop(timeout=60)
    exited = time.monotonic()
    server.start(timeout=60)
    healthy = time.monotonic()
    time.sleep(2.0)  # the clients come back
    with load.lock:
        before = [t for t in load.answers if t <= exited]
        after = [t for t in load.answers if t > exited]
        during = [end - began for began, end, what in load.requests
                  if sigterm <= began <= exited and "wait=" not in what]
    return {"stop": stop, "gap": min(after, default=math.nan) - max(before),
            "start": healthy - exited,
            "longest": max(during, default=0.0)}


def cold_start(env: dict[str, str]) -> float:
    from rotest_app.serving import GunicornServer
    server = GunicornServer(env, cwd=ROOT)
    began = time.monotonic()
    server.start(timeout=60)
    took = time.monotonic() - began
    server.stop()
    return took


def run(env: dict[str, str], tokens: dict[str, str], clients: int, rounds: int,
        config) -> list[dict[str, float]]:
    from rotest_app.serving import GunicornServer
    server = GunicornServer(env, cwd=ROOT, config=config).start(timeout=60)
    load = Load(server.url, tokens, clients)
    try:
        results = [restart(server, load) for _ in range(rounds)]
    finally:
        load.finish()
        server.stop()
    for result in results:
        result["failed"] = len(load.failures)
    return results


def main() -> None:
    import logging
    logging.getLogger("rotest_core").setLevel(logging.ERROR)  # retries are expected
    from rotest_app.serving import DEFAULT_THREADS, DEFAULT_WORKERS, GUNICORN_CONFIG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    users = ["holder", "waiter0", "waiter1", *(f"user{i}" for i in range(args.clients))]
    with tempfile.TemporaryDirectory() as folder:
        url, drop = postgres_database()
        url = url or f"sqlite:///{folder}/bench.db"
        try:
            tokens = seed(url, users)
            env = dict(os.environ, ROTEST_DATABASE_URL=url, ROTEST_WORKDIR=folder,
                       ROTEST_PLUGINS="bench_models", ROTEST_SECRET_KEY="bench",
                       PYTHONPATH=os.pathsep.join([str(ROOT), str(Path(__file__).parent)]))
            print(f"restart of gunicorn -w {DEFAULT_WORKERS} --threads {DEFAULT_THREADS} on "
                  f"{url.split(':')[0]}, {args.clients} clients cycling on {POOL} devices, "
                  f"2 waiters, {os.cpu_count()} cores, load average "
                  f"{os.getloadavg()[0]:.1f}")
            start = cold_start(env)
            print(f"baseline: cold start with no clients {start:.2f} s")
            setups = [("graceful stop (app/gunicorn_conf.py)", GUNICORN_CONFIG)]
            if not args.no_baseline:
                setups.append(("baseline: gunicorn's own settings", None))
            print(f"{'setup':<38} {'stop s':>7} {'gap s':>7} {'start s':>8} "
                  f"{'gap/start':>9} {'longest req s':>13} {'failed':>6}")
            for title, config in setups:
                for result in run(env, tokens, args.clients, args.rounds, config):
                    print(f"{title:<38} {result['stop']:>7.2f} {result['gap']:>7.2f} "
                          f"{result['start']:>8.2f} {result['gap'] / start:>9.2f} "
                          f"{result['longest']:>13.2f} {result['failed']:>6}")
        finally:
            if drop:
                drop()


if __name__ == "__main__":
    main()
