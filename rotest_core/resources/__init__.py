"""Resources on the client side: BaseResource and requests, and the
resource manager, which locks them through the store's client
(:mod:`rotest_core.store`).

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
    from .manager import ResourceManager

__all__ = [
    "BaseResource", "DataPointer", "LockClientError", "ResourceDoesNotExistError",
    "ResourceLifecycleError", "ResourceManager", "ResourcePermissionError",
    "ResourceRequest", "ResourceRequestError", "ResourceUnavailableError",
    "ResourceView", "ResourcesLostError", "ServerError", "SessionLostError",
]

__getattr__ = lazy_attributes(__name__, {
    "BaseResource": ".base", "ResourceLifecycleError": ".base", "ResourceView": ".data",
    "ResourceManager": ".manager"})
