"""The OpenAPI document: valid, served, and in step with the blueprint's routes."""
from __future__ import annotations

import json
import re
from importlib.resources import files

import pytest
from openapi_spec_validator import validate

from api_helpers import lab  # noqa: F401 - a fixture


PREFIX = "/api/v1"
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}
BODY_METHODS = {"post", "put", "patch"}


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(files("rotest_app.api").joinpath("openapi.json").read_text("utf-8"))


def openapi_path(rule: str) -> str:
    """``/api/v1/locks/<id:request_id>`` -> ``/locks/{request_id}``."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.removeprefix(PREFIX))


def blueprint_routes(app) -> set[tuple[str, str]]:
    return {(openapi_path(rule.rule), method.lower())
            for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
            for method in rule.methods - AUTOMATIC_METHODS}


def documented_routes(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items()
            for method in item if method != "parameters"}


def test_document_is_valid_openapi(document):
    validate(document)
    assert document["openapi"].startswith("3.")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_document_covers_exactly_the_blueprint_routes(app, document):
    assert documented_routes(document) == blueprint_routes(app)
    assert document["servers"] == [{"url": PREFIX}]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_document_is_served_without_a_token(app, document):
    response = app.test_client().get(PREFIX + "/openapi.json")
    app.extensions["rotest_sweeper"].stop()  # started by the request
    assert response.status_code == 200 and response.is_json
    served = response.json
    validate(served)
    # The file as written, with the server's resource models filled in.
    export_type = served["paths"]["/inventory"]["get"]["parameters"][0]["schema"]
    assert export_type.pop("pattern") == \
        r"^([^\n]*\.)?(DeviceData|LicenseData|PortData|ResourceData)$"
    assert served["paths"] == document["paths"]
    per_model = {"Descriptor", "QueryBody", "UpdateFieldsBody"}
    schemas = served["components"]["schemas"]
    assert {name: schemas[name] for name in document["components"]["schemas"]
            if name not in per_model} == \
        {name: schema for name, schema in document["components"]["schemas"].items()
         if name not in per_model}
    types = [variant["properties"]["type"]["pattern"]
             for variant in schemas["QueryBody"]["oneOf"]]
    assert [t for t in types if re.search(t, "lab_plugin.DeviceData")] == \
        [r"^([^\n]*\.)?DeviceData$"]
    filters = schemas["DeviceDataFilters"]["patternProperties"]
    assert "^ip_address(__(exact|ne))?$" in filters
    assert not any(key.startswith("^owner") for key in filters)  # hidden from users
    assert "^is_usable(__(gt|gte|lt|lte))$" not in filters  # no order on true/false


def test_every_operation_documents_its_errors_and_security(document):
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearerAuth": []}]
    public = {("/health", "get"), ("/openapi.json", "get")}
    for path, method in documented_routes(document):
        operation = document["paths"][path][method]
        responses = operation["responses"]
        if (path, method) in public:
            assert operation["security"] == [], path
            continue
        assert "security" not in operation, (path, method)  # the global bearer applies
        assert "401" in responses, (path, method)
        if method in BODY_METHODS and "requestBody" in operation:
            assert {"400", "413"} <= set(responses), (path, method)
        for status, response in responses.items():
            if status.startswith("4"):
                assert response == {"$ref": f"#/components/responses/{_name(status)}"} \
                    or response["content"]["application/json"]["schema"] == \
                    {"$ref": "#/components/schemas/Error"}, (path, method, status)


def _name(status: str) -> str:
    return {"400": "BadRequest", "401": "Unauthorized", "403": "Forbidden",
            "404": "NotFound", "409": "Conflict", "413": "TooLarge",
            "429": "TooManyRequests"}[status]


def test_path_parameters_match_the_routes(document):
    for path, item in document["paths"].items():
        named = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", [])
                        if p["in"] == "path"}
            assert declared == named, (path, method)


# -- one source: the document is what the server checks and answers ----------------

def test_the_engines_limits_are_the_documents(document):
    """The embedded door checks with the engine's constants, the API with the
    document: both say the same."""
    from rotest_app.engine import locks, sessions
    from rotest_app.engine.lookups import MAX_LIST
    from rotest_app.engine.history import MAX_PAGE
    from rotest_app.models.locks import MAX_DESCRIPTION
    from rotest_app.models.signatures import MAX_LINK, MAX_NAME
    schemas = document["components"]["schemas"]
    lock, opened = schemas["LockBody"]["properties"], schemas["OpenSessionBody"]["properties"]
    assert (lock["priority"]["minimum"], lock["priority"]["maximum"]) == \
        (locks.PRIORITY_RANGE.start, locks.PRIORITY_RANGE.stop - 1)
    assert lock["timeout"]["maximum"] == locks.MAX_TIMEOUT
    assert (opened["lease_seconds"]["minimum"], opened["lease_seconds"]["maximum"]) == \
        (sessions.MIN_LEASE, sessions.MAX_LEASE)
    assert opened["description"]["maxLength"] == MAX_DESCRIPTION
    assert schemas["ReleaseBody"]["properties"]["resources"]["maxItems"] == MAX_LIST
    signature = schemas["SignatureBody"]["properties"]
    assert (signature["name"]["maxLength"], signature["link"]["maxLength"]) == \
        (MAX_NAME, MAX_LINK)
    limit = next(p for p in document["paths"]["/runs"]["get"]["parameters"]
                 if p["name"] == "limit")
    assert limit["schema"]["maximum"] == MAX_PAGE
    from rotest_app.engine import MAX_PAGE as MAX_QUERY_PAGE
    assert schemas["QueryBody"]["properties"]["page_size"]["maximum"] == MAX_QUERY_PAGE


def test_bodies_are_refused_by_the_documents_rules_with_clear_words(lab):
    """A rule stated only in the document (a pattern, an enum, a length) is
    enforced, and the message names the key and the rule."""
    alice = lab["alice"]
    cases = [({"name": "n", "uid": "short"}, "uid", "'uid' must be text matching"),
             ({"name": "n", "planned": -1}, "planned", "'planned' must be a whole number"),
             ({"name": "x" * 256}, "name", "'name' must be 1 to 255 characters long"),
             ({"name": "n", "settings": []}, "settings", "'settings' must be a JSON object"),
             ({"name": "n", "colour": 1}, "colour", "unknown key 'colour'")]
    for body, field, words in cases:
        answer = alice.post("/runs", body)
        assert answer.status_code == 400, body
        assert answer.json["details"]["field"] == field
        assert answer.json["message"].startswith(words), answer.json
    finish = alice.post("/runs", {"name": "n"}).json["id"]
    refused = alice.post(f"/runs/{finish}/finish", {"status": "passed"})
    assert 'one of "interrupted", "aborted"' in refused.json["message"]


def test_an_answer_the_document_does_not_allow_fails_the_tests(lab, monkeypatch):
    """The tests hold every answer to the document: an answer of another shape,
    or a status the operation does not list, is an error, not a pass."""
    from rotest_app.api import views
    alice = lab["alice"]
    monkeypatch.setattr(views.engine, "query_page", lambda *a, **k: {
        "resources": [{"name": 3}], "more": False, "next_cursor": None})
    with pytest.raises(AssertionError, match="body the document does not allow"):
        alice.post("/query", {"type": "DeviceData"})
    monkeypatch.setattr(views, "current_user",
                        lambda: (_ for _ in ()).throw(views.Unavailable("busy")))
    with pytest.raises(AssertionError, match="which the document does not list"):
        alice.get("/whoami")
