"""The routes of /api/v1: each reads its input, makes one engine call and
answers its result. The rules of who may hold what live in :mod:`rotest_app.engine`."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from rotest_app import engine
from ..engine import lifecycle
from ..engine import Unavailable
from ..models import db, resource_models
from . import errors
from .auth import authenticate, current_user
from .contract import query_number, read_body
from .document import served_document
from .polls import PollEndedByStop, long_polls

bp = Blueprint("api", __name__, url_prefix=errors.PREFIX)
errors.register(bp)

PUBLIC_ENDPOINTS = {"api.health", "api.openapi"}



@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in PUBLIC_ENDPOINTS and request.method != "OPTIONS":
        authenticate()


def _db() -> Session:
    # The engine needs the Session itself, not Flask-SQLAlchemy's scoped proxy.
    return db.session()


@bp.get("/health")
def health() -> Response | dict[str, str]:
    """For load balancers: 200 while this instance takes work (its database
    answers and it is not stopping), else 503, so that traffic drains away."""
    if lifecycle.is_stopping():
        return errors.error_response(503, "stopping", "this server process is stopping "
                                     "(a restart or shutdown); send requests elsewhere")
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
    body = read_body("OpenSessionBody")
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
    body = read_body("LockBody")
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
    queue, if a poll slot is free (else 429 with Retry-After, see polls.py); a
    poll the server's stop ends is a 503 with Retry-After."""
    wait = _wait_seconds()
    if wait > 0:
        with long_polls().slot(current_user().id):
            state = engine.wait_for(_db(), current_user(), request_id, wait)
        if state["state"] == "waiting" and lifecycle.is_stopping():
            raise PollEndedByStop(state)
        return state
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
    body = read_body("ReleaseBody")
    released = engine.release(_db(), current_user(), body["resources"],
                              dirty=body.get("dirty", False),
                              force=body.get("force", False),
                              session_id=body.get("session_id"))
    return {"released": released}


@bp.post("/query")
def query() -> dict[str, Any]:
    """A page of the resources of a type matching field lookups, among those
    the user sees; ``more`` and ``next_cursor`` lead to the next page."""
    body = read_body("QueryBody")
    return engine.query_page(_db(), current_user(), body["type"], body.get("filters"),
                             cursor=body.get("cursor"),
                             page_size=body.get("page_size", engine.DEFAULT_PAGE))


@bp.post("/update_fields")
def update_fields() -> dict[str, list[dict[str, Any]]]:
    """Set field values on matching resources (their holder, or an admin)."""
    body = read_body("UpdateFieldsBody")
    return {"resources": engine.update_fields(_db(), current_user(), body["type"],
                                              body.get("filters") or {}, body["values"])}


def _wait_seconds() -> float:
    """``?wait=`` as seconds, capped by the server's ``long_poll_seconds``."""
    return min(query_number("wait"), current_app.config["ROTEST"]["long_poll_seconds"])
