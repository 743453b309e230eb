"""A client's presence: one long request per lock session, whose close the
server sees.

``GET /api/v1/sessions/<id>/presence`` answers a stream that never ends on its
own: a byte every :data:`PULSE` seconds. A client process that dies (kill -9,
a crash, a killed CI job) has its connection closed by its kernel; the server
sees the hang-up at once (the socket turns readable at its end; without the
socket, a write fails a pulse or two later) and ends the session: its locks
reach the next waiter. Behind a proxy this holds too: a proxy closes the
upstream connection when the client's closes.

What the stream does *not* do:

- renew the lease. A frozen client (SIGSTOP, a debugger) keeps its sockets
  open, so only its heartbeats may keep its locks; the lease frees it.
- end the session when the server stops. A stopping process (see
  :mod:`rotest_app.engine.lifecycle`) ends its streams normally; the client reconnects to
  the next one. It does the same after :data:`LIFETIME`, so that a proxy
  that caps how long a connection lives never cuts a stream.

Each stream holds a server thread, so a process holds at most
``presence_limit`` of them; above that a client is told to try again later
(429 with ``Retry-After``).
"""
from __future__ import annotations

import logging
import select
import socket
import threading
import time
from typing import Any, Iterator

from flask import Flask, Response, current_app, request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from rotest_app import engine
from ..engine import lifecycle
from ..models import db
from .auth import current_user
from .polls import TooManyPolls
from .views import bp

log = logging.getLogger(__name__)

EXTENSION = "rotest_presences"
#: Seconds between two bytes of a stream: how soon a hang-up is seen.
PULSE = 0.5
#: Seconds between two looks at whether the session still lives (it may have
#: expired or been closed): then the stream ends and frees its thread.
RECHECK = 5.0
#: Seconds a client refused for the cap waits before it asks again.
RETRY_AFTER = 5
#: Seconds after which a stream ends normally and the client makes a new one:
#: so that no proxy's cap on a connection's life cuts a stream (which would
#: end a live client's session), and a server's threads turn over.
LIFETIME = 300.0


class Presences:
    """Counts the presence streams open in this process, up to a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        """Take a slot or raise :class:`TooManyPolls` (429) at once."""
        with self._lock:
            if self.open >= self.limit:
                raise TooManyPolls(
                    f"the server process holds its most presence streams ({self.limit}, "
                    f"presence_limit); connect again in {RETRY_AFTER} s (Retry-After). "
                    f"Meanwhile your session's lease alone keeps its locks",
                    RETRY_AFTER)
            self.open += 1

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


def init_app(app: Flask) -> None:
    """Give the app its stream counter, sized by ``presence_limit``."""
    app.extensions[EXTENSION] = Presences(app.config["ROTEST"]["presence_limit"])


@bp.get("/sessions/<session_id>/presence")
def presence(session_id: str) -> Response:
    """Stay connected while the client lives; the session ends when it hangs up."""
    engine.check_presence(db.session(), current_user(), session_id)
    slots: Presences = current_app.extensions[EXTENSION]
    slots.take()
    bind = db.engine
    # The connection itself, to see a hang-up without waiting for a write to
    # fail (gunicorn and werkzeug both offer it).
    environ = request.environ
    peer = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    response = Response(_pulses(bind, session_id, peer), mimetype="text/plain",
                        headers={"Cache-Control": "no-store",
                                 "X-Accel-Buffering": "no"})  # nginx: pass each byte on
    response.call_on_close(slots.give_back)
    return response


def _pulses(bind: Engine, session_id: str, peer: Any) -> Iterator[bytes]:
    """The stream's body. Runs after the view returned: no app context here."""
    hung_up = False
    watch = _HangUpWatch(peer)
    recheck = time.monotonic() + RECHECK
    ends = time.monotonic() + LIFETIME
    try:
        while time.monotonic() < ends:
            try:
                yield b"\n"
            except GeneratorExit:  # the server could not write: the client is gone
                hung_up = True
                raise
            gone = watch.wait(PULSE)
            if lifecycle.is_stopping():
                return  # the server stops; the client comes back to the next one
            if gone:
                hung_up = True
                return
            if time.monotonic() >= recheck:
                recheck = time.monotonic() + RECHECK
                if not _still_active(bind, session_id):
                    return
    finally:
        if hung_up and not lifecycle.is_stopping():
            _end(bind, session_id)


class _HangUpWatch:
    """Sees, without reading anything, the moment the peer closes the
    connection; without the socket (another server, TLS), a failed write
    tells instead, a pulse later."""

    def __init__(self, peer: Any) -> None:
        self.peer = peer if isinstance(peer, socket.socket) else None
        self._poll = None
        if self.peer is not None:
            self._poll = select.poll()
            self._poll.register(self.peer,
                                select.POLLIN | select.POLLERR | select.POLLHUP)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as the peer has hung up. Wakes
        early, returning False, when the server begins to stop."""
        if self._poll is None:
            lifecycle.wait_for_stop(seconds)
            return False
        if not self._poll.poll(seconds * 1000):
            return False
        try:
            if self.peer.recv(1, socket.MSG_PEEK) == b"":  # end of stream
                return True
        except (ConnectionError, TimeoutError):
            return True
        except (OSError, ValueError):  # e.g. TLS, which cannot peek
            pass
        # Readable but not closed (the client sent bytes, or TLS): stop
        # watching, lest poll() return at once forever; writes tell from now.
        self._poll = None
        lifecycle.wait_for_stop(seconds)
        return False


def _still_active(bind: Engine, session_id: str) -> bool:
    try:
        with Session(bind) as db_session:
            return engine.still_active(db_session, session_id)
    except SQLAlchemyError as error:  # the database is away: keep streaming
        log.warning("presence of session %s: database unreachable: %s", session_id, error)
        return True


def _end(bind: Engine, session_id: str) -> None:
    try:
        with Session(bind) as db_session:
            if engine.session_gone(db_session, session_id):
                log.info("lock session %s ended: its client hung up (its process is "
                         "gone); its locks were released", session_id)
    except Exception:  # noqa: BLE001 - the lease still ends it
        log.exception("ending lock session %s after its client hung up failed; its "
                      "lease will end it", session_id)
