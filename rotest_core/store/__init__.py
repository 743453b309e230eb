"""The store from the runtime's side: one client, two doors.

Everything the runtime and the reports ask of the store (lock sessions and
locks, resource queries, the run history, error signatures, the inventory) is
one table of operations, :class:`~.client.StoreClient`, with exactly two
implementations: :class:`~.embedded.EmbeddedClient` calls the engine
(:mod:`rotest_app.engine`) in-process on the local database, and
:class:`~.remote.RemoteClient` the server's JSON API. :func:`client_for`
picks the door from the run's settings.

Each name is imported when first used: the embedded client brings SQLAlchemy
and the engine, the remote one requests, and a run that locks nothing and
keeps no history needs neither.
"""
from typing import TYPE_CHECKING

from rotest_app.engine.lazy import lazy_attributes

if TYPE_CHECKING:
    from .choice import client_for
    from .client import StoreClient, descriptor
    from .embedded import EmbeddedClient
    from .remote import RemoteClient

__all__ = ["EmbeddedClient", "RemoteClient", "StoreClient", "client_for", "descriptor"]

__getattr__ = lazy_attributes(__name__, {
    "StoreClient": ".client", "descriptor": ".client", "EmbeddedClient": ".embedded",
    "RemoteClient": ".remote", "client_for": ".choice"})
