"""What the runtime asks of a lock client, and the parts both clients share.

Two clients implement it: :class:`~.embedded.EmbeddedLockClient` calls the
lock engine on a local database; :class:`~.remote.RemoteLockClient` calls the
server's JSON API. Both hold one lock session for their lifetime.
"""
from __future__ import annotations

import abc
from typing import Any

Descriptor = dict[str, Any]
ResourceDict = dict[str, Any]


def descriptor(type_name: str, **filters: Any) -> Descriptor:
    """``descriptor("DeviceData", name="dev1")`` -> a descriptor for the API."""
    return {"type": type_name, "properties": filters}


class LockClient(abc.ABC):
    """Lock and release resources within one lock session."""

    @abc.abstractmethod
    def open(self, *, lease_seconds: float | None = None, description: str = "") -> None:
        """Start the session (and keep its lease alive until :meth:`close`)."""

    @abc.abstractmethod
    def lock(self, descriptors: list[Descriptor], *, timeout: float = 0.0,
             priority: int = 0) -> list[ResourceDict]:
        """All the described resources, one per descriptor, in order; waits up
        to ``timeout`` seconds in the server's fair queue. Raises
        ResourceUnavailableError when they are not free in time."""

    @abc.abstractmethod
    def release(self, names: list[str], *, dirty: bool = False,
                force: bool = False) -> list[str]:
        """Give resources back; ``dirty`` says they were left in an unknown state."""

    @abc.abstractmethod
    def query(self, type_name: str, **filters: Any) -> list[ResourceDict]:
        """The resources of a type matching the filters, locked or not."""

    @abc.abstractmethod
    def update_fields(self, type_name: str, filters: dict[str, Any],
                      values: dict[str, Any]) -> list[ResourceDict]:
        """Set fields on the resources matching ``filters`` (held by us, or admin)."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the session: whatever it still holds is released."""

    def __enter__(self) -> "LockClient":
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
