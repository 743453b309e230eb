"""The engine's errors. Each carries the HTTP status the API answers with, a
stable machine-readable ``code`` and ``details`` for the JSON body."""
from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(EngineError):
    """The request is malformed: unknown type or field, a value of the wrong type."""

    status, code = 400, "invalid_request"


class PermissionDenied(EngineError):
    """The user may not do this (another user's lock, a group, an admin action)."""

    status, code = 403, "forbidden"


class NotFound(EngineError):
    """No such resource, session or request."""

    status, code = 404, "not_found"


class Conflict(EngineError):
    """The request is well formed but the state forbids it now (resources taken,
    session expired, releasing what is not held)."""

    status, code = 409, "conflict"


class Unavailable(Conflict):
    """The resources cannot be granted before the request's timeout."""

    code = "unavailable"


class SessionExpired(Conflict):
    """The session's lease ran out: its locks were released; open a new session."""

    code = "session_expired"


class Unauthorized(EngineError):
    """No valid bearer token: answered 401 with ``WWW-Authenticate: Bearer``."""

    status, code = 401, "unauthorized"
