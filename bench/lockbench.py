"""What the lock benchmarks share: databases, servers, clients, CPU and SQL
counters. Not a benchmark itself.

``ROTEST_BENCH_ROOT`` points the benchmarks at another checkout of the project
(for a before/after comparison in one run of the same script); by default the
one this file is in.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("ROTEST_BENCH_ROOT") or HERE.parent).resolve()
sys.path[:0] = [str(ROOT), str(HERE)]

PG_ADMIN = os.environ.get("ROTEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
USER = "bench"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- databases ------------------------------------------------------------------

def postgres_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except Exception as error:  # noqa: BLE001
        return f"no PostgreSQL at {PG_ADMIN} ({error})"
    return None


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database's URL, dropped afterwards."""
    import psycopg
    admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    name = f"rotest_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def create_schema(url: str) -> str:
    """Tables, the bench user (an admin) and an API token; returns the token."""
    from sqlalchemy.orm import Session

    import bench_models  # noqa: F401 - its tables too
    from rotest_app.engine import open_engine
    from rotest_app.models import ApiToken, User, db
    engine = open_engine(url)
    db.metadata.create_all(engine)
    with Session(engine) as session:
        token, plain = ApiToken.issue(User(username=USER, is_admin=True))
        session.add(token)
        session.commit()
    engine.dispose()
    return plain


def add_devices(url: str, count: int, start: int = 0, batch: int = 5000) -> None:
    """``count`` BenchDevice rows named dev{start}..., in bulk."""
    from sqlalchemy import insert, select
    from sqlalchemy.orm import Session

    import bench_models
    from rotest_app.engine import open_engine
    from rotest_app.models import ResourceData
    engine = open_engine(url)
    with Session(engine) as session:
        for low in range(start, start + count, batch):
            high = min(start + count, low + batch)
            session.execute(insert(ResourceData), [
                {"type": "BenchDevice", "name": f"dev{i}", "is_usable": True,
                 "comment": "", "owner": "", "reserved": "", "dirty": False}
                for i in range(low, high)])
            names = [f"dev{i}" for i in range(low, high)]
            ids = session.scalars(select(ResourceData.id)
                                  .where(ResourceData.name.in_(names))).all()
            session.execute(insert(bench_models.BenchDevice.__table__),
                            [{"id": i} for i in ids])
        session.commit()
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    engine.dispose()


# --- servers --------------------------------------------------------------------

def server_env(url: str, workdir: str) -> dict[str, str]:
    return dict(os.environ, ROTEST_DATABASE_URL=url, ROTEST_WORKDIR=workdir,
                ROTEST_PLUGINS="bench_models", ROTEST_SECRET_KEY="bench",
                PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]))


class Servers:
    """Processes serving the API: gunicorn instances or ``rotest server``."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self._stops: list[Callable[[], None]] = []
        self.pids: list[int] = []

    def gunicorn(self, url: str, workdir: str, workers: int = 4,
                 threads: int = 32) -> "Servers":
        from rotest_app.serving import GunicornServer
        server = GunicornServer(server_env(url, workdir), workers=workers, threads=threads,
                                cwd=ROOT).start()
        self.urls.append(server.url)
        self.pids.append(server.process.pid)
        self._stops.append(server.stop)
        return self

    def development(self, url: str, workdir: str) -> "Servers":
        """``rotest server`` (Flask's threaded development server)."""
        import requests

        from rotest_app.serving import free_port
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-c", "from rotest_core.cli import main; main()", "server",
             "--port", str(port)], cwd=ROOT, env=server_env(url, workdir),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        address = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(address + "/api/v1/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            process.kill()
            raise RuntimeError("rotest server did not answer in time")
        self.urls.append(address)
        self.pids.append(process.pid)

        def stop() -> None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        self._stops.append(stop)
        return self

    def cpu_seconds(self) -> float:
        """User+system CPU of the server processes and their children so far."""
        return sum(_tree_cpu(pid) for pid in self.pids)

    def stop(self) -> None:
        for stop in self._stops:
            stop()


def _tree_cpu(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            total += sum(_tree_cpu(int(child)) for child in children)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


# --- clients --------------------------------------------------------------------

def make_client(target: str):
    """A lock client: ``target`` is a database URL (embedded) or
    'server-URL|token'."""
    import bench_models  # noqa: F401 - the resource model must be mapped
    from rotest_core.store import EmbeddedClient, RemoteClient
    if "|" not in target:
        return EmbeddedClient(target, USER)
    url, token = target.split("|")
    return RemoteClient(url, token)


# --- SQL per cycle ----------------------------------------------------------------

class StatementCounter:
    """Counts what a SQLAlchemy Engine sends: statements, BEGINs, COMMITs and
    ROLLBACKs (each a round trip on PostgreSQL when sent alone). With a
    :class:`WireCounter` between the engine and PostgreSQL, the round trips
    are counted on the wire instead."""

    def __init__(self, engine: Any, wire: "WireCounter | None" = None) -> None:
        from sqlalchemy import event
        self.counts = {"statements": 0, "begin": 0, "commit": 0, "rollback": 0}
        self.wire = wire
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def _statement(self, *args: Any) -> None:
        self.counts["statements"] += 1

    def _begin(self, *args: Any) -> None:
        self.counts["begin"] += 1

    def _commit(self, *args: Any) -> None:
        self.counts["commit"] += 1

    def _rollback(self, *args: Any) -> None:
        self.counts["rollback"] += 1

    def reset(self) -> None:
        for key in self.counts:
            self.counts[key] = 0
        if self.wire is not None:
            self.wire.round_trips = 0

    @property
    def round_trips(self) -> int:
        """On the wire when counted there; else statements, BEGINs, COMMITs
        and ROLLBACKs."""
        if self.wire is not None:
            return self.wire.round_trips
        return sum(self.counts.values())


class WireCounter:
    """A TCP relay to PostgreSQL that counts round trips: the server ends
    each answer (to a simple query, or to an extended-protocol Sync) with one
    ReadyForQuery message, so those are counted. Statements sent together in
    one message count once; a BEGIN or COMMIT sent alone counts once."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5432) -> None:
        import socket
        import threading
        self.round_trips = 0
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        """``url`` (PostgreSQL's) through this relay, without TLS (framing is
        read in the clear)."""
        from sqlalchemy.engine import make_url
        relayed = make_url(url).set(host="127.0.0.1", port=self.port)
        return relayed.update_query_dict({"sslmode": "disable", "gssencmode": "disable"}) \
            .render_as_string(hide_password=False)

    def _accept(self) -> None:
        import socket
        import threading
        while True:
            client, _ = self._listener.accept()
            server = socket.create_connection(self._upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pipe, args=(client, server, False),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True),
                             daemon=True).start()

    def _pipe(self, source: Any, target: Any, from_server: bool) -> None:
        buffer = b""
        try:
            while data := source.recv(65536):
                target.sendall(data)
                if from_server:
                    buffer = self._count(buffer + data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.close()
                except OSError:
                    pass

    def _count(self, buffer: bytes) -> bytes:
        """Count the whole ReadyForQuery messages in ``buffer``; returns the
        unfinished rest."""
        at = 0
        while len(buffer) - at >= 5:
            length = int.from_bytes(buffer[at + 1:at + 5], "big")
            if len(buffer) - at < 1 + length:
                break
            if buffer[at:at + 1] == b"Z":
                self.round_trips += 1
            at += 1 + length
        return buffer[at:]


#: Cycles timed for the in-process CPU figure.
CPU_CYCLES = 50


def sql_per_cycle(url: str, token: str | None, descriptor: dict[str, Any],
                  cycles: int = 5) -> tuple[float, float]:
    """(statements, round trips) of one lock+release cycle, counted in this
    process: through the Flask app (with ``token``) or the embedded engine.
    Sets ``sql_per_cycle.cpu``: this process's CPU seconds per cycle (the
    server's work without HTTP, one client: steadier than the servers' CPU
    on a shared machine)."""
    import bench_models  # noqa: F401
    if token is None:
        from rotest_core.store import EmbeddedClient
        client = EmbeddedClient(url, USER)
        counter = StatementCounter(client.engine)
        client.open()
        counter.reset()

        def cycle() -> None:
            resource, = client.lock([descriptor], timeout=5)
            client.release([resource["name"]])

        figures = _count_and_time(cycle, counter, cycles)
        client.close()
        return figures
    from rotest_app import create_app
    from rotest_app.models import db
    wire = WireCounter() if url.startswith("postgresql") else None
    app = create_app({"database_url": wire.url(url) if wire else url,
                      "plugins": ["bench_models"],
                      "secret_key": "bench", "workdir": str(ROOT / ".bench-workdir")})
    app.extensions["rotest_sweeper"].stop()  # its writes are per second, not per cycle
    headers = {"Authorization": f"Bearer {token}"}
    with app.app_context():
        counter = StatementCounter(db.engine, wire)
    http = app.test_client()
    session = http.post("/api/v1/sessions", json={}, headers=headers).get_json()["id"]

    def cycle() -> None:
        answer = http.post("/api/v1/locks", json={"session_id": session,
                                                  "descriptors": [descriptor]},
                           headers=headers).get_json()
        # Bound to its session, as the clients release.
        http.post("/api/v1/release", json={"resources": [answer["resources"][0]["name"]],
                                           "session_id": session}, headers=headers)

    for _ in range(8):
        # Warm: the first calls load what later ones reuse, and psycopg
        # prepares a statement on its fifth run (a round trip, once).
        cycle()
    counter.reset()
    figures = _count_and_time(cycle, counter, cycles)
    http.delete(f"/api/v1/sessions/{session}", headers=headers)
    with app.app_context():
        db.engine.dispose()
    return figures


def _count_and_time(cycle: Callable[[], None], counter: StatementCounter,
                    cycles: int) -> tuple[float, float]:
    """(statements, round trips) per cycle over ``cycles`` counted ones; then
    sets ``sql_per_cycle.cpu`` from :data:`CPU_CYCLES` more, timed."""
    for _ in range(cycles):
        cycle()
    counts, trips = dict(counter.counts), counter.round_trips
    began = time.process_time()
    for _ in range(CPU_CYCLES):
        cycle()
    sql_per_cycle.cpu = (time.process_time() - began) / CPU_CYCLES
    return counts["statements"] / cycles, trips / cycles
