"""Errors a lock client raises, named as in Rotest so ported code catches them."""
from __future__ import annotations

from typing import Any


class LockClientError(Exception):
    """Base of the lock clients' errors; ``details`` as the server gave them."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class ResourceUnavailableError(LockClientError):
    """The resources were not free before the request's timeout."""


class ResourceDoesNotExistError(LockClientError):
    """No resource matches the request (or no resource has that name)."""


class ResourcePermissionError(LockClientError):
    """The user may not lock or release that resource."""


class ResourceRequestError(LockClientError):
    """The request itself is wrong: unknown type or field, bad value."""


class SessionLostError(LockClientError):
    """The lock session expired or was closed; its locks are gone."""


class ResourcesLostError(SessionLostError):
    """Resources a test held were lost with its lock session (its lease ran
    out while the process was frozen): they were neither finalized nor
    released by this client, since another session may hold them now."""

    def __init__(self, cause: SessionLostError, names: list[str]) -> None:
        super().__init__(f"the resources {', '.join(names)} were lost with the lock "
                         f"session: {cause} (not finalized nor released here: another "
                         f"session may hold them now)", cause.details)
        self.names = names


class ServerError(LockClientError):
    """The server could not be reached or failed; the message says what to try."""


class ServerUnreachable(ServerError):
    """The server did not answer (refused, timed out, cut off): worth trying
    again later, unlike an answer that says no."""


class ServerBusy(ServerError):
    """The server refused a call for now (429): ask again after ``retry_after``
    seconds (its ``Retry-After``)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None, *,
                 retry_after: float) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


BY_CODE = {
    "unavailable": ResourceUnavailableError,
    "not_found": ResourceDoesNotExistError,
    "forbidden": ResourcePermissionError,
    "invalid_request": ResourceRequestError,
    "session_expired": SessionLostError,
}


def error_for(code: str, message: str, details: dict[str, Any] | None = None
              ) -> LockClientError:
    return BY_CODE.get(code, ServerError)(message, details)
