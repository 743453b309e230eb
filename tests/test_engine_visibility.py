"""The one rule of who sees and takes what (rotest_app.engine.policy), at the
engine: the cases cheaper to set up here than over HTTP (see
test_security_visibility.py for the attacks against the real server)."""
from __future__ import annotations

import pytest
from sqlalchemy import Index, String, UniqueConstraint, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import lab_plugin as lab_models
from rotest_app.engine import InvalidRequest, NotFound, PermissionDenied
from rotest_app.models import Group, User
from engine_helpers import Lab, dev


@pytest.fixture
def lab(database_url):
    """d1 wired to p1, d2 wired to p2; group qa (carol's); root is an admin in
    no group; alice and bob in none."""
    lab = Lab(database_url)
    lab.add_group("qa")
    lab.root = lab.add_user("root", is_admin=True)
    lab.alice = lab.add_user("alice")
    lab.bob = lab.add_user("bob")
    lab.carol = lab.add_user("carol", groups=("qa",))
    lab.add(lab_models.PortData, "p1", number=1)
    lab.add(lab_models.PortData, "p2", number=2)
    lab.add(lab_models.DeviceData, "d1", port="p1")
    lab.add(lab_models.DeviceData, "d2", port="p2")
    yield lab
    lab.dispose()


def qa_id(lab: Lab) -> int:
    with Session(lab.engine) as s:
        return s.scalar(select(Group.id).filter_by(name="qa"))


def demote(lab: Lab, username: str) -> None:
    with Session(lab.engine) as s:
        s.scalar(select(User).filter_by(username=username)).is_admin = False
        s.commit()


def test_a_waiting_request_never_gets_a_part_hidden_since(lab):
    """alice waits for d1; meanwhile an admin puts d1's port in group qa. When
    bob lets d1 go, the grant would take the port: it does not happen."""
    lab.bob.lock(lab.bob.session(), [dev(name="d1")])
    waiting = lab.alice.lock(lab.alice.session(), [dev(name="d1")], timeout=30)
    assert waiting["state"] == "waiting"
    lab.root.update_fields("PortData", {"name": "p1"}, {"group_id": qa_id(lab)})
    lab.bob.release(["d1"])
    state = lab.alice.get_request(waiting["id"])
    assert state["state"] == "waiting", state
    assert lab.row("p1")["owner"] == "" and lab.row("d1")["owner"] == ""
    # Hidden whole from alice now; carol, in qa, takes all of it.
    assert lab.alice.query("DeviceData", {"name": "d1"}) == []
    assert lab.carol.names(lab.carol.lock(lab.carol.session(), [dev(name="d1")])) \
        == ["d1"]
    assert lab.row("p1")["owner"] == "carol"


def test_an_admin_is_told_which_part_blocks(lab):
    lab.root.update_fields("PortData", {"name": "p2"}, {"group_id": qa_id(lab)})
    with pytest.raises(PermissionDenied) as raised:
        lab.root.lock(lab.root.session(), [dev(name="d2")])
    assert "d2 is made of p2" in raised.value.message and "qa" in raised.value.message
    with pytest.raises(NotFound) as hidden:
        lab.alice.lock(lab.alice.session(), [dev(name="d2")])
    with pytest.raises(NotFound) as missing:
        lab.alice.lock(lab.alice.session(), [dev(name="d9")])
    assert hidden.value.message.replace("d2", "X") == missing.value.message.replace(
        "d9", "X")


def test_filters_follow_only_parts_for_non_admins(lab):
    """A filter through a relation reaches only the parts of the filtered
    resource: hidden with it, never read on their own."""
    lab.root.update_fields("PortData", {"name": "p2"}, {"group_id": qa_id(lab),
                                                        "comment": "secret"})
    for filters in ({"port__comment": "secret"}, {"port__comment": "other"},
                    {"port__group__name": "qa"}):
        assert lab.alice.query("DeviceData", filters) == []
    assert [r["name"] for r in lab.root.query("DeviceData", {"port__comment": "secret"})
            ] == ["d2"]


def test_engine_fields_answer_as_unknown_fields_to_non_admins(lab):
    for field in ("session_id", "owner", "owner_time", "reserved_time"):
        with pytest.raises(InvalidRequest) as raised:
            lab.alice.query("PortData", {field: "x"})
        with pytest.raises(InvalidRequest) as unknown:
            lab.alice.query("PortData", {"nosuch": "x"})
        assert raised.value.message.replace(field, "F") == \
            unknown.value.message.replace("nosuch", "F")
        assert raised.value.details["known"] == unknown.value.details["known"]
        assert field not in raised.value.details["known"]
    assert lab.root.query("PortData", {"owner": ""}) != []


def test_serve_ends_a_request_its_user_may_no_longer_make(lab):
    """A request whose filters its user may no longer use (an admin demoted
    while it waited) is ended, and the queue goes on serving the others."""
    lab.bob.lock(lab.bob.session(), [dev(name="d1"), dev(name="d2")])
    stale = lab.root.lock(lab.root.session(), [dev(reserved_time__isnull=True)], timeout=30)
    fresh = lab.alice.lock(lab.alice.session(), [dev(name="d2")], timeout=30)
    assert stale["state"] == fresh["state"] == "waiting"
    demote(lab, "root")
    lab.bob.release(["d1", "d2"])
    assert lab.request_state(stale["id"]) == "timed_out"
    assert lab.request_state(fresh["id"]) == "granted"


class _Base(DeclarativeBase):
    pass


class _Gadget(_Base):
    """A model of its own metadata: unique columns three ways."""

    __tablename__ = "gadget"
    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(20), unique=True)
    mac: Mapped[str] = mapped_column(String(20))
    slot: Mapped[int] = mapped_column()
    rack: Mapped[int] = mapped_column()
    colour: Mapped[str] = mapped_column(String(20))
    __table_args__ = (UniqueConstraint("mac"), Index("ix_slot_rack", "slot", "rack",
                                                      unique=True))


def test_only_admins_set_references_unique_and_access_fields():
    from rotest_app.engine.policy import admin_only_fields
    guarded = admin_only_fields(lab_models.DeviceData)
    assert {"port_id", "name", "group_id", "reserved", "reserved_time"} <= guarded
    assert not {"mode", "ip_address", "comment", "is_usable", "dirty"} & guarded
    assert admin_only_fields(_Gadget) >= {"serial", "mac", "slot", "rack"}
    assert "colour" not in admin_only_fields(_Gadget)


def test_a_held_resource_never_shows_a_part_wired_in_since(lab):
    """An admin rewires the device alice holds to a port of group qa: she
    still sees and may release her device, never the port's fields."""
    sid = lab.alice.session()
    lab.alice.lock(sid, [dev(name="d1")])
    lab.root.update_fields("PortData", {"name": "p2"}, {"group_id": qa_id(lab),
                                                        "comment": "secret"})
    p2 = lab.root.query("PortData", {"name": "p2"})[0]["id"]
    lab.root.update_fields("DeviceData", {"name": "d1"}, {"port_id": p2})
    for answer in (lab.alice.query("DeviceData", {"name": "d1"}),
                   lab.alice.update_fields("DeviceData", {"name": "d1"}, {"mode": "x"})):
        assert answer[0]["port"] is None and answer[0]["port_id"] is None
        assert "secret" not in str(answer)
    assert lab.root.query("DeviceData", {"name": "d1"})[0]["port"]["comment"] == "secret"
    again = lab.alice.lock(lab.alice.session(), [dev(name="d1")])
    assert again["state"] == "timed_out" and "p2" not in again["message"]
    assert lab.alice.release(["d1"]) == ["d1"]
    assert lab.alice.query("DeviceData", {"name": "d1"}) == []
