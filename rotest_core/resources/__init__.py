"""Resources on the client side: BaseResource and requests, the resource
manager, and the two lock clients (embedded and remote) behind one interface.

All but the errors and requests are imported when first asked for: the
embedded client brings SQLAlchemy and the lock engine, the remote one
requests, and a run that locks nothing needs none of them."""
from typing import TYPE_CHECKING

from rotest_app.engine.lazy import lazy_attributes
from .errors import (LockClientError, ResourceDoesNotExistError, ResourcePermissionError,
                     ResourceRequestError, ResourcesLostError, ResourceUnavailableError,
                     ServerError, SessionLostError)
from .request import DataPointer, ResourceRequest

if TYPE_CHECKING:
    from .base import BaseResource, ResourceLifecycleError
    from .data import ResourceView
    from .embedded import EmbeddedLockClient
    from .lock_client import LockClient, descriptor
    from .manager import ResourceManager
    from .remote import RemoteLockClient

__all__ = [
    "BaseResource", "DataPointer", "EmbeddedLockClient", "LockClient", "LockClientError",
    "RemoteLockClient", "ResourceDoesNotExistError", "ResourceLifecycleError",
    "ResourceManager", "ResourcePermissionError", "ResourceRequest",
    "ResourceRequestError", "ResourceUnavailableError", "ResourceView",
    "ResourcesLostError", "ServerError",
    "SessionLostError", "descriptor",
]

__getattr__ = lazy_attributes(__name__, {
    "BaseResource": ".base", "ResourceLifecycleError": ".base", "ResourceView": ".data",
    "LockClient": ".lock_client", "descriptor": ".lock_client",
    "ResourceManager": ".manager", "EmbeddedLockClient": ".embedded",
    "RemoteLockClient": ".remote"})
