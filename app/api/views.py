"""The routes of /api/v1: each reads its input, makes one engine call and
answers its result. The rules of who may hold what live in :mod:`app.engine`."""
from __future__ import annotations

import math
import re
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import engine
from ..engine import InvalidRequest, Unavailable
from ..models import db, resource_models
from ..models.locks import MAX_DESCRIPTION
from . import errors
from .auth import authenticate, current_user
from .body import ARRAY, BOOLEAN, INTEGER, NUMBER, OBJECT, STRING, Field, read_body
from .document import served_document
from .polls import long_polls

bp = Blueprint("api", __name__, url_prefix=errors.PREFIX)
errors.register(bp)

PUBLIC_ENDPOINTS = {"api.health", "api.openapi"}

SESSION_FIELDS = {"lease_seconds": Field(NUMBER),
                  "description": Field(STRING, max_length=MAX_DESCRIPTION)}
LOCK_FIELDS = {"session_id": Field(STRING, required=True),
               "descriptors": Field(ARRAY, required=True),
               "timeout": Field(NUMBER), "priority": Field(INTEGER)}
RELEASE_FIELDS = {"resources": Field(ARRAY, required=True), "dirty": Field(BOOLEAN),
                  "force": Field(BOOLEAN), "session_id": Field(STRING)}
QUERY_FIELDS = {"type": Field(STRING, required=True), "filters": Field(OBJECT)}
UPDATE_FIELDS = {**QUERY_FIELDS, "values": Field(OBJECT, required=True)}


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in PUBLIC_ENDPOINTS and request.method != "OPTIONS":
        authenticate()


def _db() -> Session:
    # The engine needs the Session itself, not Flask-SQLAlchemy's scoped proxy.
    return db.session()


@bp.get("/health")
def health() -> Response | dict[str, str]:
    """Liveness for load balancers: the process answers and so does the database."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.commit()
    except SQLAlchemyError as error:
        current_app.logger.warning("health check: database unreachable: %s", error)
        return errors.error_response(503, "database_unavailable",
                                     "the server cannot reach its database")
    return {"status": "ok"}


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI document of this API, with this server's resource types."""
    models = resource_models()
    document = served_document(tuple(models[name] for name in sorted(models)))
    return Response(document, mimetype="application/json")


@bp.get("/whoami")
def whoami() -> dict[str, Any]:
    """The authenticated user, to check a token."""
    user = current_user()
    return {"username": user.username, "is_admin": user.is_admin,
            "groups": sorted(group.name for group in user.groups)}


@bp.post("/sessions")
def open_session() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Open a lock session with a lease (seconds) the client renews by heartbeat."""
    body = read_body(SESSION_FIELDS)
    default_lease = current_app.config["ROTEST"]["lease_seconds"]
    session = engine.open_session(_db(), current_user(),
                                  lease_seconds=body.get("lease_seconds", default_lease),
                                  description=body.get("description", ""))
    return session, 201, {"Location": url_for(".close_session", session_id=session["id"])}


@bp.post("/sessions/<session_id>/heartbeat")
def heartbeat(session_id: str) -> dict[str, Any]:
    """Renew the session's lease."""
    return engine.heartbeat(_db(), current_user(), session_id)


@bp.delete("/sessions/<session_id>")
def close_session(session_id: str) -> dict[str, Any]:
    """Close the session: release all it holds, cancel its waiting requests."""
    return engine.close_session(_db(), current_user(), session_id)


@bp.post("/locks")
def request_lock() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Ask for resources: 200 granted, 202 waiting (poll it), 409 unavailable now."""
    body = read_body(LOCK_FIELDS)
    result = engine.request_lock(_db(), current_user(), body["session_id"],
                                 body["descriptors"], timeout=body.get("timeout", 0.0),
                                 priority=body.get("priority", 0))
    if result["state"] == "timed_out":
        raise Unavailable(result["message"], request=result)
    status = 202 if result["state"] == "waiting" else 200
    return result, status, {"Location": url_for(".get_lock", request_id=result["id"])}


@bp.get("/locks/<id:request_id>")
def get_lock(request_id: int) -> dict[str, Any]:
    """A request's state; with ``?wait=SECONDS``, a long-poll until it leaves the
    queue, if a poll slot is free (else 429 with Retry-After, see polls.py)."""
    wait = _wait_seconds()
    if wait > 0:
        with long_polls().slot(current_user().id):
            return engine.wait_for(_db(), current_user(), request_id, wait)
    return engine.get_request(_db(), current_user(), request_id)


@bp.delete("/locks/<id:request_id>")
def cancel_lock(request_id: int) -> dict[str, Any]:
    """Withdraw a request; if it was granted meanwhile its resources are released."""
    return engine.cancel(_db(), current_user(), request_id)


@bp.post("/release")
def release() -> dict[str, list[str]]:
    """Release resources by name: with ``session_id``, only what that session
    holds; without, what any session of the user holds (an admin may ``force``
    anyone's)."""
    body = read_body(RELEASE_FIELDS)
    released = engine.release(_db(), current_user(), body["resources"],
                              dirty=body.get("dirty", False),
                              force=body.get("force", False),
                              session_id=body.get("session_id"))
    return {"released": released}


@bp.post("/query")
def query() -> dict[str, list[dict[str, Any]]]:
    """Resources of a type matching field lookups, among those the user may lock."""
    body = read_body(QUERY_FIELDS)
    return {"resources": engine.query(_db(), current_user(), body["type"],
                                      body.get("filters"))}


@bp.post("/update_fields")
def update_fields() -> dict[str, list[dict[str, Any]]]:
    """Set field values on matching resources (their holder, or an admin)."""
    body = read_body(UPDATE_FIELDS)
    return {"resources": engine.update_fields(_db(), current_user(), body["type"],
                                              body.get("filters") or {}, body["values"])}


def query_int(name: str, default: int, low: int, high: int) -> int:
    """``?name=`` as a whole number from ``low`` to ``high`` (both documented
    in openapi.json), else 400: a number past what the database binds would
    otherwise fail there (a 500)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    # The length first: int() of thousands of digits is slow, then refused.
    value = int(raw) if re.fullmatch(r"-?\d{1,20}", raw) else None
    if value is None or not low <= value <= high:
        raise InvalidRequest(f"{name!r} must be a whole number from {low} to {high}, "
                             f"got {raw[:30]!r}", field=name)
    return value


def _wait_seconds() -> float:
    """``?wait=`` as seconds, capped by the server's ``long_poll_seconds``."""
    raw = request.args.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        wait = math.nan
    if not math.isfinite(wait) or wait < 0:
        raise InvalidRequest(f"'wait' must be a number of seconds, 0 or more; got "
                             f"{raw[:30]!r}", field="wait")
    return min(wait, current_app.config["ROTEST"]["long_poll_seconds"])
