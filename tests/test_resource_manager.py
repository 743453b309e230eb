"""ResourceManager over both real lock clients: the embedded one on a SQLite
file, and the remote one against the Flask app served on a local port.

Resources record their lifecycle steps; what the lock engine holds is read
straight from the database, not through the client under test.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Iterator

import pytest

from api_helpers import add_user
from engine_helpers import Lab
from lab_plugin import DeviceData, PortData
from rotest_core.resources import (BaseResource, ResourceManager, ResourceRequest,
                                   ResourceUnavailableError, ServerError)
from rotest_core.store import EmbeddedClient, RemoteClient
from server_process import ThreadedServer

USER = "tester"


# ---------------------------------------------------------------------------
# Resources that count what happens to them
# ---------------------------------------------------------------------------

class Counting(BaseResource):
    """Counts steps per resource name; fails a step named in ``FAIL``."""

    counts: dict[tuple[str, str], int] = {}
    FAIL: set[tuple[str, str]] = set()
    VALID = True

    def _step(self, step: str) -> None:
        key = (step, self.name)
        self.counts[key] = self.counts.get(key, 0) + 1
        if key in self.FAIL:
            raise RuntimeError(f"{step} of {self.name} broke")

    def connect(self) -> None:
        super().connect()
        self._step("connect")

    def validate(self) -> bool:
        return self.VALID

    def initialize(self) -> None:
        super().initialize()
        self._step("initialize")

    def finalize(self) -> None:
        try:
            super().finalize()
        finally:
            self._step("finalize")


class Port(Counting):
    DATA_CLASS = PortData


class Pinger(Counting):
    """A service: built locally, never locked."""


class Device(Counting):
    DATA_CLASS = DeviceData
    port = Port.request(data=DeviceData.port)
    pinger = Pinger.request(ip_address=DeviceData.ip_address)


def count(step: str, name: str) -> int:
    return Counting.counts.get((step, name), 0)


@pytest.fixture(autouse=True)
def fresh_counts():
    Counting.counts, Counting.FAIL = {}, set()


def req(key: str, resource: type[BaseResource] = Device, /, **filters: Any
        ) -> ResourceRequest:
    return ResourceRequest(key, resource, **filters)


# ---------------------------------------------------------------------------
# The lab and the two clients
# ---------------------------------------------------------------------------

@pytest.fixture
def lab(tmp_path) -> Iterator[Lab]:
    """dev1 (wired to port1), dev2 and dev3, in a fresh SQLite file."""
    lab = Lab(f"sqlite:///{tmp_path / 'rotest.db'}")
    lab.add(PortData, "port1", number=1)
    lab.add(DeviceData, "dev1", ip_address="10.0.0.1", port="port1")
    lab.add(DeviceData, "dev2", ip_address="10.0.0.2")
    lab.add(DeviceData, "dev3", ip_address="10.0.0.3")
    yield lab
    lab.dispose()


@pytest.fixture
def flask_app(lab, tmp_path, monkeypatch):
    from rotest_app import create_app
    monkeypatch.chdir(tmp_path)  # no stray rotest.yml
    app = create_app({"database_url": lab.url, "plugins": ["lab_plugin"],
                      "workdir": str(tmp_path / "server"), "secret_key": "test",
                      "sweep_interval": 0.3})
    yield app
    app.extensions["rotest_sweeper"].stop()


@pytest.fixture
def token(flask_app) -> str:
    return add_user(flask_app, USER)


@pytest.fixture(params=["embedded", "remote"])
def client(request, lab):
    """Each test that takes it runs with both lock clients."""
    if request.param == "embedded":
        yield EmbeddedClient(lab.url, username=USER)
        return
    app, token = request.getfixturevalue("flask_app"), request.getfixturevalue("token")
    server = ThreadedServer(app)
    yield RemoteClient(f"http://127.0.0.1:{server.port}", token, retry_seconds=2)
    server.stop()


@pytest.fixture
def manager(client) -> Iterator[ResourceManager]:
    manager = ResourceManager(client)
    yield manager
    manager.close()


def held(lab: Lab) -> set[str]:
    return {name for name, session in lab.holders().items() if session is not None}


# ---------------------------------------------------------------------------
# Lock and set up
# ---------------------------------------------------------------------------

def test_lock_builds_and_sets_up_the_resource_with_its_family(manager, lab):
    got = manager.request_resources([req("dev", name="dev1")])
    dev = got["dev"]
    assert isinstance(dev, Device) and dev.name == "dev1"
    assert dev.data.ip_address == dev.ip_address == "10.0.0.1"
    assert dev.port.data.number == 1 and dev.port.parent is dev
    assert dev.pinger.ip_address == "10.0.0.1"
    assert held(lab) == {"dev1", "port1"}
    assert lab.row("dev1")["owner"] == USER
    assert [count("connect", n) for n in ("port1", "dev1")] == [1, 1]
    assert count("initialize", "dev1") == 0  # valid: no initialize needed


def test_services_are_never_sent_to_the_lock_engine(manager, lab):
    sent: list[list[dict]] = []
    real_lock = manager.client.lock

    def spy(descriptors, **options):
        sent.append(descriptors)
        return real_lock(descriptors, **options)

    manager.client.lock = spy
    got = manager.request_resources([req("dev", name="dev2"),
                                     req("ping", Pinger, ip_address="10.1.1.1")])
    assert sent == [[{"type": "DeviceData", "properties": {"name": "dev2"}}]]
    assert got["ping"].ip_address == "10.1.1.1"
    assert got["ping"].name == "ping"  # a service is named after its request
    assert count("connect", "ping") == 1


class NoClient:
    """A lock client that fails the test when used."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the lock client was used: {name}")


def test_services_alone_need_no_lock_client():
    manager = ResourceManager(NoClient())
    pinger = manager.request_resources([req("p", Pinger, ip_address="10.1.1.1")])["p"]
    assert pinger.ip_address == "10.1.1.1" and count("connect", pinger.name) == 1
    manager.release_resources([pinger])
    manager.close()
    assert count("finalize", pinger.name) == 1


def test_work_directories_per_resource(manager, tmp_path):
    dev = manager.request_resources([req("dev", name="dev1")],
                                    base_work_dir=tmp_path / "test1")["dev"]
    assert dev.work_dir == tmp_path / "test1" / "dev1"
    assert dev.port.work_dir == tmp_path / "test1" / "dev1" / "port1"
    assert dev.port.work_dir.is_dir()


def test_unavailable_resources_raise_after_the_timeout(manager, lab, client):
    other = EmbeddedClient(lab.url, username="someone")
    other.open()
    try:
        other.lock([{"type": "DeviceData", "properties": {"name": "dev2"}}])
        with pytest.raises(ResourceUnavailableError):
            manager.request_resources([req("dev", name="dev2")], timeout=0.3)
    finally:
        other.close()


# ---------------------------------------------------------------------------
# The smart client, dirty releases
# ---------------------------------------------------------------------------

def test_smart_client_reuses_the_same_object_for_the_same_request(manager, lab, tmp_path):
    first = manager.request_resources([req("dev", name="dev1")],
                                      base_work_dir=tmp_path / "test1")["dev"]
    manager.release_resources({"dev": first})
    assert held(lab) == {"dev1", "port1"}  # kept, not released
    again = manager.request_resources([req("dev", name="dev1")],
                                      base_work_dir=tmp_path / "test2")["dev"]
    assert again is first
    assert again.port.work_dir == tmp_path / "test2" / "dev1" / "port1"
    assert count("connect", "dev1") == 1
    assert count("finalize", "dev1") == 0


def test_smart_client_releases_kept_resources_another_request_does_not_want(manager, lab):
    first = manager.request_resources([req("dev", name="dev1")])["dev"]
    manager.release_resources([first])
    manager.request_resources([req("dev", name="dev2")])
    assert count("finalize", "dev1") == 1
    assert held(lab) == {"dev2"}


def test_without_the_smart_client_release_gives_back(client, lab):
    manager = ResourceManager(client, smart=False)
    try:
        first = manager.request_resources([req("dev", name="dev1")])["dev"]
        manager.release_resources([first])
        assert held(lab) == set()
        assert count("finalize", "dev1") == count("finalize", "port1") == 1
        assert manager.request_resources([req("dev", name="dev1")])["dev"] is not first
    finally:
        manager.close()


def test_a_dirty_release_makes_the_next_lock_force_initialize(manager, lab):
    dev = manager.request_resources([req("dev", name="dev1")])["dev"]
    assert count("initialize", "dev1") == 0
    manager.release_resources([dev], dirty=True)  # even with the smart client
    assert held(lab) == set()
    assert lab.row("dev1")["dirty"] and lab.row("port1")["dirty"]
    again = manager.request_resources([req("dev", name="dev1")])["dev"]
    assert again is not dev and again.data.dirty is True
    # Valid, yet initialized: it was left in an unknown state.
    assert count("initialize", "dev1") == count("initialize", "port1") == 1
    manager.release_resources([again], force_release=True)
    assert lab.row("dev1")["dirty"] is False


# ---------------------------------------------------------------------------
# Failures give everything back
# ---------------------------------------------------------------------------

def test_a_failed_set_up_releases_everything_locked_in_the_request(manager, lab):
    Counting.FAIL = {("connect", "dev2")}
    with pytest.raises(RuntimeError, match="connect of dev2 broke"):
        manager.request_resources([req("a", name="dev1"), req("b", name="dev2")])
    assert held(lab) == set()
    assert count("finalize", "dev1") == 1  # the one set up is finalized
    assert lab.row("dev2")["dirty"] is True  # the failed one's state is unknown
    assert lab.row("dev1")["dirty"] is False


def test_a_failed_set_up_releases_all_even_when_finalize_fails_too(manager, lab):
    Counting.FAIL = {("finalize", "dev1"), ("initialize", "dev2")}
    Counting.VALID = False
    try:
        with pytest.raises(RuntimeError, match="initialize of dev2 broke"):
            manager.request_resources([req("a", name="dev1"), req("b", name="dev2")])
    finally:
        Counting.VALID = True
    assert held(lab) == set()
    assert lab.row("dev1")["dirty"] is True  # its finalize failed


def test_resources_not_yet_set_up_keep_their_dirty_flag(manager, lab):
    dirty = manager.request_resources([req("d", name="dev2")])["d"]
    manager.release_resources([dirty], dirty=True)
    Counting.counts.clear()
    Counting.FAIL = {("connect", "dev1")}
    with pytest.raises(RuntimeError):
        manager.request_resources([req("a", name="dev1"), req("b", name="dev2"),
                                   req("c", name="dev3")])
    assert held(lab) == set()
    assert count("connect", "dev2") == count("connect", "dev3") == 0
    # Never set up: dev2 must still be initialized by its next user, dev3 not.
    assert (lab.row("dev2")["dirty"], lab.row("dev3")["dirty"]) == (True, False)


def test_a_failed_request_keeps_the_resources_it_reused(manager, lab):
    first = manager.request_resources([req("a", name="dev1")])["a"]
    manager.release_resources([first])
    Counting.FAIL = {("connect", "dev2")}
    with pytest.raises(RuntimeError):
        manager.request_resources([req("a", name="dev1"), req("b", name="dev2")])
    assert held(lab) == {"dev1", "port1"}  # still kept for a later test
    Counting.FAIL = set()
    assert manager.request_resources([req("a", name="dev1")])["a"] is first
    manager.close()
    assert held(lab) == set() and count("finalize", "dev1") == 1


def test_close_releases_kept_and_forgotten_resources(client, lab):
    manager = ResourceManager(client)
    kept = manager.request_resources([req("a", name="dev1")])["a"]
    manager.release_resources([kept])
    manager.request_resources([req("a", name="dev1"), req("b", name="dev2")],
                              use_previous=True)
    manager.close()
    assert held(lab) == set()
    assert count("finalize", "dev1") == count("finalize", "dev2") == 1
    assert lab.row("dev2")["dirty"] is True  # never given back by its test
    assert client.session_id is None


# ---------------------------------------------------------------------------
# BaseResource.lock() for scripts and the shell (embedded mode)
# ---------------------------------------------------------------------------

@pytest.fixture
def shell_env(tmp_path, monkeypatch):
    """The shell's configuration: embedded, workdir in tmp, the lab plugin."""
    import rotest_core.resources.manager as manager_module
    monkeypatch.chdir(tmp_path)
    for name in ("ROTEST_HOST", "ROTEST_CONFIG", "ROTEST_DATABASE_URL", "ROTEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROTEST_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("ROTEST_PLUGINS", "lab_plugin")
    monkeypatch.setattr(manager_module, "_shell_manager", None)
    from rotest_core.embedded_db import prepare_database
    url = f"sqlite:///{tmp_path / 'work' / 'rotest.db'}"
    prepare_database(url, ["lab_plugin"])
    lab = Lab(url, create=False)
    lab.add(DeviceData, "dev1", ip_address="10.0.0.1")
    yield lab
    if manager_module._shell_manager is not None:
        manager_module._shell_manager.close()
    lab.dispose()


def test_lock_and_release_for_scripts(shell_env):
    dev = Device.lock(name="dev1")
    assert isinstance(dev, Device) and dev.ip_address == "10.0.0.1"
    assert count("connect", "dev1") == 1
    assert held(shell_env) == {"dev1"}
    dev.release(dirty=True)
    assert held(shell_env) == set()
    assert count("finalize", "dev1") == 1
    assert shell_env.row("dev1")["dirty"] is True


# ---------------------------------------------------------------------------
# The remote client: a server that restarts, leases kept by heartbeat
# ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remote_client_retries_while_the_server_is_down(flask_app, token, lab, caplog):
    port = free_port()
    client = RemoteClient(f"http://127.0.0.1:{port}", token, retry_seconds=20)
    servers: list[ThreadedServer] = []
    starter = threading.Timer(1.0, lambda: servers.append(ThreadedServer(flask_app, port)))
    starter.start()
    try:
        with caplog.at_level(logging.WARNING):
            client.open(lease_seconds=30)
        assert servers, "open() returned before the server existed"
        assert "unreachable" in caplog.text  # it was refused first, and waited
        assert client.lock([{"type": "DeviceData", "properties": {"name": "dev2"}}])
        assert held(lab) == {"dev2"}
    finally:
        starter.join()
        client.close()
        for server in servers:
            server.stop()


def test_remote_client_takes_its_proxy_from_the_environment(flask_app, token, monkeypatch):
    """Read once, when the client is made (requests alone reads it again on
    every call): a proxy is used, and no_proxy is honoured."""
    server = ThreadedServer(flask_app)
    url = f"http://127.0.0.1:{server.port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "all_proxy",
                 "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        with socket.socket() as proxy:  # accepts connections, never answers
            proxy.bind(("127.0.0.1", 0))
            proxy.listen()
            monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.getsockname()[1]}")
            monkeypatch.setenv("no_proxy", "example.invalid")
            through = RemoteClient(url, token, retry_seconds=0.5)
            monkeypatch.setenv("no_proxy", "127.0.0.1")
            direct = RemoteClient(url, token)
            assert direct.call("GET", "/whoami")[1]["username"] == USER
            with pytest.raises(ServerError, match="no answer within 0.3 s"):
                through.call("GET", "/whoami", read_timeout=0.3)  # sent to the proxy
    finally:
        server.stop()


def test_remote_client_gives_up_with_a_clear_error(token):
    client = RemoteClient(f"http://127.0.0.1:{free_port()}", token, retry_seconds=0.5)
    with pytest.raises(ServerError, match="cannot reach the rotest server.*Is it running"):
        client.open()


def test_remote_client_reports_a_server_that_does_not_answer():
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = RemoteClient(f"http://127.0.0.1:{silent.getsockname()[1]}", "token",
                                  retry_seconds=1)
        # A GET may be asked again: it is, until the client's patience runs out.
        with pytest.raises(ServerError, match=r"tried for [\d.]+ s of the 1 s .*"
                                              r"last: no answer within 0.3 s"):
            client.call("GET", "/whoami", read_timeout=0.3)
        # A POST may have been done: it is not sent twice.
        began = time.monotonic()
        with pytest.raises(ServerError, match="POST /sessions to the rotest server .* "
                                              "failed.*may or may not have been done"):
            client.call("POST", "/sessions", {}, read_timeout=0.3)
        assert time.monotonic() - began < 1, "the POST was sent again"


def test_heartbeat_keeps_a_short_lease_alive(flask_app, token, lab):
    server = ThreadedServer(flask_app)
    client = RemoteClient(f"http://127.0.0.1:{server.port}", token)
    try:
        client.open(lease_seconds=2)
        client.lock([{"type": "DeviceData", "properties": {"name": "dev1"}}])
        time.sleep(5)  # two and a half leases; the sweeper runs every 0.3 s
        assert lab.row("dev1")["session_id"] == client.session_id
        assert lab.session_state(client.session_id) == "active"
        # The control: without the heartbeat, the same lease runs out.
        client._stop.set()
        deadline = time.monotonic() + 10
        while lab.row("dev1")["session_id"] is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lab.row("dev1")["session_id"] is None
    finally:
        client.close()
        server.stop()


def test_lock_requests_stand_for_heartbeats(lab, monkeypatch):
    """Each lock request renews the lease: a client that locks more often than
    it would beat sends no heartbeat; idle, it beats again and keeps its lease."""
    import rotest_app.engine as lock_engine
    real, calls = lock_engine.heartbeat, []

    def counted(*args, **kwargs):
        calls.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(lock_engine, "heartbeat", counted)
    client = EmbeddedClient(lab.url, username=USER)
    client.open(lease_seconds=3)  # a beat every second when idle
    try:
        until = time.monotonic() + 3
        while time.monotonic() < until:  # three beats' time, locking every 0.1 s
            resource, = client.lock([{"type": "DeviceData", "properties": {"name": "dev2"}}])
            client.release([resource["name"]])
            time.sleep(0.1)
        busy = len(calls)
        assert busy <= 1, f"{busy} heartbeats while locking every 0.1 s"
        client.lock([{"type": "DeviceData", "properties": {"name": "dev1"}}])
        time.sleep(4)  # idle past its lease
        other = EmbeddedClient(lab.url, username="other")
        other.query("DeviceData")  # an engine operation: reaps expired sessions first
        other.close()
        assert len(calls) - busy >= 2
        assert lab.row("dev1")["session_id"] == client.session_id
    finally:
        client.close()


def test_embedded_heartbeat_survives_a_failed_beat(lab, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import rotest_app.engine as lock_engine
    real, calls = lock_engine.heartbeat, []

    def flaky(*args, **kwargs):
        calls.append(time.monotonic())
        if len(calls) == 1:  # e.g. SQLite busy beyond its timeout
            raise OperationalError("heartbeat", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(lock_engine, "heartbeat", flaky)
    client = EmbeddedClient(lab.url, username=USER)
    client.open(lease_seconds=1.5)  # a beat every 0.5 s
    try:
        client.lock([{"type": "DeviceData", "properties": {"name": "dev1"}}])
        time.sleep(3.2)  # two leases
        other = EmbeddedClient(lab.url, username="other")
        other.query("DeviceData")  # an engine operation: reaps expired sessions first
        other.close()
        assert len(calls) >= 4
        assert lab.row("dev1")["session_id"] == client.session_id
    finally:
        client.close()
