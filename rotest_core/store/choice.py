"""Which door a run uses: the remote client when a server is configured,
else the embedded one on the local database."""
from __future__ import annotations

from ..config import ConfigError, RunConfig
from ..embedded_db import prepare_database
from .client import StoreClient


def client_for(config: RunConfig, *, retry_seconds: float | None = None) -> StoreClient:
    """The remote client when a host is configured, else the embedded one
    (its database created or migrated first). ``retry_seconds``: how long the
    remote client retries while the server restarts (default: the settings';
    reports keep it short, as they must not hold a run up)."""
    if config.embedded:
        # Lazy, like the remote door below: each brings what the other does
        # not need (SQLAlchemy and the engine; requests).
        from .embedded import EmbeddedClient
        prepare_database(config.embedded_database_url, config.plugins)
        return EmbeddedClient(config.embedded_database_url,
                              lease_seconds=config.lease_seconds)
    if not config.token:
        raise ConfigError(f"a token is needed to use the rotest server at "
                          f"{config.server_url}: set 'token' in rotest.yml or "
                          f"ROTEST_TOKEN (make one with: rotest tokens create USER)")
    # Lazy: as above.
    from .remote import RemoteClient
    return RemoteClient(config.server_url, config.token,
                        retry_seconds=config.server_retry_seconds
                        if retry_seconds is None else retry_seconds)
