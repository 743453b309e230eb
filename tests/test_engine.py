"""The lock engine's rules, through its public API, on SQLite and PostgreSQL.

The engine is used the way the embedded client uses it: ``open_engine(url)``,
tables from ``db.metadata``, one plain SQLAlchemy Session per call with the
acting User loaded in that Session (see :mod:`engine_helpers`).
"""
from __future__ import annotations

import threading
import time

import pytest

import lab_plugin as lab_models
from rotest_app.engine import (Conflict, InvalidRequest, NotFound, PermissionDenied,
                        SessionExpired)
from engine_helpers import Lab, dev, lic, port


@pytest.fixture
def lab(database_url):
    """A small lab: ports p1..p3, devices d1 (p1), d2 (p2, mode fast),
    d3 (group qa, no port), d4 (reserved for dave), licence lic1; users root
    (admin), alice, bob, carol (in qa), dave."""
    lab = Lab(database_url)
    lab.add_group("qa")
    lab.root = lab.add_user("root", is_admin=True)
    lab.alice = lab.add_user("alice")
    lab.bob = lab.add_user("bob")
    lab.carol = lab.add_user("carol", groups=("qa",))
    lab.dave = lab.add_user("dave")
    lab.add(lab_models.PortData, "p1", number=1)
    lab.add(lab_models.PortData, "p2", number=2)
    lab.add(lab_models.PortData, "p3", number=3)
    lab.add(lab_models.DeviceData, "d1", ip_address="10.0.0.1", port="p1")
    lab.add(lab_models.DeviceData, "d2", ip_address="10.0.0.2", mode="fast", port="p2")
    lab.add(lab_models.DeviceData, "d3", ip_address="192.168.1.3", group="qa")
    lab.add(lab_models.DeviceData, "d4", ip_address="10.1.0.4", reserved="dave")
    lab.add(lab_models.LicenseData, "lic1", seats=5)
    yield lab
    lab.dispose()


def held(lab: Lab) -> set[str]:
    return {name for name, sid in lab.holders().items() if sid is not None}


# ---------------------------------------------------------------------------
# All or nothing
# ---------------------------------------------------------------------------

def test_two_descriptors_get_two_distinct_resources(lab):
    sid = lab.alice.session()
    pair = [dev(name__in=["d1", "d2"]), dev(name__in=["d1", "d2"])]
    answer = lab.alice.lock(sid, pair)
    assert sorted(lab.alice.names(answer)) == ["d1", "d2"]
    assert answer["resources"][0]["port"]["owner"] == "alice"
    assert held(lab) == {"d1", "p1", "d2", "p2"}
    # Nothing of that pool is left for a third descriptor, even of another session.
    other = lab.bob.lock(lab.bob.session(), [dev(name__in=["d1", "d2"])])
    assert other["state"] == "timed_out"


def test_request_for_two_when_one_is_free_locks_nothing(lab):
    bob_sid = lab.bob.session()
    assert lab.bob.names(lab.bob.lock(bob_sid, [dev(name="d2")])) == ["d2"]
    sid = lab.alice.session()
    pair = [dev(name__in=["d1", "d2"]), dev(name__in=["d1", "d2"])]
    answer = lab.alice.lock(sid, pair, timeout=0)
    assert answer["state"] == "timed_out"
    assert "resources" not in answer
    assert lab.row("d1")["owner"] == "" and lab.row("p1")["owner"] == ""
    # Mixed types: the device is free, the port is not; still nothing.
    answer = lab.alice.lock(sid, [dev(name="d1"), port(name="p2")], timeout=0)
    assert answer["state"] == "timed_out"
    assert held(lab) == {"d2", "p2"}
    # Once the other one is free, the same request gets both at once.
    lab.bob.release(["d2"])
    assert sorted(lab.alice.names(lab.alice.lock(sid, pair))) == ["d1", "d2"]


def test_resources_sharing_a_sub_resource_are_never_granted_together(lab):
    lab.add(lab_models.DeviceData, "x1", port="p3")
    lab.add(lab_models.DeviceData, "x2", port="p3")
    sid = lab.alice.session()
    pair = [dev(name__in=["x1", "x2"]), dev(name__in=["x1", "x2"])]
    assert lab.alice.lock(sid, pair)["state"] == "timed_out"
    assert lab.alice.lock(sid, [dev(name="x1"), port(name="p3")])["state"] == "timed_out"
    assert held(lab) == set()
    assert lab.alice.names(lab.alice.lock(sid, [dev(name="x1")])) == ["x1"]
    # x2 is free itself, but its port is taken through x1.
    assert lab.bob.lock(lab.bob.session(), [dev(name="x2")])["state"] == "timed_out"
    assert held(lab) == {"x1", "p3"}


def test_unusable_resource_is_never_granted(lab):
    lab.root.update_fields("DeviceData", {"name": "d1"}, {"is_usable": False})
    sid = lab.alice.session()
    answer = lab.alice.lock(sid, [dev(name="d1")])
    assert answer["state"] == "timed_out"
    assert "no usable resource" in answer["message"]
    assert lab.alice.names(lab.alice.lock(sid, [dev(name__in=["d1", "d2"])])) == ["d2"]


# ---------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------

LOOKUP_CASES = [
    ("DeviceData", {}, ["d1", "d2", "d3", "d4"]),
    ("DeviceData", {"name": "d2"}, ["d2"]),
    ("DeviceData", {"name__exact": "d2"}, ["d2"]),
    ("DeviceData", {"mode": "fast"}, ["d2"]),
    ("DeviceData", {"name__in": ["d1", "d3", "zz"]}, ["d1", "d3"]),
    ("DeviceData", {"name__in": []}, []),
    ("DeviceData", {"ip_address__contains": "168"}, ["d3"]),
    ("DeviceData", {"ip_address__contains": "."}, ["d1", "d2", "d3", "d4"]),
    ("DeviceData", {"ip_address__startswith": "10.0."}, ["d1", "d2"]),
    ("DeviceData", {"ip_address__startswith": "10_0"}, []),   # _ is no wildcard
    ("DeviceData", {"ip_address__contains": "%"}, []),        # nor is %
    ("DeviceData", {"ip_address__endswith": ".3"}, ["d3"]),
    ("PortData", {"number__gt": 1}, ["p2", "p3"]),
    ("PortData", {"number__gte": 2}, ["p2", "p3"]),
    ("PortData", {"number__lt": 2}, ["p1"]),
    ("PortData", {"number__lte": 2}, ["p1", "p2"]),
    ("PortData", {"number__gte": "2"}, ["p2", "p3"]),        # digits are coerced
    ("PortData", {"number__gt": 1, "number__lt": 3}, ["p2"]),
    ("DeviceData", {"port__isnull": True}, ["d3", "d4"]),
    ("DeviceData", {"port__isnull": False}, ["d1", "d2"]),
    ("DeviceData", {"port_id__isnull": True}, ["d3", "d4"]),
    ("DeviceData", {"group__isnull": False}, ["d3"]),
    ("DeviceData", {"group__name": "qa"}, ["d3"]),
    ("DeviceData", {"group": "qa"}, ["d3"]),
    ("DeviceData", {"group__name": "nobody"}, []),
    ("DeviceData", {"port__number__gte": 2}, ["d2"]),
    ("DeviceData", {"port__number": 1}, ["d1"]),
    # The port's own base columns, not the device's (both live in "resource").
    ("DeviceData", {"port__name": "p1"}, ["d1"]),
    ("DeviceData", {"port__name__in": ["p2", "p3"]}, ["d2"]),
    ("DeviceData", {"name": "d1", "port__number": 2}, []),
    ("DeviceData", {"reserved": "dave"}, ["d4"]),
    ("LicenseData", {"seats__gte": 5}, ["lic1"]),
    ("ResourceData", {"name__startswith": "p"}, ["p1", "p2", "p3"]),
]


def test_lookups_select_the_right_resources(lab):
    wrong = []
    for type_name, filters, expected in LOOKUP_CASES:
        got = sorted(r["name"] for r in lab.root.query(type_name, filters))
        if got != expected:
            wrong.append((type_name, filters, got, expected))
    assert not wrong, "\n".join(f"{t} {f}: got {g}, expected {e}" for t, f, g, e in wrong)


def test_lookups_in_lock_requests(lab):
    sid = lab.alice.session()
    assert lab.alice.names(lab.alice.lock(sid, [dev(port__number__gte=2)])) == ["d2"]
    assert lab.alice.names(lab.alice.lock(sid, [dev(port__name="p1")])) == ["d1"]
    lab.alice.release(["d1", "d2"])
    # Rotest sends the model as a dotted path.
    answer = lab.alice.lock(sid, [{"type": "some.module.path.DeviceData",
                                   "properties": {"ip_address__startswith": "10.0.0"}}])
    assert lab.alice.names(answer) == ["d1"]
    answer = lab.alice.lock(sid, [{"type": "lab_plugin.PortData",
                                   "properties": {"number": 3}}])
    assert lab.alice.names(answer) == ["p3"]


BAD_LOOKUPS = [
    ("DeviceData", {"colour": "red"}, "colour"),
    ("DeviceData", {"port__colour": 1}, "colour"),
    ("DeviceData", {"group__colour": "x"}, "colour"),
    ("DeviceData", {"name__regex": "d.*"}, "regex"),
    ("DeviceData", {"_sa_instance_state": 1}, "_sa_instance_state"),
    ("PortData", {"number__gte": "abc"}, "number__gte"),
    ("PortData", {"number": 1.5}, "number"),
    ("DeviceData", {"is_usable": "yes"}, "is_usable"),
    ("DeviceData", {"name": 5}, "name"),
    ("DeviceData", {"name__in": "d1"}, "name__in"),
    ("DeviceData", {"name__in": ["d1", 2]}, "name__in"),
    ("DeviceData", {"group_id__isnull": "no"}, "group_id__isnull"),
    ("PortData", {"id__startswith": "1"}, "id__startswith"),
    ("DeviceData", {"is_usable__icontains": "t"}, "is_usable__icontains"),
    ("DeviceData", {"port__number__endswith": "1"}, "port__number__endswith"),
    ("DeviceData", {"owner_time__startswith": "2"}, "owner_time"),
    ("DeviceData", {"session_id__startswith": "a"}, "session_id"),
    ("NoSuchData", {}, "NoSuchData"),
    ("some.module.NoSuchData", {}, "NoSuchData"),
]


def test_bad_lookups_are_invalid_requests_naming_the_culprit(lab):
    sid = lab.alice.session()
    wrong = []
    for type_name, filters, named in BAD_LOOKUPS:
        for how, call in (
                ("query", lambda: lab.alice.query(type_name, filters)),
                ("lock", lambda: lab.alice.lock(
                    sid, [{"type": type_name, "properties": filters}], timeout=5))):
            try:
                call()
            except InvalidRequest as error:
                if named not in error.message:
                    wrong.append(f"{how} {type_name} {filters}: message {error.message!r}")
            except Exception as error:  # noqa: BLE001 - report, not crash
                wrong.append(f"{how} {type_name} {filters}: {error!r}")
            else:
                wrong.append(f"{how} {type_name} {filters}: accepted")
    assert not wrong, "\n".join(wrong)
    assert lab.waiting_requests() == 0 and held(lab) == set()


def test_isnull_on_a_relation_wants_a_boolean(lab):
    """A bug of the first engine: any truthy value meant True, so "no" and
    "false" silently selected the devices without a port."""
    for value in ("no", "false", 0, 1, None):
        with pytest.raises(InvalidRequest) as raised:
            lab.alice.query("DeviceData", {"port__isnull": value})
        assert "port__isnull" in raised.value.message


def test_malformed_requests_are_invalid(lab):
    sid = lab.alice.session()
    for descriptors in ([], None, "DeviceData", [{"type": "DeviceData", "colour": 1}],
                        [{"properties": {}}], [dev(), "x"]):
        with pytest.raises(InvalidRequest):
            lab.alice.lock(sid, descriptors)
    for timeout in (-1, "5", True, 10 ** 9):
        with pytest.raises(InvalidRequest):
            lab.alice.lock(sid, [dev()], timeout=timeout)
    for priority in (1.5, "1", 5000):
        with pytest.raises(InvalidRequest):
            lab.alice.lock(sid, [dev()], priority=priority)
    for lease in (0, -5, "60", 10 ** 9):
        with pytest.raises(InvalidRequest):
            lab.alice.open_session(lease_seconds=lease)
    assert held(lab) == set() and lab.waiting_requests() == 0


# ---------------------------------------------------------------------------
# Sub-resources
# ---------------------------------------------------------------------------

def test_locking_a_device_locks_its_port_and_release_frees_both(lab):
    sid = lab.alice.session()
    answer = lab.alice.lock(sid, [dev(name="d1")])
    assert answer["resources"][0]["port"]["name"] == "p1"
    assert lab.row("d1")["session_id"] == sid and lab.row("p1")["session_id"] == sid
    assert lab.row("p1")["owner"] == "alice"
    bob_sid = lab.bob.session()
    answer = lab.bob.lock(bob_sid, [port(name="p1")])
    assert answer["state"] == "timed_out" and "alice" in answer["message"]
    lab.alice.release(["d1"])
    assert held(lab) == set()
    assert lab.bob.names(lab.bob.lock(bob_sid, [port(name="p1")])) == ["p1"]


def test_device_whose_port_is_held_elsewhere_is_not_available(lab):
    bob_sid = lab.bob.session()
    assert lab.bob.names(lab.bob.lock(bob_sid, [port(name="p1")])) == ["p1"]
    sid = lab.alice.session()
    answer = lab.alice.lock(sid, [dev(name="d1")], timeout=0)
    assert answer["state"] == "timed_out" and "bob" in answer["message"]
    assert lab.row("d1")["owner"] == ""
    # Asked for either, alice gets the one whose port is free.
    assert lab.alice.names(lab.alice.lock(sid, [dev(name__in=["d1", "d2"])])) == ["d2"]
    lab.bob.release(["p1"])
    assert lab.alice.names(lab.alice.lock(sid, [dev(name="d1")])) == ["d1"]
    assert held(lab) == {"d1", "p1", "d2", "p2"}


# ---------------------------------------------------------------------------
# Shared (OWNABLE = False) resources
# ---------------------------------------------------------------------------

def test_non_ownable_resource_is_shared_and_release_is_a_no_op(lab):
    a_sid, b_sid = lab.alice.session(), lab.bob.session()
    assert lab.alice.names(lab.alice.lock(a_sid, [lic(name="lic1")])) == ["lic1"]
    assert lab.bob.names(lab.bob.lock(b_sid, [lic(name="lic1"), dev(name="d1")])) \
        == ["lic1", "d1"]
    assert lab.row("lic1")["owner"] == "" and lab.row("lic1")["session_id"] is None
    assert lab.alice.release(["lic1"]) == ["lic1"]
    assert lab.carol.release(["lic1"]) == ["lic1"]  # never locked it: still no error
    # A release naming it with an owned resource releases only the owned one.
    assert lab.bob.release(["lic1", "d1"]) == ["d1", "lic1"]
    assert held(lab) == set()
    assert lab.carol.names(lab.carol.lock(lab.carol.session(), [lic()])) == ["lic1"]


# ---------------------------------------------------------------------------
# Groups and reservations
# ---------------------------------------------------------------------------

def test_group_resource_only_for_members(lab):
    sid = lab.alice.session()
    started = time.monotonic()
    with pytest.raises(NotFound) as raised:  # hidden from her: as if missing
        lab.alice.lock(sid, [dev(name="d3")], timeout=30)
    assert time.monotonic() - started < 5
    assert "qa" not in raised.value.message
    # Admins see everything but lock by the same rules, and are told why.
    with pytest.raises(PermissionDenied) as raised:
        lab.root.lock(lab.root.session(), [dev(name="d3")], timeout=30)
    assert "qa" in raised.value.message
    assert lab.waiting_requests() == 0
    # With d1 and d2 taken, "any device" does not give alice the group's d3.
    bob_sid = lab.bob.session()
    lab.bob.lock(bob_sid, [dev(name="d1"), dev(name="d2")])
    assert lab.alice.lock(sid, [dev()], timeout=0)["state"] == "timed_out"
    assert lab.carol.names(lab.carol.lock(lab.carol.session(), [dev()])) == ["d3"]


def test_reserved_resource_only_for_its_user(lab):
    with pytest.raises(NotFound):
        lab.alice.lock(lab.alice.session(), [dev(name="d4")], timeout=30)
    with pytest.raises(PermissionDenied) as raised:
        lab.root.lock(lab.root.session(), [dev(name="d4")], timeout=30)
    assert "reserved for dave" in raised.value.message
    assert lab.waiting_requests() == 0
    assert lab.dave.names(lab.dave.lock(lab.dave.session(), [dev(name="d4")])) == ["d4"]


def test_no_match_at_all_is_not_found_at_once(lab):
    sid = lab.alice.session()
    for descriptors in ([dev(name="nope")], [dev(name="d1"), port(number__gt=99)]):
        started = time.monotonic()
        with pytest.raises(NotFound):
            lab.alice.lock(sid, descriptors, timeout=30)
        assert time.monotonic() - started < 5
    assert lab.waiting_requests() == 0 and held(lab) == set()


# ---------------------------------------------------------------------------
# Release
# ---------------------------------------------------------------------------

def test_release_only_by_owner_force_only_by_admin(lab):
    sid = lab.alice.session()
    lab.alice.lock(sid, [dev(name="d1")])
    with pytest.raises(PermissionDenied) as raised:
        lab.bob.release(["d1"])
    assert "alice" in raised.value.message
    with pytest.raises(PermissionDenied):
        lab.bob.release(["d1"], force=True)
    with pytest.raises(PermissionDenied):
        lab.root.release(["d1"])  # an admin too needs force
    assert lab.row("d1")["owner"] == "alice" and lab.row("p1")["owner"] == "alice"
    assert lab.root.release(["d1"], force=True) == ["d1"]
    assert held(lab) == set()
    # The session that lost it can lock again.
    assert lab.alice.names(lab.alice.lock(sid, [dev(name="d1")])) == ["d1"]


def test_dirty_release_sets_dirty_and_clean_release_clears_it(lab):
    sid = lab.alice.session()
    lab.alice.lock(sid, [dev(name="d1")])
    lab.alice.release(["d1"], dirty=True)
    assert lab.row("d1")["dirty"] is True and lab.row("p1")["dirty"] is True
    answer = lab.alice.lock(sid, [dev(name="d1")])
    assert answer["resources"][0]["dirty"] is True  # the next user learns of it
    lab.alice.release(["d1"])
    assert lab.row("d1")["dirty"] is False and lab.row("p1")["dirty"] is False


def test_release_errors_and_all_or_nothing(lab):
    with pytest.raises(Conflict):
        lab.alice.release(["d1"])
    with pytest.raises(Conflict):
        lab.root.release(["d1"], force=True)
    with pytest.raises(NotFound) as raised:
        lab.alice.release(["no-such-thing"])
    assert "no-such-thing" in raised.value.message
    for names in ("d1", [1], None):
        with pytest.raises(InvalidRequest):
            lab.alice.release(names)
    # One bad name in a release: nothing is released.
    sid = lab.alice.session()
    lab.alice.lock(sid, [dev(name="d1")])
    lab.bob.lock(lab.bob.session(), [dev(name="d2")])
    with pytest.raises(NotFound):
        lab.alice.release(["d1", "missing"])
    with pytest.raises(Conflict):
        lab.alice.release(["d1", "lic1", "p3"])  # p3 is not locked
    with pytest.raises(NotFound):
        lab.alice.release(["d1", "d3"])  # d3 is hidden from alice: as if missing
    with pytest.raises(PermissionDenied):
        lab.alice.release(["d1", "d2"])  # d2 is bob's
    assert held(lab) == {"d1", "p1", "d2", "p2"}
    assert lab.row("d1")["owner"] == "alice"
    lab.alice.release(["d1"])
    assert held(lab) == {"d2", "p2"}


def test_a_release_bound_to_its_session_answers_as_the_general_one(lab):
    """A session's release of resources without parts that it holds is one
    statement; what it does not cover goes the general way: either way the
    same answers, all or nothing, and the waiter is served."""
    sid, other = lab.alice.session(), lab.alice.session()
    assert sorted(lab.alice.names(lab.alice.lock(sid, [port(name="p1"), port(name="p3")]))) \
        == ["p1", "p3"]
    lab.alice.lock(other, [dev(name="d2")])  # d2 with p2, in another of alice's sessions
    with pytest.raises(Conflict):
        lab.alice.release(["p1", "p2"], session_id=sid)  # p2 is the other session's
    with pytest.raises(NotFound):
        lab.alice.release(["p1", "missing"], session_id=sid)
    with pytest.raises(NotFound):
        lab.alice.release(["p1", "d3"], session_id=sid)  # hidden from alice
    with pytest.raises(Conflict):
        lab.alice.release(["p1", "lic1", "d1"], session_id=sid)  # d1 is not locked
    assert held(lab) == {"p1", "p3", "d2", "p2"}
    bob_sid = lab.bob.session()
    waiting = lab.bob.lock(bob_sid, [port(name="p1")], timeout=30)
    assert waiting["state"] == "waiting"
    assert lab.alice.release(["p3", "p1", "p1"], session_id=sid, dirty=True) == ["p1", "p3"]
    assert lab.row("p3")["owner"] == "" and lab.row("p3")["session_id"] is None
    assert lab.row("p3")["dirty"] is True
    assert lab.bob.get_request(waiting["id"])["state"] == "granted"
    assert lab.row("p1")["owner"] == "bob" and lab.row("p1")["session_id"] == bob_sid
    with pytest.raises(Conflict):
        lab.alice.release(["p3"], session_id=sid)  # released already
    with pytest.raises(PermissionDenied):
        lab.alice.release(["p1"], session_id=sid)  # bob's now
    # A device with its port (parts), and a shared licence: the general way.
    assert lab.alice.release(["d2", "lic1"], session_id=other) == ["d2", "lic1"]
    assert held(lab) == {"p1"}
    lab.alice.lock(sid, [port(name="p3")])
    assert lab.alice.release(["p3"], session_id=sid) == ["p3"]
    assert lab.row("p3")["dirty"] is False


# ---------------------------------------------------------------------------
# The queue
# ---------------------------------------------------------------------------

def test_queue_serves_priority_then_arrival(lab):
    holder = lab.bob
    holder_sid = holder.session()
    holder.lock(holder_sid, [dev(name="d1")])
    # Arrival order differs from the order of user ids and of session creation,
    # so only the request's own arrival can explain the order.
    users = {"A": lab.carol, "B": lab.alice, "C": lab.dave}
    sessions = {k: users[k].session() for k in "CBA"}
    requests = {}
    for key, priority in (("A", 0), ("B", 0), ("C", 5)):
        answer = users[key].lock(sessions[key], [dev(name="d1")], timeout=60,
                                 priority=priority)
        assert answer["state"] == "waiting"
        requests[key] = answer["id"]
    positions = {k: users[k].get_request(requests[k])["queue_position"] for k in "ABC"}
    assert positions == {"C": 1, "A": 2, "B": 3}

    order = []
    holder.release(["d1"])
    for _ in range(3):
        states = {k: users[k].get_request(requests[k])["state"] for k in "ABC"}
        granted = [k for k, s in states.items() if s == "granted" and k not in order]
        assert len(granted) == 1, states
        order.append(granted[0])
        assert lab.row("d1")["owner"] == users[granted[0]].username
        users[granted[0]].release(["d1"])
    assert order == ["C", "A", "B"]
    assert held(lab) == set()


def test_younger_request_does_not_overtake_an_older_waiter(lab):
    bob_sid = lab.bob.session()
    lab.bob.lock(bob_sid, [dev(name="d2")])
    # Alice waits for both d1 and d2: d1 is free, d2 is not.
    a_sid = lab.alice.session()
    pair = [dev(name__in=["d1", "d2"]), dev(name__in=["d1", "d2"])]
    older = lab.alice.lock(a_sid, pair, timeout=60)
    assert older["state"] == "waiting"
    assert lab.row("d1")["owner"] == ""
    # A younger request of equal priority for d1 is refused, even with timeout 0.
    erin = lab.add_user("erin")
    e_sid = erin.session()
    younger = erin.lock(e_sid, [dev(name="d1")], timeout=0)
    assert younger["state"] == "timed_out"
    assert "promised to earlier requests" in younger["message"]
    # Lower priority: refused too; a waiting one stays behind alice.
    assert erin.lock(e_sid, [dev(name="d1")], priority=-3)["state"] == "timed_out"
    behind = erin.lock(e_sid, [dev(name="d1")], timeout=60)
    assert behind["state"] == "waiting" and behind["queue_position"] == 2
    assert lab.row("d1")["owner"] == ""
    # No head-of-line blocking: another free resource is granted at once.
    assert lab.carol.names(lab.carol.lock(lab.carol.session(), [dev(name="d3")],
                                          timeout=0)) == ["d3"]
    assert erin.names(erin.lock(e_sid, [port(name="p3")], timeout=0)) == ["p3"]
    # Bob's release grants alice both; erin's waiter is still waiting.
    lab.bob.release(["d2"])
    assert sorted(lab.alice.names(lab.alice.get_request(older["id"]))) == ["d1", "d2"]
    assert erin.get_request(behind["id"])["state"] == "waiting"
    lab.alice.release(["d1", "d2"])
    assert erin.names(erin.get_request(behind["id"])) == ["d1"]


def test_higher_priority_may_take_what_an_older_waiter_waits_for(lab):
    lab.bob.lock(lab.bob.session(), [dev(name="d2")])
    older = lab.alice.lock(lab.alice.session(),
                           [dev(name__in=["d1", "d2"]), dev(name__in=["d1", "d2"])],
                           timeout=60)
    assert older["state"] == "waiting"
    urgent = lab.dave.lock(lab.dave.session(), [dev(name="d1")], priority=1)
    assert lab.dave.names(urgent) == ["d1"]


def test_waiting_request_times_out_naming_the_owner(lab):
    lab.alice.lock(lab.alice.session(), [dev(name="d1")])
    sid = lab.bob.session()
    answer = lab.bob.lock(sid, [dev(name="d1")], timeout=0.8)
    assert answer["state"] == "waiting" and answer["queue_position"] == 1
    started = time.monotonic()
    still = lab.bob.wait_for(answer["id"], 0.2)  # max_wait before the timeout
    # It waited its max_wait, then its timeout; the upper bounds only guard a hang.
    assert still["state"] == "waiting" and 0.15 <= time.monotonic() - started < 5
    answer = lab.bob.wait_for(answer["id"], 10)
    assert 0.75 <= time.monotonic() - started < 9
    assert answer["state"] == "timed_out"
    assert "alice" in answer["message"] and "d1" in answer["message"]
    assert lab.waiting_requests() == 0
    lab.alice.release(["d1"])
    assert lab.row("d1")["owner"] == ""


def test_wait_for_wakes_at_once_on_release(lab):
    a_sid = lab.alice.session()
    lab.alice.lock(a_sid, [dev(name="d1")])
    request = lab.bob.lock(lab.bob.session(), [dev(name="d1")], timeout=60)
    result = {}

    def wait():
        result["answer"] = lab.bob.wait_for(request["id"], 20)
        result["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.6)  # let the waiter settle into its wait (and its listener start)
    assert "answer" not in result
    released_at = time.monotonic()
    lab.alice.release(["d1"])
    waiter.join(20)
    assert result["answer"]["state"] == "granted"
    assert result["at"] - released_at < 0.5


def test_cancel_waiting_and_granted_requests(lab):
    lab.alice.lock(lab.alice.session(), [dev(name="d1")])
    answer = lab.bob.lock(lab.bob.session(), [dev(name="d1")], timeout=60)
    with pytest.raises(PermissionDenied):
        lab.carol.cancel(answer["id"])
    assert lab.bob.cancel(answer["id"])["state"] == "cancelled"
    lab.alice.release(["d1"])
    assert held(lab) == set()
    assert lab.bob.get_request(answer["id"])["state"] == "cancelled"
    # Cancelling a granted request releases what it got.
    sid = lab.bob.session()
    answer = lab.bob.lock(sid, [dev(name="d1"), dev(name="d2")])
    assert answer["state"] == "granted"
    waiter = lab.alice.lock(lab.alice.session(), [dev(name="d1")], timeout=60)
    assert lab.bob.cancel(answer["id"])["state"] == "cancelled"
    assert held(lab) == {"d1", "p1"}
    assert lab.alice.names(lab.alice.get_request(waiter["id"])) == ["d1"]
    assert lab.row("d1")["owner"] == "alice"


def test_requests_and_sessions_belong_to_their_user(lab):
    sid = lab.alice.session()
    answer = lab.alice.lock(sid, [dev(name="d1")])
    with pytest.raises(PermissionDenied):
        lab.bob.lock(sid, [dev(name="d2")])
    with pytest.raises(PermissionDenied):
        lab.bob.get_request(answer["id"])
    with pytest.raises(PermissionDenied):
        lab.bob.heartbeat(sid)
    with pytest.raises(PermissionDenied):
        lab.bob.close_session(sid)
    with pytest.raises(NotFound):
        lab.alice.lock("no-such-session", [dev(name="d2")])
    with pytest.raises(NotFound):
        lab.alice.get_request(987654)
    assert held(lab) == {"d1", "p1"}


# ---------------------------------------------------------------------------
# Sessions and leases
# ---------------------------------------------------------------------------

def test_lease_not_renewed_is_reaped_and_heartbeat_keeps_one_alive(lab):
    bob_sid = lab.bob.session()
    lab.bob.lock(bob_sid, [dev(name="d2")])
    sid = lab.alice.session(lease_seconds=1)
    lab.alice.lock(sid, [dev(name="d1")])
    waiting = lab.alice.lock(sid, [dev(name="d2")], timeout=60)
    assert waiting["state"] == "waiting"
    kept = lab.dave.session(lease_seconds=1)
    lab.dave.lock(kept, [dev(name="d4"), port(name="p3")])
    for _ in range(4):  # 1.4 s: past alice's lease, never past dave's
        time.sleep(0.35)
        assert lab.dave.heartbeat(kept)["state"] == "active"
        lab.bob.query("DeviceData")  # calls of others reap whatever is due
    # Reaped by those calls: d1 is free for carol right away.
    assert lab.carol.names(lab.carol.lock(lab.carol.session(), [dev(name="d1")],
                                          timeout=0)) == ["d1"]
    assert lab.session_state(sid) == "expired"
    assert lab.request_state(waiting["id"]) == "expired"
    with pytest.raises(SessionExpired):
        lab.alice.heartbeat(sid)
    with pytest.raises(SessionExpired):
        lab.alice.lock(sid, [dev(name="d1")])
    # Dave's renewed session kept its lock.
    assert lab.session_state(kept) == "active" and lab.row("d4")["owner"] == "dave"
    assert lab.bob.lock(bob_sid, [port(name="p3")], timeout=0)["state"] == "timed_out"
    # Bob's release does not grant the expired waiter anything.
    lab.bob.release(["d2"])
    assert held(lab) == {"d1", "p1", "d4", "p3"} and lab.row("d1")["owner"] == "carol"


def test_sweep_reaps_expired_sessions(lab):
    sid = lab.alice.session(lease_seconds=1)
    lab.alice.lock(sid, [dev(name="d1")])
    keep = lab.bob.session(lease_seconds=60)
    lab.bob.lock(keep, [dev(name="d2")])
    assert lab.sweep() == 0
    time.sleep(1.2)
    assert lab.sweep() == 1
    assert held(lab) == {"d2", "p2"}
    assert lab.session_state(sid) == "expired" and lab.session_state(keep) == "active"


def test_close_session_releases_all_and_cancels_waiting(lab):
    lab.bob.lock(lab.bob.session(), [dev(name="d2")])
    sid = lab.alice.session()
    lab.alice.lock(sid, [dev(name="d1"), port(name="p3")])
    waiting = lab.alice.lock(sid, [dev(name="d2")], timeout=60)
    closed = lab.alice.close_session(sid)
    assert closed["state"] == "closed"
    assert held(lab) == {"d2", "p2"}
    assert lab.request_state(waiting["id"]) == "cancelled"
    with pytest.raises(SessionExpired):
        lab.alice.heartbeat(sid)
    with pytest.raises(SessionExpired):
        lab.alice.close_session(sid)


def test_reap_persists_even_when_the_call_then_fails(lab):
    """The reaping an operation does first stays done when the operation itself
    fails: the error that says "its locks were released" is true in the
    database (a bug of the first engine, which rolled the reaping back)."""
    sid = lab.alice.session(lease_seconds=1)
    lab.alice.lock(sid, [dev(name="d1")])
    other = lab.dave.session(lease_seconds=1)
    lab.dave.lock(other, [dev(name="d4")])
    time.sleep(1.2)
    with pytest.raises(SessionExpired):
        lab.alice.heartbeat(sid)
    assert lab.session_state(sid) == "expired"
    assert lab.row("d1")["owner"] == "" and lab.row("p1")["session_id"] is None
    # Someone else's failing call reaps for good too.
    with pytest.raises(NotFound):
        lab.bob.release(["no-such-thing"])
    assert lab.session_state(other) == "expired" and held(lab) == set()


# ---------------------------------------------------------------------------
# query and update_fields
# ---------------------------------------------------------------------------

def test_query_hides_what_the_user_may_not_lock_except_from_admins(lab):
    def names(actor):
        return sorted(r["name"] for r in actor.query("DeviceData"))
    assert names(lab.alice) == ["d1", "d2"]
    assert names(lab.carol) == ["d1", "d2", "d3"]
    assert names(lab.dave) == ["d1", "d2", "d4"]
    assert names(lab.root) == ["d1", "d2", "d3", "d4"]
    assert lab.alice.query("DeviceData", {"group__name": "qa"}) == []
    answer = lab.root.query("DeviceData", {"name": "d3"})
    assert answer[0]["group"] == "qa" and "session_id" not in answer[0]
    # Query shows who holds what.
    lab.alice.lock(lab.alice.session(), [dev(name="d1")])
    shown = lab.bob.query("DeviceData", {"name": "d1"})[0]
    assert shown["owner"] == "alice" and shown["port"]["owner"] == "alice"


def test_update_fields_rules(lab):
    sid = lab.alice.session()
    lab.alice.lock(sid, [dev(name="d1")])
    answer = lab.alice.update_fields("DeviceData", {"name": "d1"},
                                     {"mode": "fast", "comment": "flaky"})
    assert answer[0]["mode"] == "fast"
    assert lab.row("d1")["mode"] == "fast" and lab.row("d1")["comment"] == "flaky"
    with pytest.raises(PermissionDenied):
        lab.bob.update_fields("DeviceData", {"name": "d1"}, {"mode": "slow"})
    with pytest.raises(PermissionDenied):  # holds d1, not d2: all or nothing
        lab.alice.update_fields("DeviceData", {"name__in": ["d1", "d2"]},
                                {"mode": "slow"})
    assert lab.row("d1")["mode"] == "fast" and lab.row("d2")["mode"] == "fast"
    for values in ({"owner": "bob"}, {"session_id": None}, {"owner_time": None},
                   {"id": 99}, {"type": "PortData"}):
        for actor in (lab.alice, lab.root):
            with pytest.raises(InvalidRequest):
                actor.update_fields("DeviceData", {"name": "d1"}, values)
    for values in ({"group_id": 1}, {"reserved": "alice"}, {"name": "mine"},
                   {"port_id": 3}, {"port_id": None}):
        with pytest.raises(PermissionDenied):
            lab.alice.update_fields("DeviceData", {"name": "d1"}, values)
    for values in ({"mode": 3}, {"colour": "red"}, {}, {"is_usable": "no"}):
        with pytest.raises(InvalidRequest):
            lab.alice.update_fields("DeviceData", {"name": "d1"}, values)
    assert lab.row("d1")["owner"] == "alice" and lab.row("d1")["reserved"] == ""
    assert lab.row("d1")["session_id"] == sid
    # An admin may change who-may-lock fields of resources nobody holds.
    lab.root.update_fields("DeviceData", {"name": "d2"}, {"reserved": "dave"})
    with pytest.raises(NotFound):  # hidden from alice now
        lab.alice.lock(sid, [dev(name="d2")])
