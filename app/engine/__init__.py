"""The lock engine: who may hold what. Plain SQLAlchemy; knows nothing of
Flask or HTTP, so the JSON API and the embedded client share it.

Each operation takes a ``sqlalchemy.orm.Session`` and the acting
:class:`~rotest_app.models.User`, runs as one serialized transaction, and returns
JSON-ready dicts. Failures are :class:`EngineError` subclasses carrying an HTTP
status, a code and details.
"""
from .lazy import lazy_attributes

#: The operations, imported on first use: the runtime imports the engine's light
#: modules (settings, outcomes) at start-up, and these cost 0.5 s of SQLAlchemy.
_EXPORTS = {
    "configure_engine": ".database", "open_engine": ".database",
    **dict.fromkeys(["Conflict", "EngineError", "InvalidRequest", "NotFound",
                     "PermissionDenied", "SessionExpired", "Unavailable"], ".errors"),
    **dict.fromkeys(["DEFAULT_PAGE", "MAX_PAGE", "query", "query_page", "update_fields"],
                    ".inventory"),
    **dict.fromkeys(["cancel", "close_session", "get_request", "heartbeat", "open_session",
                     "release", "request_lock", "wait_for"], ".locks"),
    "sweep": ".maintenance",
    **dict.fromkeys(["check_presence", "session_gone", "still_active"], ".presence"),
}
__getattr__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "DEFAULT_PAGE", "MAX_PAGE",
    "Conflict", "EngineError", "InvalidRequest", "NotFound", "PermissionDenied",
    "SessionExpired", "Unavailable", "cancel", "check_presence", "close_session",
    "configure_engine", "get_request", "heartbeat", "open_engine", "open_session",
    "query", "query_page", "release", "request_lock", "session_gone", "still_active",
    "sweep", "update_fields", "wait_for",
]
