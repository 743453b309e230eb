"""Every API failure as JSON: ``{"error": code, "message": ..., "details": {...}}``.

Blueprint handlers cover the API's own views; an app-wide handler covers the
routing errors (unknown path, wrong method) under the API's prefix, which
Flask raises before it knows the blueprint.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..engine import EngineError
from ..models import db
from ..routing import NoSuchRow

PREFIX = "/api/v1"
HTTP_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden",
              404: "not_found", 405: "method_not_allowed", 413: "too_large",
              429: "too_many_requests"}
HTTP_MESSAGES = {
    404: "no such API route: {method} {path}; the routes are listed in "
         + PREFIX + "/openapi.json",
    405: "{method} is not allowed on {path}; allowed: {allowed}",
    413: "the body is larger than the server's limit of {limit} bytes "
         "(max_request_bytes)",
}


def error_response(status: int, code: str, message: str,
                   details: dict[str, Any] | None = None) -> Response:
    """The one JSON error shape of the API."""
    response = jsonify(error=code, message=message, details=details or {})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="rotest"'
    return response


def register(blueprint: Blueprint) -> None:
    """Attach the handlers for errors raised inside the API's views."""
    blueprint.register_error_handler(EngineError, _engine_error)
    blueprint.register_error_handler(HTTPException, _http_error)
    blueprint.register_error_handler(DataError, _data_error)
    blueprint.register_error_handler(IntegrityError, _integrity_error)
    blueprint.register_error_handler(Exception, _unexpected)


def init_app(app: Flask) -> None:
    """Answer routing errors under the API's prefix in JSON; leave others alone."""
    app.register_error_handler(HTTPException, _routing_error)


def _engine_error(error: EngineError) -> Response:
    _rollback()
    response = error_response(error.status, error.code, error.message, error.details)
    retry_after = getattr(error, "retry_after", None)  # a 429: when to ask again
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _http_error(error: HTTPException) -> Response:
    _rollback()
    status = error.code or 500
    # An id no row can have says so; other routing errors get the API's words.
    template = None if isinstance(error, NoSuchRow) else HTTP_MESSAGES.get(status)
    allowed = sorted(error.valid_methods or []) \
        if isinstance(error, MethodNotAllowed) else []
    message = template.format(
        method=request.method, path=request.path, allowed=", ".join(allowed),
        limit=current_app.config.get("MAX_CONTENT_LENGTH")) if template \
        else error.description or error.name
    response = error_response(status, HTTP_CODES.get(status, _code_of(error)), message)
    if allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _routing_error(error: HTTPException) -> HTTPException | Response:
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        return _http_error(error)
    return error


def _data_error(error: DataError) -> Response:
    # The database refused a value the engine let through (a number beyond an
    # integer column's range, a NUL character on PostgreSQL): bad input, not a
    # server fault.
    _rollback()
    current_app.logger.info("database refused a value: %s", error.orig)
    return error_response(400, "invalid_request",
                          "a value in the request cannot be stored or compared by the "
                          "database (a number out of range, or a NUL character); "
                          "check the numbers and text you sent")


def _integrity_error(error: IntegrityError) -> Response:
    # A constraint refused a change the engine let through (update_fields of a
    # name already taken, or of a reference to a row that does not exist).
    _rollback()
    current_app.logger.info("database refused a change: %s", error.orig)
    return error_response(409, "conflict",
                          "the change conflicts with what is stored: a name already "
                          "taken, or a reference to a row that does not exist")


def _unexpected(error: Exception) -> Response:
    _rollback()
    current_app.logger.exception("unexpected error in %s %s", request.method,
                                 request.path)
    return error_response(500, "internal", "the server failed unexpectedly; this is a "
                          "bug, please report it with the time of the request")


def _rollback() -> None:
    # The engine rolls back its own transactions; this covers errors raised
    # outside them (bad input, auth), so the next request starts clean.
    try:
        db.session.rollback()
    except SQLAlchemyError:  # the connection is gone; the error answer still goes out
        current_app.logger.warning("rollback after an API error failed", exc_info=True)


def _code_of(error: HTTPException) -> str:
    return (error.name or "error").lower().replace(" ", "_")
