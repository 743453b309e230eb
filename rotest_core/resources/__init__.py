"""Resources on the client side: the lock clients (embedded and remote) for now;
BaseResource and the resource manager build on them."""
from .embedded import EmbeddedLockClient
from .errors import (LockClientError, ResourceDoesNotExistError, ResourcePermissionError,
                     ResourceRequestError, ResourceUnavailableError, ServerError,
                     SessionLostError)
from .lock_client import LockClient, descriptor
from .remote import RemoteLockClient

__all__ = [
    "EmbeddedLockClient", "LockClient", "LockClientError", "RemoteLockClient",
    "ResourceDoesNotExistError", "ResourcePermissionError", "ResourceRequestError",
    "ResourceUnavailableError", "ServerError", "SessionLostError", "descriptor",
]
