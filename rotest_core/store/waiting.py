"""Submit a lock request and wait for its grant: the same for both clients."""
from __future__ import annotations

import time
from typing import Any, Protocol

from ..resources.errors import ResourceUnavailableError

#: The longest one poll may block; the server may cut it shorter.
POLL_SLICE = 20.0
MIN_POLL = 0.05


class QueueDoor(Protocol):
    def submit(self, descriptors: list[dict], timeout: float,
               priority: int) -> dict[str, Any]: ...
    # May return a still waiting request before ``wait`` is over (a busy
    # server's 429, after its Retry-After): the caller polls again.
    def poll(self, request_id: int, wait: float) -> dict[str, Any]: ...
    def cancel(self, request_id: int) -> dict[str, Any]: ...


def lock_and_wait(door: QueueDoor, descriptors: list[dict], timeout: float,
                  priority: int) -> list[dict[str, Any]]:
    """Granted resources, or ResourceUnavailableError with the server's reason.

    If the wait is interrupted (Ctrl-C, an error), the request is cancelled,
    which also gives back anything granted in the meantime.
    """
    request = door.submit(descriptors, timeout, priority)
    try:
        until = time.monotonic() + timeout
        while request["state"] == "waiting":
            remaining = until - time.monotonic()
            # The server keeps the deadline; a short floor avoids spinning
            # while its clock catches up with ours.
            request = door.poll(request["id"], min(max(remaining, MIN_POLL), POLL_SLICE))
    except BaseException:
        door.cancel(request["id"])
        raise
    if request["state"] != "granted":
        raise ResourceUnavailableError(request.get("message") or
                                       f"lock request {request['state']}",
                                       {"request": request})
    return request["resources"]
