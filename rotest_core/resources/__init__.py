"""Resources on the client side: BaseResource and requests, the resource
manager, and the two lock clients (embedded and remote) behind one interface."""
from .base import BaseResource, ResourceLifecycleError
from .data import ResourceView
from .embedded import EmbeddedLockClient
from .errors import (LockClientError, ResourceDoesNotExistError, ResourcePermissionError,
                     ResourceRequestError, ResourceUnavailableError, ServerError,
                     SessionLostError)
from .lock_client import LockClient, descriptor
from .manager import ResourceManager
from .remote import RemoteLockClient
from .request import ResourceRequest

__all__ = [
    "BaseResource", "EmbeddedLockClient", "LockClient", "LockClientError",
    "RemoteLockClient", "ResourceDoesNotExistError", "ResourceLifecycleError",
    "ResourceManager", "ResourcePermissionError", "ResourceRequest",
    "ResourceRequestError", "ResourceUnavailableError", "ResourceView", "ServerError",
    "SessionLostError", "descriptor",
]
