"""Which of the two lock clients a run uses: the remote one when a server is
configured, else the embedded one on the local database."""
from __future__ import annotations

from ..config import ConfigError, RunConfig
from ..embedded_db import prepare_database
from .embedded import EmbeddedLockClient
from .lock_client import LockClient
from .remote import RemoteLockClient


def lock_client_for(config: RunConfig) -> LockClient:
    """The remote client when a host is configured, else the embedded one
    (its database created or migrated first)."""
    if config.embedded:
        prepare_database(config.embedded_database_url, config.plugins)
        return EmbeddedLockClient(config.embedded_database_url,
                                  lease_seconds=config.lease_seconds)
    if not config.token:
        raise ConfigError(f"a token is needed to use the lock server at "
                          f"{config.server_url}: set 'token' in rotest.yml or "
                          f"ROTEST_TOKEN (make one with: rotest tokens create USER)")
    return RemoteLockClient(config.server_url, config.token,
                            retry_seconds=config.server_retry_seconds)
