"""Resources on the client side: BaseResource and requests, the resource
manager, and the two lock clients (embedded and remote) behind one interface.

The lock clients are imported when first asked for: the embedded one brings
SQLAlchemy and the lock engine, the remote one requests, and a run that locks
nothing needs neither."""
from typing import Any

from .base import BaseResource, ResourceLifecycleError
from .data import ResourceView
from .errors import (LockClientError, ResourceDoesNotExistError, ResourcePermissionError,
                     ResourceRequestError, ResourceUnavailableError, ServerError,
                     SessionLostError)
from .lock_client import LockClient, descriptor
from .manager import ResourceManager
from .request import ResourceRequest

__all__ = [
    "BaseResource", "EmbeddedLockClient", "LockClient", "LockClientError",
    "RemoteLockClient", "ResourceDoesNotExistError", "ResourceLifecycleError",
    "ResourceManager", "ResourcePermissionError", "ResourceRequest",
    "ResourceRequestError", "ResourceUnavailableError", "ResourceView", "ServerError",
    "SessionLostError", "descriptor",
]

_LAZY = {"EmbeddedLockClient": ".embedded", "RemoteLockClient": ".remote"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
