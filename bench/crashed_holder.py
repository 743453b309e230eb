"""How soon a killed holder's lock reaches the waiter, and what presence costs.

    python bench/crashed_holder.py [--rounds 5] [--streams 32]

A holder process locks a device with a long lease (120 s) and is killed with
SIGKILL while a waiter (another process's client, long-polling or, embedded,
waiting in the engine) waits for the device; the waiter's grant time minus
the kill time is the hand-off. Printed for gunicorn (on PostgreSQL when it is
reachable, else SQLite) and for embedded SQLite, each beside the same run's
ordinary hand-off (the holder releases instead of dying), so the figures read
as ratios on a shared machine.

Then the cost of presence: the server's CPU seconds over 10 s with
``--streams`` idle sessions holding their presence streams, beside the same
10 s with none.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

PG_ADMIN = os.environ.get("ROTEST_TEST_PG",
                          "postgresql://postgres@127.0.0.1:5432/postgres")

HOLDER = """
import sys, time
import lab_plugin
from rotest_core.store import EmbeddedClient, RemoteClient, descriptor
mode, target, token = sys.argv[1:4]
client = (RemoteClient(target, token) if mode == "server"
          else EmbeddedClient(target, username="holder"))
client.open(lease_seconds=120)
client.lock([descriptor("DeviceData", name="dev0")])
if mode == "server":
    client.wait_present(30)
print("locked", flush=True)
if sys.stdin.readline().strip() == "release":
    client.release(["dev0"])
    print(time.time(), flush=True)
time.sleep(600)
"""


def database() -> tuple[str, object]:
    """A fresh PostgreSQL database if one is reachable, else a SQLite file."""
    try:
        import psycopg
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except Exception:  # noqa: BLE001 - no PostgreSQL here
        return f"sqlite:///{tempfile.mkdtemp()}/rotest.db", None
    name = f"rotest_bench_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}", (admin, name)


def hand_off(mode: str, target: str, token: str, waiter, kill: bool) -> float:
    """Seconds from the holder's death (or release) to the waiter's grant."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, mode, target, token],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                              text=True)
    assert holder.stdout.readline().strip() == "locked"
    from rotest_core.store import descriptor
    request = waiter.submit([descriptor("DeviceData", name="dev0")], 60, 0)
    if kill:
        holder.kill()
        freed = time.time()
    else:
        holder.stdin.write("release\n")
        holder.stdin.flush()
        freed = float(holder.stdout.readline())
    while request["state"] == "waiting":
        request = waiter.poll(request["id"], 30)
    granted = time.time()
    assert request["state"] == "granted", request
    waiter.release(["dev0"])
    holder.kill()
    holder.wait()
    return granted - freed


def report(label: str, kills: list[float], releases: list[float]) -> None:
    def p(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000
    print(f"{label:<28} killed holder p50 {p(kills, .5):7.0f} ms  max "
          f"{max(kills) * 1000:7.0f} ms | released p50 {p(releases, .5):6.0f} ms "
          f"(ratio {statistics.median(kills) / statistics.median(releases):.1f}x)")


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid, *map(int, out.split())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--streams", type=int, default=32)
    args = parser.parse_args()

    from sqlalchemy.orm import Session

    import lab_plugin
    from rotest_app.engine import open_engine
    from rotest_app.models import ApiToken, User, db
    from rotest_core.store import EmbeddedClient, RemoteClient, descriptor
    from server_process import ROOT as REPO, GunicornServer, server_env

    url, pg = database()
    engine = open_engine(url)
    db.metadata.create_all(engine)
    with Session(engine) as session:
        tokens = {}
        for name in ("holder", "waiter"):
            token, tokens[name] = ApiToken.issue(User(username=name))
            session.add(token)
        session.add(lab_plugin.DeviceData(name="dev0"))
        session.commit()
    engine.dispose()
    print(f"database: {url.split('://')[0]}; {args.rounds} rounds each; the machine "
          f"may be shared: compare within a line")
    workdir = Path(tempfile.mkdtemp())
    with GunicornServer(server_env(url, workdir), workers=2, cwd=REPO) as server:
        with RemoteClient(server.url, tokens["waiter"]) as waiter:
            kills = [hand_off("server", server.url, tokens["holder"], waiter, True)
                     for _ in range(args.rounds)]
            releases = [hand_off("server", server.url, tokens["holder"], waiter, False)
                        for _ in range(args.rounds)]
        report("gunicorn (2 workers)", kills, releases)

        pids = children(server.process.pid)
        before = cpu_seconds(pids)
        time.sleep(10)
        idle = cpu_seconds(pids) - before
        clients = [RemoteClient(server.url, tokens["waiter"])
                   for _ in range(args.streams)]
        for client in clients:
            client.open(lease_seconds=120)
            client.submit([descriptor("DeviceData", name="dev0")], 0, 0)  # opens the stream
        for client in clients:
            client.wait_present(30)
        before = cpu_seconds(pids)
        time.sleep(10)
        streaming = cpu_seconds(pids) - before
        for client in clients:
            client.close()
        extra = max(0.0, streaming - idle)
        print(f"server CPU over 10 s: {idle:.2f} s idle, {streaming:.2f} s with "
              f"{args.streams} presence streams: {extra / args.streams * 1000:.1f} ms per "
              f"stream per 10 s ({extra / 10 * 100:.1f}% of a core for all)")

    if not url.startswith("sqlite"):
        url = f"sqlite:///{tempfile.mkdtemp()}/rotest.db"
        engine = open_engine(url)
        db.metadata.create_all(engine)
        with Session(engine) as session:
            session.add(lab_plugin.DeviceData(name="dev0"))
            session.commit()
        engine.dispose()
    waiter = EmbeddedClient(url, username="waiter")
    waiter.open(lease_seconds=120)
    kills = [hand_off("embedded", url, "", waiter, True) for _ in range(args.rounds)]
    releases = [hand_off("embedded", url, "", waiter, False) for _ in range(args.rounds)]
    waiter.close()
    report("embedded SQLite", kills, releases)
    if pg is not None:
        from rotest_app.engine.notify import forget
        forget(engine)
        admin, name = pg
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
