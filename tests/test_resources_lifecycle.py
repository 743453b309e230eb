"""BaseResource on the client, without a lock engine: Rotest's lifecycle order,
error collection, parallel initialization, data pointers and work directories.

Resources here record every lifecycle step into a shared list; a service takes
its behaviour from its request's arguments (``Part.request(name="left",
fail="initialize")``), which become its data fields.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from lab_plugin import DeviceData, PortData
from rotest_core.resources import BaseResource, ResourceLifecycleError

STEPS = ("connect", "validate", "initialize", "finalize", "store_state")


@pytest.fixture
def events() -> list[tuple[str, str]]:
    Recording.events = []
    return Recording.events


class Recording(BaseResource):
    """Records each step as (step, name); ``fail`` names steps that raise;
    ``valid`` is what validate() answers."""

    events: list[tuple[str, str]] = []

    def _step(self, step: str) -> None:
        self.events.append((step, self.name))
        if step in str(self.data.get("fail", "")).split(","):
            raise RuntimeError(f"{step} of {self.name} broke")

    def connect(self) -> None:
        super().connect()
        self._step("connect")

    def validate(self) -> bool:
        self._step("validate")
        return bool(self.data.get("valid", False))

    def initialize(self) -> None:
        super().initialize()
        self._step("initialize")

    def finalize(self) -> None:
        try:
            super().finalize()
        finally:
            self._step("finalize")

    def store_state(self, state_dir) -> None:
        try:
            super().store_state(state_dir)
        finally:
            Path(state_dir).mkdir(parents=True, exist_ok=True)
            (Path(state_dir) / "state.txt").write_text(self.name)
            self._step("store_state")


class Part(Recording):
    """A service: no DATA_CLASS, built from its request's arguments."""


def machine(parallel: bool = False, **parts: dict) -> BaseResource:
    """A service made of Parts, one per keyword (its request's arguments)."""
    fields = {name: Part.request(name=name, **kwargs) for name, kwargs in parts.items()}
    cls = type("Machine", (Recording,), {"PARALLEL_INITIALIZATION": parallel, **fields})
    return cls(name="machine")


def steps(events, step: str) -> list[str]:
    return [name for done, name in events if done == step]


# ---------------------------------------------------------------------------
# Order and conditions
# ---------------------------------------------------------------------------

def test_sub_resources_connect_and_initialize_before_their_parent(events):
    m = machine(left={}, right={})
    m.setup_resource()
    assert events == [
        ("connect", "left"), ("connect", "right"), ("connect", "machine"),
        ("validate", "left"), ("initialize", "left"),
        ("validate", "right"), ("initialize", "right"),
        ("validate", "machine"), ("initialize", "machine"),
    ]


def test_initialize_runs_only_when_validate_returns_false(events):
    machine(left={"valid": True}, right={}).setup_resource()
    assert steps(events, "validate") == ["left", "right", "machine"]
    assert steps(events, "initialize") == ["right", "machine"]


def test_force_initialize_initializes_even_valid_resources(events):
    machine(left={"valid": True}).setup_resource(force_initialize=True)
    assert steps(events, "initialize") == ["left", "machine"]
    assert steps(events, "validate") == []  # forced: no need to ask


def test_skip_init_connects_only(events):
    machine(left={}).setup_resource(skip_init=True)
    assert events == [("connect", "left"), ("connect", "machine")]


def test_force_initialize_wins_over_skip_init(events):
    # A dirty resource is force-initialized even in a --skip-init run (Rotest).
    machine(left={"valid": True}).setup_resource(skip_init=True, force_initialize=True)
    assert steps(events, "initialize") == ["left", "machine"]


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------

def test_failed_initialize_is_followed_by_finalize(events):
    m = machine(left={"fail": "initialize"}, right={})
    with pytest.raises(RuntimeError, match="initialize of left broke"):
        m.setup_resource()
    assert steps(events, "initialize") == ["left"]  # stopped there
    # The resource being set up is finalized, and with it every sub-resource.
    assert steps(events, "finalize") == ["left", "right", "machine"]


def test_failed_connect_is_not_finalized(events):
    # As in Rotest: nothing was initialized, so there is nothing to undo.
    with pytest.raises(RuntimeError, match="connect of left broke"):
        machine(left={"fail": "connect"}).setup_resource()
    assert steps(events, "finalize") == []


def test_finalize_reaches_every_sub_resource_and_names_all_failures(events):
    m = machine(a={"fail": "finalize"}, b={}, c={"fail": "finalize"})
    with pytest.raises(ResourceLifecycleError) as caught:
        m.finalize()
    assert steps(events, "finalize") == ["a", "b", "c", "machine"]
    message = str(caught.value)
    assert "finalize failed for 2 sub-resource(s) of machine" in message
    assert "a: RuntimeError: finalize of a broke" in message
    assert "c: RuntimeError: finalize of c broke" in message
    assert "b:" not in message


def test_store_state_reaches_every_sub_resource_in_its_own_folder(events, tmp_path):
    m = machine(a={"fail": "store_state"}, b={})
    with pytest.raises(ResourceLifecycleError, match="store_state failed for 1 .*a: "):
        m.store_state(tmp_path / "state")
    assert steps(events, "store_state") == ["a", "b", "machine"]
    assert (tmp_path / "state" / "b" / "state.txt").read_text() == "b"
    assert (tmp_path / "state" / "state.txt").read_text() == "machine"


def test_nested_failures_are_named_through_every_level(events):
    inner = type("Inner", (Recording,), {"leaf": Part.request(name="leaf", fail="finalize")})
    outer = type("Outer", (Recording,), {"inner": inner.request(name="inner")})
    with pytest.raises(ResourceLifecycleError, match="inner: .*leaf: RuntimeError"):
        outer(name="outer").finalize()
    assert steps(events, "finalize") == ["leaf", "inner", "outer"]


# ---------------------------------------------------------------------------
# PARALLEL_INITIALIZATION
# ---------------------------------------------------------------------------

class Meeting(Recording):
    """Initializes only when a second one initializes at the same time."""

    barrier: threading.Barrier

    def initialize(self) -> None:
        super().initialize()
        self.barrier.wait()


def meeting_machine(parallel: bool, timeout: float) -> BaseResource:
    Meeting.barrier = threading.Barrier(2, timeout=timeout)
    cls = type("Machine", (Recording,), {"PARALLEL_INITIALIZATION": parallel,
                                         "a": Meeting.request(name="a"),
                                         "b": Meeting.request(name="b")})
    return cls(name="machine")


def test_parallel_initialization_runs_sub_resources_at_once(events):
    meeting_machine(parallel=True, timeout=10).setup_resource()
    assert sorted(steps(events, "initialize")[:2]) == ["a", "b"]
    assert steps(events, "initialize")[2] == "machine"  # after both joined


def test_without_parallel_initialization_sub_resources_run_one_by_one(events):
    # The control for the test above: one at a time, the barrier never fills.
    with pytest.raises(threading.BrokenBarrierError):
        meeting_machine(parallel=False, timeout=0.3).setup_resource()


def test_parallel_failures_all_logged_first_raised_after_join(events, caplog):
    started = threading.Barrier(3, timeout=10)

    class Slow(Part):
        def initialize(self) -> None:
            started.wait()  # all three run at once; "late" fails after "early"
            if self.name == "late":
                threading.Event().wait(0.2)
            super().initialize()

    cls = type("Machine", (Recording,), {
        "PARALLEL_INITIALIZATION": True,
        "late": Slow.request(name="late", fail="initialize"),
        "early": Slow.request(name="early", fail="initialize"),
        "fine": Slow.request(name="fine")})
    with caplog.at_level(logging.ERROR, logger="rotest.resources"):
        with pytest.raises(RuntimeError, match="initialize of late broke"):
            cls(name="machine").setup_resource()
    # Raised after every thread ended: the good one finished its initialize.
    assert sorted(steps(events, "initialize")) == ["early", "fine", "late"]
    logged = [r.getMessage() for r in caplog.records]
    assert "initializing late failed" in logged
    assert "initializing early failed" in logged
    assert "machine" not in steps(events, "initialize")


# ---------------------------------------------------------------------------
# Data, data pointers, services, work directories
# ---------------------------------------------------------------------------

class Port(Recording):
    DATA_CLASS = PortData


class Pinger(Recording):
    """A service that gets its address from its parent's data."""


class Device(Recording):
    DATA_CLASS = DeviceData
    port = Port.request(data=DeviceData.port)
    pinger = Pinger.request(ip_address=DeviceData.ip_address, count=3)


DEVICE = {"type": "DeviceData", "name": "dev1", "ip_address": "10.0.0.1",
          "mode": "normal", "comment": "", "dirty": False,
          "port": {"type": "PortData", "name": "port1", "number": 7, "comment": ""}}


def test_sub_resource_gets_the_parents_nested_data():
    device = Device(data=DEVICE)
    assert isinstance(device.port, Port)
    assert device.port.name == "port1"
    assert device.port.data.number == 7
    assert device.port.number == 7  # Rotest style
    assert device.port.parent is device
    assert list(device.get_sub_resources()) == [device.port, device.pinger]


def test_an_empty_sub_resource_field_makes_no_sub_resource(events):
    device = Device(data={**DEVICE, "port": None})
    assert device.port is None
    assert list(device.get_sub_resources()) == [device.pinger]
    device.setup_resource()
    assert steps(events, "connect") == [device.pinger.name, "dev1"]


def test_service_gets_the_value_a_pointer_names():
    device = Device(data=DEVICE)
    assert device.pinger.data.ip_address == "10.0.0.1"
    assert device.pinger.ip_address == "10.0.0.1"
    assert device.pinger.count == 3
    assert device.pinger.DATA_CLASS is None
    assert device.pinger.parent is device


def test_fields_read_as_data_and_as_attributes():
    device = Device(data=DEVICE)
    assert device.data.ip_address == device.ip_address == "10.0.0.1"
    assert device.data["mode"] == device.mode == "normal"
    assert device.name == "dev1"
    with pytest.raises(AttributeError, match="no field 'missing'"):
        device.data.missing
    with pytest.raises(AttributeError, match="read-only"):
        device.data.ip_address = "10.9.9.9"


def test_every_resource_gets_a_work_directory_under_its_parents(tmp_path):
    device = Device(data=DEVICE, base_work_dir=tmp_path)
    assert device.work_dir == tmp_path / "dev1"
    assert device.port.work_dir == tmp_path / "dev1" / "port1"
    assert device.pinger.work_dir == tmp_path / "dev1" / "pinger"  # the field's name
    assert all(path.is_dir() for path in (device.work_dir, device.port.work_dir,
                                          device.pinger.work_dir))


def test_set_work_dir_moves_the_whole_family(tmp_path):
    device = Device(data=DEVICE)
    assert device.work_dir is None
    device.set_work_dir(tmp_path / "test1")
    assert device.port.work_dir == tmp_path / "test1" / "dev1" / "port1"
