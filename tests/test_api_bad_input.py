"""Bad input gets a 4xx with a JSON body that says what is wrong; never a 500,
and the server keeps serving afterwards."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api_helpers import Api, descriptor, lab  # noqa: F401

DEV2 = descriptor("DeviceData", name="dev2")
NO_BODY = object()


@dataclass
class Case:
    """One bad request and the answer it must get."""

    name: str
    method: str
    path: str
    body: Any = NO_BODY              # JSON-encoded; bytes/str are sent as they are
    status: int = 400
    error: str = "invalid_request"
    says: str = ""                   # a fragment the message must contain
    headers: dict[str, str] | None = field(default=None)


def lock_body(session: str, **changes: Any) -> dict[str, Any]:
    return {"session_id": session, "descriptors": [DEV2], **changes}


def bad_cases(session: str) -> list[Case]:
    lock = lambda **changes: lock_body(session, **changes)  # noqa: E731
    return [
        Case("malformed JSON", "POST", "/locks", b'{"session_id": ', says="not valid JSON"),
        Case("NaN", "POST", "/locks", b'{"timeout": NaN}', says="NaN"),
        Case("invalid UTF-8", "POST", "/query", b'{"type": "\xff"}'),
        Case("lone surrogate", "POST", "/query", b'{"type": "\\ud800"}', says="surrogate"),
        Case("integer beyond 64 bits", "POST", "/query",
             b'{"type": "DeviceData", "filters": {"id": 1' + b"0" * 30 + b"}}",
             says="out of range"),
        Case("deep nesting", "POST", "/query", b"[" * 100_000 + b"]" * 100_000),
        Case("too many list values", "POST", "/release", {"resources": ["x"] * 10_001},
             says="at most"),
        Case("array body", "POST", "/locks", [lock()], says="JSON object"),
        Case("string body", "POST", "/sessions", b'"hello"', says="JSON object"),
        Case("unknown top-level key", "POST", "/locks", lock(colour="red"),
             says="'colour'"),
        Case("missing key", "POST", "/locks", {"session_id": session},
             says="'descriptors'"),
        Case("unknown descriptor type", "POST", "/locks",
             lock(descriptors=[descriptor("NoSuchData")]), says="NoSuchData"),
        Case("unknown field", "POST", "/locks",
             lock(descriptors=[descriptor("DeviceData", colour="red")]), says="colour"),
        Case("unknown lookup", "POST", "/query",
             {"type": "DeviceData", "filters": {"name__sounds_like": "x"}},
             says="sounds_like"),
        Case("timeout 'abc'", "POST", "/locks", lock(timeout="abc"), says="'timeout'"),
        Case("negative timeout", "POST", "/locks", lock(timeout=-1), says="timeout"),
        Case("priority 1.5", "POST", "/locks", lock(priority=1.5), says="'priority'"),
        Case("priority out of range", "POST", "/locks", lock(priority=10**6),
             says="priority"),
        Case("lease 0", "POST", "/sessions", {"lease_seconds": 0}, says="lease_seconds"),
        Case("lease as text", "POST", "/sessions", {"lease_seconds": "60"},
             says="'lease_seconds'"),
        Case("descriptors not a list", "POST", "/locks", lock(descriptors=DEV2),
             says="'descriptors'"),
        Case("empty descriptors", "POST", "/locks", lock(descriptors=[]),
             says="descriptors"),
        Case("descriptor not an object", "POST", "/locks", lock(descriptors=["dev2"])),
        Case("properties id 'x'", "POST", "/locks",
             lock(descriptors=[descriptor("DeviceData", id="x")]), says="'id'"),
        Case("release names not strings", "POST", "/release", {"resources": [1]},
             says="resources"),
        Case("dirty not a boolean", "POST", "/release", {"resources": [], "dirty": "yes"},
             says="'dirty'"),
        Case("query without type", "POST", "/query", {}, says="'type'"),
        Case("filters not an object", "POST", "/query",
             {"type": "DeviceData", "filters": []}, says="'filters'"),
        Case("update_fields of an engine field", "POST", "/update_fields",
             {"type": "DeviceData", "values": {"owner": "me"}}, says="owner"),
        Case("update_fields value of the wrong type", "POST", "/update_fields",
             {"type": "DeviceData", "values": {"is_usable": "no"}}, says="is_usable"),
        Case("bad wait", "GET", "/locks/1?wait=soon", says="'wait'"),
        Case("negative wait", "GET", "/locks/1?wait=-1", says="'wait'"),
        Case("infinite wait", "GET", "/locks/1?wait=inf", says="'wait'"),
        Case("missing token", "GET", "/whoami", status=401, error="unauthorized",
             headers={}),
        Case("wrong token", "GET", "/whoami", status=401, error="unauthorized",
             headers={"Authorization": "Bearer rt_not-a-real-token"}),
        Case("bad Authorization scheme", "GET", "/whoami", status=401, error="unauthorized",
             headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"}, says="Bearer"),
        Case("unknown route", "GET", "/no-such-route", status=404, error="not_found"),
        Case("unknown route, no token", "POST", "/nothing/here", status=404,
             error="not_found", headers={}),
        Case("wrong method", "PUT", "/locks", status=405, error="method_not_allowed",
             says="PUT"),
        Case("non-int request id", "GET", "/locks/abc", status=404, error="not_found"),
        Case("request id beyond the id column", "GET", f"/locks/{2**40}", status=404,
             error="not_found"),
        Case("unknown request", "DELETE", "/locks/123456", status=404, error="not_found"),
    ]


def send(api: Api, case: Case):
    kwargs: dict[str, Any] = {"headers": api.headers if case.headers is None
                              else case.headers}
    if isinstance(case.body, (bytes, str)):
        kwargs.update(data=case.body, content_type="application/json")
    elif case.body is not NO_BODY:
        kwargs["json"] = case.body
    return api.client.open("/api/v1" + case.path, method=case.method, **kwargs)


def assert_json_error(response, status: int, error: str, says: str = "", what: str = ""):
    assert response.status_code == status, (what, response.status_code,
                                            response.get_data(as_text=True)[:500])
    assert response.is_json, (what, response.get_data(as_text=True)[:200])
    body = response.json
    assert set(body) == {"error", "message", "details"}, (what, body)
    assert body["error"] == error and isinstance(body["details"], dict), (what, body)
    assert says in body["message"], (what, body["message"])
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), what


def test_bad_input_gets_a_json_4xx_and_the_server_keeps_serving(lab):
    alice = lab["alice"]
    session = alice.open_session()
    for case in bad_cases(session):
        assert_json_error(send(alice, case), case.status, case.error, case.says, case.name)
    assert alice.lock(session, DEV2).status_code == 200


def test_body_over_the_limit_is_413_in_json(app, lab):
    alice = lab["alice"]
    limit = app.config["MAX_CONTENT_LENGTH"]
    huge = {"type": "DeviceData", "filters": {"name": "x" * limit}}
    response = alice.client.post("/api/v1/query", json=huge, headers=alice.headers)
    assert_json_error(response, 413, "too_large", str(limit))
    assert alice.lock(alice.open_session(), DEV2).status_code == 200


def test_wrong_method_names_the_allowed_ones(lab):
    response = lab["alice"].client.get("/api/v1/release", headers=lab["alice"].headers)
    assert_json_error(response, 405, "method_not_allowed", "POST")
    assert "POST" in response.headers["Allow"]


def test_routing_errors_outside_the_api_are_left_alone(app):
    response = app.test_client().get("/no-such-page")
    assert response.status_code == 404 and not response.is_json


def test_other_users_session_is_forbidden(lab):
    session = lab["alice"].open_session()
    response = lab["bob"].lock(session, DEV2)
    assert_json_error(response, 403, "forbidden", "another user")


def test_values_the_database_refuses_are_400(lab):
    """A NUL character cannot be stored in PostgreSQL text; an integer beyond the
    column's 32 bits cannot be compared there. Both are bad input."""
    alice = lab["alice"]
    for filters in ({"name": "dev\u00002"}, {"id": 2**40}, {"port__number__gt": 2**40}):
        response = alice.post("/query", {"type": "DeviceData", "filters": filters})
        assert response.status_code in (200, 400), (filters, response.json)
    response = alice.post("/sessions", {"description": "nul\u0000"})
    assert response.status_code in (201, 400), response.json
    assert alice.lock(alice.open_session(), DEV2).status_code == 200


def test_update_fields_refused_by_a_constraint_is_409(lab):
    """A name already taken, or a reference to a missing row."""
    root = lab["root"]
    for values in ({"name": "dev1"}, {"port_id": 999_999}, {"group_id": 999_999}):
        response = root.post("/update_fields", {"type": "DeviceData",
                                                "filters": {"name": "dev2"},
                                                "values": values})
        assert_json_error(response, 409, "conflict", "", str(values))
    assert root.query("DeviceData", name="dev2")[0]["port"] is None


def test_filters_cannot_reach_accounts(lab):
    carol = lab["carol"]
    for lookup in ("group__users__password_hash__startswith",
                   "group__users__tokens__token_hash__startswith"):
        response = carol.post("/query", {"type": "DeviceData", "filters": {lookup: ""}})
        assert response.status_code == 400, (lookup, response.json)


# -- random bodies --------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
FIELDS = st.sampled_from(["id", "name", "name__in", "ip_address__startswith", "mode",
                          "port", "port__number__gt", "group", "group__name__in",
                          "is_usable", "owner", "dirty", "seats__lte", "reserved",
                          "owner_time__gt", "comment__icontains", "nope"])
FILTERS = st.dictionaries(FIELDS, JSON_VALUES, max_size=3)
TYPES = st.sampled_from(["DeviceData", "PortData", "LicenseData", "ResourceData",
                         "lab_plugin.DeviceData", "Nope", ""]) | JSON_VALUES
DESCRIPTORS = st.fixed_dictionaries({"type": TYPES}, optional={"properties": FILTERS})


def lock_bodies(session: str):
    shaped = st.fixed_dictionaries(
        {"session_id": st.sampled_from([session, "nope"]) | JSON_VALUES,
         "descriptors": st.lists(DESCRIPTORS | JSON_VALUES, max_size=3) | JSON_VALUES},
        optional={"timeout": st.sampled_from([0, 0.01]) | JSON_VALUES,
                  "priority": JSON_VALUES, "extra": JSON_VALUES})
    return shaped | JSON_VALUES


QUERY_BODIES = st.fixed_dictionaries(
    {"type": TYPES}, optional={"filters": FILTERS | JSON_VALUES}) | JSON_VALUES


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_random_bodies_never_get_a_500(lab):
    alice = lab["alice"]
    session = alice.open_session()

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(path_and_body=st.tuples(st.just("/locks"), lock_bodies(session))
           | st.tuples(st.just("/query"), QUERY_BODIES))
    def check(path_and_body):
        path, body = path_and_body
        response = alice.client.post("/api/v1" + path, data=json.dumps(body),
                                     content_type="application/json",
                                     headers=alice.headers)
        assert response.status_code < 500, (body, response.get_data(as_text=True))
        assert response.is_json
        if response.status_code == 200 and path == "/locks":
            alice.release(*[r["name"] for r in response.json["resources"]])

    check()
    # a fresh session: on a loaded machine the examples may outlast the first's lease
    assert alice.lock(alice.open_session(), DEV2).status_code == 200


def test_a_body_that_passed_once_does_not_let_others_through(lab):
    """The server remembers the exact bytes of bodies that passed their schema
    (a lock client sends the same ones every cycle): the same bytes pass again,
    and anything else, or the same bytes sent where another schema rules,
    is checked afresh and refused as before."""
    alice = lab["alice"]
    session = alice.open_session()
    good = json.dumps(lock_body(session, timeout=0)).encode()
    for _ in range(2):
        response = alice.client.post("/api/v1/locks", data=good, headers=alice.headers,
                                     content_type="application/json")
        assert response.status_code in (200, 409), response.json
        released = alice.release("dev2", session_id=session)
        assert released.status_code in (200, 409), released.json
    bad = good.replace(b'"timeout": 0', b'"timeout": -1')
    response = alice.client.post("/api/v1/locks", data=bad, headers=alice.headers,
                                 content_type="application/json")
    assert_json_error(response, 400, "invalid_request", "'timeout'")
    # Passed as a lock body; as a release body its keys are unknown.
    response = alice.client.post("/api/v1/release", data=good, headers=alice.headers,
                                 content_type="application/json")
    assert_json_error(response, 400, "invalid_request", "unknown key")
