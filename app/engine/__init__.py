"""The lock engine: who may hold what. Plain SQLAlchemy; knows nothing of
Flask or HTTP, so the JSON API and the embedded client share it.

Each operation takes a ``sqlalchemy.orm.Session`` and the acting
:class:`~rotest_app.models.User`, runs as one serialized transaction, and returns
JSON-ready dicts. Failures are :class:`EngineError` subclasses carrying an HTTP
status, a code and details.
"""
from .database import configure_engine, open_engine
from .errors import (Conflict, EngineError, InvalidRequest, NotFound, PermissionDenied,
                     SessionExpired, Unavailable)
from .inventory import DEFAULT_PAGE, MAX_PAGE, query, query_page, update_fields
from .locks import (cancel, close_session, get_request, heartbeat, open_session, release,
                    request_lock, wait_for)
from .maintenance import sweep
from .presence import check_presence, session_gone, still_active

__all__ = [
    "DEFAULT_PAGE", "MAX_PAGE",
    "Conflict", "EngineError", "InvalidRequest", "NotFound", "PermissionDenied",
    "SessionExpired", "Unavailable", "cancel", "check_presence", "close_session",
    "configure_engine", "get_request", "heartbeat", "open_engine", "open_session",
    "query", "query_page", "release", "request_lock", "session_gone", "still_active",
    "sweep", "update_fields", "wait_for",
]
