"""The JSON lock API, through Flask's test client and a real HTTP server, on
SQLite and PostgreSQL."""
from __future__ import annotations

import threading
import time

import pytest
import requests
from server_process import ThreadedServer

from api_helpers import Api, add_user, api_for, descriptor, lab  # noqa: F401
from rotest_app.models import ApiToken, db

DEV2 = descriptor("DeviceData", name="dev2")


def names(resources: list[dict]) -> set[str]:
    return {r["name"] for r in resources}


def owner_of(api: Api, type_name: str, name: str) -> str:
    return api.query(type_name, name=name)[0]["owner"]


# -- server, auth ---------------------------------------------------------------

def test_health_needs_no_token(app):
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_whoami(lab):
    assert lab["carol"].get("/whoami").json == {"username": "carol", "is_admin": False,
                                                "groups": ["lab-a"]}
    assert lab["root"].get("/whoami").json["is_admin"] is True


def test_last_used_is_written_at_most_once_a_minute(app, lab):
    def last_used():
        with app.app_context():
            return db.session.scalar(db.select(ApiToken.last_used)
                                     .join(ApiToken.user).filter_by(username="alice"))
    assert last_used() is None
    lab["alice"].get("/whoami")
    first = last_used()
    assert first is not None
    lab["alice"].get("/whoami")
    assert last_used() == first


def test_deactivated_user_is_refused(app):
    api = api_for(app, "gone", is_active=False)
    response = api.get("/whoami")
    assert response.status_code == 401 and response.json["error"] == "unauthorized"
    assert "deactivated" in response.json["message"]


# -- sessions ---------------------------------------------------------------------

def test_session_open_heartbeat_close(lab):
    alice, bob = lab["alice"], lab["bob"]
    opened = alice.post("/sessions", {"description": "nightly"})
    assert opened.status_code == 201
    session = opened.json
    assert session["state"] == "active" and session["user"] == "alice"
    assert session["lease_seconds"] == 10.0 and session["description"] == "nightly"
    assert opened.headers["Location"].endswith(f"/api/v1/sessions/{session['id']}")

    renewed = alice.post(f"/sessions/{session['id']}/heartbeat")
    assert renewed.status_code == 200
    assert renewed.json["expires_at"] >= session["expires_at"]
    assert bob.post(f"/sessions/{session['id']}/heartbeat").status_code == 403
    assert alice.post("/sessions/no-such-session/heartbeat").status_code == 404

    assert alice.lock(session["id"], DEV2).status_code == 200
    closed = alice.delete(f"/sessions/{session['id']}")
    assert closed.status_code == 200 and closed.json["state"] == "closed"
    assert owner_of(alice, "DeviceData", "dev2") == ""
    again = alice.post(f"/sessions/{session['id']}/heartbeat")
    assert again.status_code == 409 and again.json["error"] == "session_expired"


def test_expired_lease_releases_locks(lab):
    alice, bob = lab["alice"], lab["bob"]
    session = alice.open_session(lease_seconds=1)
    assert alice.lock(session, DEV2).status_code == 200
    time.sleep(1.5)
    response = alice.post(f"/sessions/{session}/heartbeat")
    assert response.status_code == 409 and response.json["error"] == "session_expired"
    assert owner_of(alice, "DeviceData", "dev2") == ""
    assert bob.lock(bob.open_session(), DEV2).status_code == 200


# -- locking ----------------------------------------------------------------------

def test_lock_granted_then_unavailable_to_another_client(lab):
    alice, bob = lab["alice"], lab["bob"]
    granted = alice.lock(alice.open_session(), DEV2)
    assert granted.status_code == 200 and granted.json["state"] == "granted"
    assert [r["name"] for r in granted.json["resources"]] == ["dev2"]
    assert granted.json["resources"][0]["owner"] == "alice"

    refused = bob.lock(bob.open_session(), DEV2)
    assert refused.status_code == 409 and refused.json["error"] == "unavailable"
    assert "alice" in refused.json["message"]
    assert refused.json["details"]["request"]["state"] == "timed_out"


def test_unknown_session_and_unmatched_descriptor(lab):
    alice = lab["alice"]
    assert alice.lock("no-such-session", DEV2).status_code == 404
    missing = alice.lock(alice.open_session(), descriptor("DeviceData", name="nope"))
    assert missing.status_code == 404 and missing.json["error"] == "not_found"


def test_waiting_request_is_granted_by_long_poll_after_release(lab):
    alice, bob = lab["alice"], lab["bob"]
    alice.lock(alice.open_session(), DEV2)
    waiting = bob.lock(bob.open_session(), DEV2, timeout=30)
    assert waiting.status_code == 202 and waiting.json["state"] == "waiting"
    assert waiting.json["queue_position"] == 1
    url = f"/locks/{waiting.json['id']}"
    assert waiting.headers["Location"].endswith("/api/v1" + url)

    still = bob.get(url + "?wait=0.2")
    assert still.status_code == 200 and still.json["state"] == "waiting"
    assert alice.release("dev2").status_code == 200
    granted = bob.get(url + "?wait=5")
    assert granted.json["state"] == "granted"
    assert [r["name"] for r in granted.json["resources"]] == ["dev2"]
    assert bob.get(url).json["state"] == "granted"  # no wait: the state now


def test_long_poll_is_capped_by_long_poll_seconds(app, lab):
    alice, bob = lab["alice"], lab["bob"]
    alice.lock(alice.open_session(), DEV2)
    request_id = bob.lock(bob.open_session(), DEV2, timeout=60).json["id"]
    app.config["ROTEST"]["long_poll_seconds"] = 0.3
    started = time.monotonic()
    response = bob.get(f"/locks/{request_id}?wait=600")
    assert response.json["state"] == "waiting" and time.monotonic() - started < 10


def test_lock_requests_of_another_user_are_private(lab):
    alice, bob = lab["alice"], lab["bob"]
    request_id = alice.lock(alice.open_session(), DEV2).json["id"]
    assert bob.get(f"/locks/{request_id}").status_code == 403
    assert bob.delete(f"/locks/{request_id}").status_code == 403
    assert bob.get("/locks/999999").status_code == 404


def test_cancel_waiting_and_granted_requests(lab):
    alice, bob = lab["alice"], lab["bob"]
    alice.lock(alice.open_session(), DEV2)
    bob_session = bob.open_session()
    first = bob.lock(bob_session, DEV2, timeout=30).json["id"]
    cancelled = bob.delete(f"/locks/{first}")
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"

    second = bob.lock(bob_session, DEV2, timeout=30).json["id"]
    alice.release("dev2")
    assert bob.get(f"/locks/{second}").json["state"] == "granted"
    assert owner_of(bob, "DeviceData", "dev2") == "bob"
    assert bob.delete(f"/locks/{second}").json["state"] == "cancelled"
    assert owner_of(bob, "DeviceData", "dev2") == ""


def test_sub_resource_is_locked_and_released_with_its_parent(lab):
    alice, bob = lab["alice"], lab["bob"]
    granted = alice.lock(alice.open_session(), descriptor("DeviceData", name="dev1"))
    assert granted.json["resources"][0]["port"]["name"] == "port1"
    assert owner_of(alice, "PortData", "port1") == "alice"
    bob_session = bob.open_session()
    assert bob.lock(bob_session, descriptor("PortData", name="port1")).status_code == 409

    assert alice.release("dev1").json == {"released": ["dev1"]}
    assert owner_of(alice, "PortData", "port1") == ""
    assert bob.lock(bob_session, descriptor("PortData", name="port1")).status_code == 200


def test_non_ownable_licence_is_shared(lab):
    alice, bob = lab["alice"], lab["bob"]
    lic = descriptor("LicenseData", name="lic")
    assert alice.lock(alice.open_session(), lic).status_code == 200
    assert bob.lock(bob.open_session(), lic).status_code == 200
    assert owner_of(alice, "LicenseData", "lic") == ""


# -- release ----------------------------------------------------------------------

def test_release_by_owner_only(lab):
    alice, bob = lab["alice"], lab["bob"]
    alice.lock(alice.open_session(), DEV2)
    refused = bob.release("dev2")
    assert refused.status_code == 403 and "alice" in refused.json["message"]
    assert alice.release("dev2").json == {"released": ["dev2"]}
    assert owner_of(alice, "DeviceData", "dev2") == ""
    assert alice.release("dev2").status_code == 409  # not locked any more
    assert alice.release("no-such").status_code == 404


def test_force_release_is_for_admins(lab):
    alice, bob, root = lab["alice"], lab["bob"], lab["root"]
    alice.lock(alice.open_session(), DEV2)
    refused = bob.release("dev2", force=True)
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"
    assert root.release("dev2", force=True).json == {"released": ["dev2"]}
    assert owner_of(alice, "DeviceData", "dev2") == ""


def test_dirty_release_is_recorded(lab):
    alice = lab["alice"]
    alice.lock(alice.open_session(), DEV2)
    assert alice.query("DeviceData", name="dev2")[0]["dirty"] is False
    assert alice.release("dev2", dirty=True).status_code == 200
    assert alice.query("DeviceData", name="dev2")[0]["dirty"] is True


# -- groups, reservations, query, update_fields -----------------------------------

def test_query_respects_groups_and_reservations(lab):
    assert names(lab["bob"].query("DeviceData")) == {"dev1", "dev2"}
    assert names(lab["carol"].query("DeviceData")) == {"dev1", "dev2", "labdev", "resdev"}
    assert names(lab["root"].query("DeviceData")) == {"dev1", "dev2", "labdev", "resdev"}
    assert names(lab["bob"].query("DeviceData", ip_address__startswith="10.0.0.")) \
        == {"dev1", "dev2"}


def test_group_and_reserved_resources_are_unlockable_by_others(lab):
    bob, carol, root = lab["bob"], lab["carol"], lab["root"]
    session = bob.open_session()
    for name in ("labdev", "resdev"):  # hidden from bob: as if missing
        hidden = bob.lock(session, descriptor("DeviceData", name=name))
        assert hidden.status_code == 404 and hidden.json["error"] == "not_found"
    # An admin sees them, and is told why not.
    in_group = root.lock(root.open_session(), descriptor("DeviceData", name="labdev"))
    assert in_group.status_code == 403 and "lab-a" in in_group.json["message"]
    reserved = root.lock(root.open_session(), descriptor("DeviceData", name="resdev"))
    assert reserved.status_code == 403 and "carol" in reserved.json["message"]
    carol_session = carol.open_session()
    for name in ("labdev", "resdev"):
        response = carol.lock(carol_session, descriptor("DeviceData", name=name))
        assert response.status_code == 200


def test_update_fields_by_holder_and_admin_only(lab):
    alice, bob, root = lab["alice"], lab["bob"], lab["root"]
    alice.lock(alice.open_session(), DEV2)
    change = {"type": "DeviceData", "filters": {"name": "dev2"}}

    by_holder = alice.post("/update_fields", {**change, "values": {"mode": "debug"}})
    assert by_holder.status_code == 200
    assert by_holder.json["resources"][0]["mode"] == "debug"
    by_other = bob.post("/update_fields", {**change, "values": {"mode": "x"}})
    assert by_other.status_code == 403
    admin_only = alice.post("/update_fields", {**change, "values": {"reserved": "alice"}})
    assert admin_only.status_code == 403
    by_admin = root.post("/update_fields", {**change, "values": {"comment": "rack 4"}})
    assert by_admin.status_code == 200
    assert by_admin.json["resources"][0]["comment"] == "rack 4"
    assert alice.query("DeviceData", name="dev2")[0]["mode"] == "debug"


# -- a real HTTP server -------------------------------------------------------------

@pytest.fixture
def live_server(app):
    """The app in a real threaded HTTP server; yields its base URL."""
    server = ThreadedServer(app)
    yield f"{server.url}/api/v1"
    server.stop()


def http_client(token: str) -> requests.Session:
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_waiters_are_woken_over_http_by_priority_then_arrival(app, lab, live_server):
    """Three clients wait for dev2; each is granted within a fraction of a
    second of the previous holder's release, highest priority first, then in
    order of arrival."""
    tokens = {name: api.headers["Authorization"].split()[1] for name, api in lab.items()}
    tokens["dave"] = add_user(app, "dave")
    clients = {name: http_client(token) for name, token in tokens.items()}

    def post(name: str, path: str, body: dict) -> requests.Response:
        response = clients[name].post(live_server + path, json=body, timeout=30)
        assert response.status_code < 500, response.text
        return response

    def open_and_lock(name: str, **options) -> requests.Response:
        session = post(name, "/sessions", {}).json()["id"]
        return post(name, "/locks", {"session_id": session, "descriptors": [DEV2],
                                     **options})

    assert open_and_lock("alice").status_code == 200
    queued = {}
    for name, priority in (("bob", 0), ("carol", 5), ("dave", 0)):
        response = open_and_lock(name, timeout=60, priority=priority)
        assert response.status_code == 202, response.text
        queued[name] = response.json()["id"]
    positions = {name: clients[name].get(f"{live_server}/locks/{rid}", timeout=30)
                 .json()["queue_position"] for name, rid in queued.items()}
    assert positions == {"carol": 1, "bob": 2, "dave": 3}

    events: list[tuple[str, str, float]] = []  # (what, who, when)
    record = threading.Lock()

    def wait_then_release(name: str) -> None:
        url = f"{live_server}/locks/{queued[name]}?wait=20"
        while (state := clients[name].get(url, timeout=30).json())["state"] == "waiting":
            pass
        assert state["state"] == "granted", state
        with record:
            events.append(("granted", name, time.monotonic()))
        time.sleep(0.2)
        with record:
            events.append(("releasing", name, time.monotonic()))
        assert post(name, "/release", {"resources": ["dev2"]}).status_code == 200

    threads = [threading.Thread(target=wait_then_release, args=(name,)) for name in queued]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # let the three long-polls reach the server
    events.append(("releasing", "alice", time.monotonic()))
    assert post("alice", "/release", {"resources": ["dev2"]}).status_code == 200
    for thread in threads:
        thread.join(60)

    grants = [(who, when) for what, who, when in events if what == "granted"]
    releases = [when for what, _, when in events if what == "releasing"]
    assert [who for who, _ in grants] == ["carol", "bob", "dave"]
    delays = [granted - released for (_, granted), released in zip(grants, releases)]
    assert all(0 <= delay < 0.5 for delay in delays), delays
