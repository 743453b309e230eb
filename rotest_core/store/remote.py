"""The remote client: the server's JSON API over HTTP.

A background thread renews the session's lease; another keeps the session's
presence stream open, so that the server ends the session the moment this
process dies; waits are long-polls, so a grant reaches the client as soon as
the server makes it. A client rides out a server restart: a call the server
cannot take now (refused, reset, a 502 or 503, such as a lock poll ended by a
stop) is sent again with backoff, for up to ``retry_seconds``
(``server_retry_seconds``) from the first failure.
"""
from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator
from urllib.parse import urlencode

import requests

from ..config import SERVER_RETRY_SECONDS
from ..resources.errors import (LockClientError, ResourceDoesNotExistError,
                                ResourceRequestError, ServerBusy, ServerUnreachable,
                                SessionLostError, error_for)
from .client import Descriptor, ResourceDict, StoreClient

log = logging.getLogger(__name__)

#: Bounds on the wait a 429's Retry-After asks for: a missing or odd header
#: must neither spin nor stall the run.
RETRY_AFTER = (0.5, 60.0)
#: The backoff between tries to reach the server: from the first to the most.
BACKOFF = (0.2, 1.0)
#: Answers that say "not now, the request was not served": a proxy with no
#: server behind it (502), a server stopping or unable to serve (503).
COME_BACK = {502, 503}
#: Methods a call may send again after it went unanswered (a timeout, a 504):
#: the server may have served it, and doing these twice changes nothing.
IDEMPOTENT = {"GET", "HEAD", "DELETE"}
#: Seconds without a byte on the presence stream (the server sends one every
#: half second) before the client takes the connection for dead and makes a
#: new one. Long: the server ends the session when the old one closes.
PRESENCE_SILENCE = 60.0
#: Seconds an inventory import or export may go without a byte: a lab's
#: whole inventory is one transaction on the server.
INVENTORY_SECONDS = 600.0
#: What the server calls an import file in its messages (api/inventory.py).
BODY = "the request body"


class RemoteClient(StoreClient):
    """The store through the server at ``base_url`` (e.g. ``http://lab:8000``)."""

    #: The server's ``lease_seconds`` unless :meth:`open` is given one.
    DEFAULT_LEASE = None
    _presence: "_Presence | None" = None

    def __init__(self, base_url: str, token: str, *,
                 retry_seconds: float = SERVER_RETRY_SECONDS,
                 connect_timeout: float = 5.0) -> None:
        self.api = base_url.rstrip("/") + "/api/v1"
        self.where = f"the rotest server at {base_url}"
        self.retry_seconds = retry_seconds
        self.connect_timeout = connect_timeout
        self.http = _session(self.api)
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None, *,
             read_timeout: float = 30.0, idempotent: bool | None = None
             ) -> tuple[int, dict[str, Any]]:
        """One API call, sent again with backoff while the server cannot take
        it, for up to ``retry_seconds`` from the first failure. A call that
        went unanswered is sent again only if ``idempotent`` (default: by its
        method), as the server may have served it."""
        if idempotent is None:
            idempotent = method in IDEMPOTENT
        delay, first_failure = BACKOFF[0], None
        while True:
            try:
                response = self.http.request(method, self.api + path, json=body,
                                             timeout=(self.connect_timeout, read_timeout))
            except requests.ConnectionError as error:  # refused, reset, no route
                reason, pause = _why(error), delay
            except requests.Timeout as error:  # connected, then no answer in time
                if not idempotent:
                    raise ServerUnreachable(
                        f"{method} {path} to the rotest server at {self.api} failed: "
                        f"{error}. It may or may not have been done; check before "
                        f"trying again.") from None
                reason, pause = f"no answer within {read_timeout:g} s", delay
            except requests.RequestException as error:  # a broken answer
                raise ServerUnreachable(f"{method} {path} to the rotest server at "
                                        f"{self.api} failed: {error}") from None
            else:
                if not (response.status_code in COME_BACK
                        or response.status_code == 504 and idempotent):
                    return response.status_code, self._body(response)
                reason = f"HTTP {response.status_code} {_message(response)}"
                pause = max(delay, min(_retry_after(response), BACKOFF[1]))
            now = time.monotonic()
            first_failure = first_failure or now
            waited = now - first_failure
            if waited + pause > self.retry_seconds:
                raise ServerUnreachable(
                    f"cannot reach the rotest server at {self.api}: tried for "
                    f"{waited:.1f} s of the {self.retry_seconds:g} s this client "
                    f"waits (server_retry_seconds, or ROTEST_SERVER_RETRY_SECONDS); "
                    f"last: {reason}. Is it running? "
                    f"Check 'host' and 'port' in rotest.yml.") from None
            log.warning("rotest server unreachable for %.1f s (%s); retrying in %.1f s, "
                        "for up to %.0f s more", waited, reason, pause,
                        self.retry_seconds - waited)
            time.sleep(pause)
            delay = min(delay * 2, BACKOFF[1])

    @staticmethod
    def _body(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = {}
        # 409 "unavailable" still carries the request, which the waiter reads.
        if response.ok or body.get("error") == "unavailable":
            return body
        if response.status_code == 429:
            raise ServerBusy(body.get("message", "the server is busy"), body.get("details"),
                             retry_after=_retry_after(response))
        raise error_for(body.get("error", "server_error"),
                        body.get("message", f"HTTP {response.status_code}"),
                        body.get("details"))

    def _open_session(self, lease_seconds: float | None, description: str
                      ) -> dict[str, Any]:
        body: dict[str, Any] = {"description": description}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        return self.call("POST", "/sessions", body)[1]

    def _attend(self) -> None:
        # Nothing yet: the stream opens with the first lock request (submit).
        # A session that never asked for anything strands nothing if its
        # process dies, and the stream's set-up does not compete with the
        # request's way into the queue.
        self._presence = None

    def wait_present(self, timeout: float) -> bool:
        """Whether the session's presence stream is open, waiting up to
        ``timeout`` seconds for it (it opens in the background, with the
        session's first lock request)."""
        presence = self._presence
        return presence is not None and presence.attached.wait(timeout)

    def _leave(self) -> None:
        if self._presence is not None:
            self._presence.stop()
            self._presence = None

    def _renew(self) -> None:
        self.call("POST", f"/sessions/{self.session_id}/heartbeat", idempotent=True)

    def _close_session(self) -> None:
        self.call("DELETE", f"/sessions/{self.session_id}")

    def _dispose(self) -> None:
        self.http.close()

    def submit(self, descriptors: list[Descriptor], timeout: float,
               priority: int) -> dict[str, Any]:
        status, body = self.call("POST", "/locks", {
            "session_id": self.session_id, "descriptors": descriptors,
            "timeout": timeout, "priority": priority})
        if self._presence is None and self.session_id is not None:
            self._presence = _Presence(self, self.session_id)
        return body["details"]["request"] if status == 409 else body

    def poll(self, request_id: int, wait: float) -> dict[str, Any]:
        """The request's state once it leaves the queue, or after ``wait``.

        A server whose poll slots are full answers 429: then the client waits
        here for its Retry-After and asks for the state without waiting, which
        the server never refuses; the caller polls again if still waiting."""
        try:
            return self.call("GET", f"/locks/{request_id}?wait={wait:.3f}",
                             read_timeout=wait + 30.0)[1]
        except ServerBusy as busy:
            log.info("rotest server busy (%s); asking again in %.1fs", busy,
                     busy.retry_after)
            time.sleep(busy.retry_after)
            return self.call("GET", f"/locks/{request_id}")[1]

    def cancel(self, request_id: int) -> dict[str, Any]:
        return self.call("DELETE", f"/locks/{request_id}")[1]

    def release(self, names: list[str], *, dirty: bool = False,
                force: bool = False) -> list[str]:
        body = {"resources": list(names), "dirty": dirty, "force": force}
        if self.session_id is not None:
            body["session_id"] = self.session_id
        return self.call("POST", "/release", body)[1]["released"]

    def query_page(self, type_name: str, filters: dict[str, Any], *,
                   cursor: str | None = None,
                   page_size: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": type_name, "filters": filters}
        if cursor is not None:
            body["cursor"] = cursor
        if page_size is not None:
            body["page_size"] = page_size
        return self.call("POST", "/query", body)[1]

    def update_fields(self, type_name: str, filters: dict[str, Any],
                      values: dict[str, Any]) -> list[ResourceDict]:
        return self.call("POST", "/update_fields", {"type": type_name, "filters": filters,
                                                    "values": values})[1]["resources"]

    def _answer(self, method: str, path: str, body: Any = None, *,
                read_timeout: float = 30.0) -> Any:
        return self.call(method, path, body, read_timeout=read_timeout)[1]

    def start_run(self, **run: Any) -> dict[str, Any]:
        return self._answer("POST", "/runs", run)

    def add_records(self, run_id: int, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self._answer("POST", f"/runs/{run_id}/records", {"records": records})

    def finish_run(self, run_id: int, *, end: str, artifact_path: str | None,
                   status: str | None = None) -> dict[str, Any]:
        body = {key: value for key, value in (("end", end), ("artifact_path", artifact_path),
                                              ("status", status)) if value is not None}
        return self._answer("POST", f"/runs/{run_id}/finish", body)

    def latest_results(self, name: str) -> dict[str, Any]:
        return self._answer("GET", "/runs/latest?" + urlencode({"name": name}))

    def past_durations(self, name: str | None) -> dict[str, float]:
        query = urlencode({"name": name}) if name else ""
        return self._answer("GET", "/runs/durations?" + query)["durations"]

    def recent_durations(self, name: str | None) -> dict[str, float]:
        query = urlencode({"name": name}) if name else ""
        return self._answer("GET", "/runs/recent-durations?" + query)["durations"]

    def claim_shard_plan(self, **plan: Any) -> dict[str, Any]:
        return self._answer("POST", "/runs/shard-plans", plan)

    def shard_plan(self, run_group: str) -> dict[str, Any] | None:
        try:
            return self._answer("GET", "/runs/shard-plans?" + urlencode(
                {"run_group": run_group}))
        except ResourceDoesNotExistError:
            return None

    def group_results(self, name: str, run_group: str | None = None,
                      exclude_group: str | None = None) -> dict[str, Any]:
        query = {"name": name, "run_group": run_group, "exclude_group": exclude_group}
        return self._answer("GET", "/runs/group-results?" + urlencode(
            {key: value for key, value in query.items() if value is not None}))

    def signatures(self) -> list[dict[str, Any]]:
        return self._answer("GET", "/signatures", read_timeout=10.0)["signatures"]

    def add_signature(self, name: str, pattern: str) -> dict[str, Any]:
        return self._answer("POST", "/signatures", {"name": name, "pattern": pattern},
                            read_timeout=10.0)

    def count_hit(self, signature_id: int) -> None:
        self._answer("POST", f"/signatures/{signature_id}/hits", read_timeout=10.0)

    def import_inventory(self, path: Path, *, keep_changes: bool = False,
                         progress: Callable[[int, int], None] | None = None) -> Any:
        with path.open("rb") as file, self._sending("the import"):
            response = self.http.post(
                f"{self.api}/inventory", data=_Reading(file, progress),
                params={"changes": "true" if keep_changes else "false"},
                headers={"Content-Type": "application/yaml"},
                timeout=(self.connect_timeout, INVENTORY_SECONDS))
        try:
            answer = self._body(response)
        except ResourceRequestError as error:  # a bad file: said as the embedded door says it
            # Lazy: the importer's module brings SQLAlchemy, which this door never needs.
            from rotest_app.engine.importer import InventoryError
            # The server names its source "the request body"; here it is a file.
            raise InventoryError(str(error).replace(BODY, str(path), 1)) from None
        return ImportAnswer(answer["created"], answer["updated"], answer["unchanged"],
                            [(change["action"], change["type"], change["name"])
                             for change in answer.get("changes", ())])

    def export_inventory(self, out: IO[str], type_name: str = "ResourceData", *,
                         progress: Callable[[int, int], None] | None = None) -> int:
        written = 0
        with self._sending("the export"), self.http.get(
                f"{self.api}/inventory", params={"type": type_name}, stream=True,
                timeout=(self.connect_timeout, INVENTORY_SECONDS)) as response:
            if not response.ok:
                self._body(response)  # raises what the answer says
            response.encoding = "utf-8"
            for line in response.iter_lines(decode_unicode=True):
                if line == "[]":  # the server's way of saying "none"
                    continue
                # An entry starts at the margin ("- name: ..."); its fields
                # and nested parts are indented.
                written += line.startswith("- ")
                out.write(line + "\n")
                if progress is not None and line.startswith("- "):
                    progress(written, written)
        return written

    @contextmanager
    def _sending(self, what: str) -> Iterator[None]:
        """A broken connection as :class:`ServerUnreachable`: sent once, not
        again (an import may have been done; the server says so either way)."""
        try:
            yield
        except requests.RequestException as error:
            raise ServerUnreachable(f"{what} at the rotest server at {self.api} failed: "
                                    f"{error}. An import is all or none: run `rotest "
                                    f"resources list` to see whether it was done.") from None


@dataclass
class ImportAnswer:
    """The server's answer to an import, as :class:`ImportResult` reads."""

    created: int
    updated: int
    unchanged: int
    changes: list[tuple[str, str, str]]

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


class _Reading:
    """A file sent as a request body, telling ``progress`` how far it got."""

    def __init__(self, file: IO[bytes], progress: Callable[[int, int], None] | None) -> None:
        self.file, self.progress = file, progress
        self.size = os.fstat(file.fileno()).st_size
        self.len = self.size  # requests sends a Content-Length from it

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        if self.progress is not None:
            self.progress(self.file.tell(), 0)
        return chunk


def _session(api: str) -> requests.Session:
    """A requests Session for the server at ``api`` that reads the
    environment's proxy and CA settings once, here, not on every call as
    requests does (it walks all of ``os.environ`` twice a request: a third of
    a lock cycle's CPU in the client). Nor does it take credentials from
    ``~/.netrc``: the token is the client's one credential."""
    http = requests.Session()
    found = http.merge_environment_settings(api, {}, None, None, None)
    http.proxies.update(found["proxies"])
    http.verify = found["verify"]
    http.trust_env = False
    return http


def _why(error: requests.ConnectionError) -> str:
    """The cause in a few words: requests wraps it in two layers of text."""
    text = str(error)
    cause = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text) \
        or re.search(r"(Remote end closed connection without response|"
                     r"Connection aborted|Connection reset by peer|timed out)", text)
    return f"ConnectionError: {cause.group(1) if cause else text[:200]}"


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except (ValueError, AttributeError):
        return ""


def _retry_after(response: requests.Response) -> float:
    """The seconds a 429 asks to wait, within :data:`RETRY_AFTER`."""
    low, high = RETRY_AFTER
    try:
        seconds = float(response.headers.get("Retry-After", low))
    except ValueError:  # an HTTP date: not what this server sends
        return low
    return min(max(seconds, low), high) if math.isfinite(seconds) else low


class _Presence:
    """The session's presence stream, kept open by a daemon thread: the server
    ends the session when the connection closes, which the kernel does the
    moment this process dies. Reconnected when the server ends it (a restart)
    or refuses it for now (429); given up when the session has ended (the
    heartbeat reports that) or the server has no presence (an older one)."""

    def __init__(self, client: RemoteClient, session_id: str) -> None:
        self.url = f"{client.api}/sessions/{session_id}/presence"
        self.client = client
        self.attached = threading.Event()  # a stream is open now
        self._stopping = threading.Event()
        # A connection of its own: the stream never frees the client's.
        self.http = _session(client.api)
        self.http.headers.update(client.http.headers)
        threading.Thread(target=self._run, daemon=True, name="rotest-presence").start()

    def stop(self) -> None:
        """End the stream (the session is closed): the thread leaves at the next
        byte, at most half a second on."""
        self._stopping.set()

    def _run(self) -> None:
        delay = 0.5
        try:
            while not self._stopping.is_set():
                try:
                    self._attend()
                    delay = 0.5  # it was open: the server stopped, or the stream broke
                except ServerBusy as busy:
                    delay = busy.retry_after
                except ServerUnreachable as error:
                    log.debug("presence stream: %s; trying again", error)
                except LockClientError as error:  # the answer says no: stop trying
                    self._given_up(error)
                    return
                except requests.RequestException as error:
                    log.debug("presence stream broken (%s); reconnecting", error)
                finally:
                    self.attached.clear()
                self._stopping.wait(delay)
                delay = min(delay * 2, 5.0)
        finally:
            self.http.close()

    def _attend(self) -> None:
        """One stream, read until it ends."""
        with self.http.get(self.url, stream=True, timeout=(
                self.client.connect_timeout, PRESENCE_SILENCE)) as response:
            if response.status_code >= 500:
                raise ServerUnreachable(f"the server answered {response.status_code}")
            if not response.ok:
                self.client._body(response)  # raises what the answer says
            self.attached.set()
            for _ in response.iter_content(chunk_size=64):
                if self._stopping.is_set():
                    return

    def _given_up(self, error: LockClientError) -> None:
        if self._stopping.is_set():
            return
        if isinstance(error, SessionLostError) and self.url.endswith(
                f"/sessions/{self.client.session_id}/presence"):
            self.client._session_lost(error)  # sooner than the next heartbeat
        else:
            log.info("presence stream given up: %s", error)
