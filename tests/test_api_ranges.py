"""Ids and numbers out of range answer 404 or 400 with the API's error body,
never 405 (a route falling through) or 500 (the database refusing the value),
on every route of the document, on SQLite and PostgreSQL.

The routes and their parameters are read from openapi.json, so a new route is
covered as soon as it is documented."""
from __future__ import annotations

import json
import re
from importlib.resources import files

import pytest

from api_helpers import api_for

#: Past a 32-bit INTEGER, past a 64-bit BIGINT, far past both, below zero.
OUT_OF_RANGE = ["2147483648", "9223372036854775808", "18656707357380326719488",
                "9" * 5000, "-1", "-2147483649"]
#: In range, and no row has them: an ordinary 404.
MISSING = ["0", "2147483647"]


def operations() -> list[tuple[str, str, dict]]:
    document = json.loads(files("rotest_app.api").joinpath("openapi.json").read_text("utf-8"))
    return [(path, method, operation) for path, item in document["paths"].items()
            for method, operation in item.items() if method != "parameters"]


def integer_parameters(where: str) -> list[tuple[str, str, dict]]:
    """(method, path, parameter) of every integer parameter ``in`` where."""
    return [(method, path, parameter) for path, method, operation in operations()
            for parameter in operation.get("parameters", [])
            if parameter["in"] == where and parameter["schema"].get("type") == "integer"]


PATH_IDS = integer_parameters("path")
QUERY_NUMBERS = integer_parameters("query")


@pytest.fixture
def alice(app):
    return api_for(app, "alice")


def assert_error_body(response, statuses: set[int]) -> None:
    assert response.status_code in statuses, (response.status_code,
                                              response.get_data(as_text=True)[:300])
    assert response.is_json and set(response.json) == {"error", "message", "details"}


def test_the_document_has_ids_and_numbers_to_check():
    assert {path for _, path, _ in PATH_IDS} >= {
        "/locks/{request_id}", "/runs/{run_id}", "/signatures/{signature_id}/hits"}
    assert {p["name"] for _, _, p in QUERY_NUMBERS} >= {"limit", "offset", "runs"}
    # Every integer states its range, so that clients can keep within it.
    assert all({"minimum", "maximum"} <= set(p["schema"]) for _, _, p in
               PATH_IDS + QUERY_NUMBERS)


@pytest.mark.parametrize("method, path, parameter", PATH_IDS)
def test_an_id_no_row_can_have_is_not_found(alice, method, path, parameter):
    body = {} if method == "post" else None
    for value in OUT_OF_RANGE + MISSING:
        response = alice.call(method.upper(),
                              path.replace("{" + parameter["name"] + "}", value), body)
        # A missing id in range may meet the body's check first (400).
        assert_error_body(response, {404} if value in OUT_OF_RANGE else {400, 404})
        assert response.status_code == 400 or response.json["error"] == "not_found"


@pytest.mark.parametrize("method, path, parameter", QUERY_NUMBERS)
def test_a_number_out_of_range_in_a_query_is_refused(alice, method, path, parameter):
    low, high = parameter["schema"]["minimum"], parameter["schema"]["maximum"]
    for value in [str(low - 1), str(high + 1), "18656707357380326719488", "9" * 5000,
                  "1.5", "1_0", " 1", "x", ""]:
        url = re.sub(r"{\w+}", "1", path) + f"?{parameter['name']}={value}"
        response = alice.call(method.upper(), url)
        # /locks/1 does not exist (404); elsewhere the number itself is refused.
        assert_error_body(response, {400, 404} if "{" in path else {400})


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_largest_offset_the_document_allows_is_answered(alice):
    response = alice.get(f"/runs?offset={2**63 - 1}&limit=500")
    assert response.status_code == 200 and response.json["runs"] == []
