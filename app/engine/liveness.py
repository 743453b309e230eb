"""Whether the process behind an embedded lock session still lives.

Embedded clients share a SQLite file and no server watches them, so each
session's process holds an exclusive ``flock`` on a file of its own beside the
database (``<database>.sessions/<session id>``) for as long as the session is
open. The kernel drops the lock the moment the process dies, however it dies
(kill -9, a crash); a lock that can be taken therefore means its holder is
gone, and the engine ends that session at its next operation. A frozen process
(SIGSTOP, a debugger) keeps its lock: its lease ends it, as on a server.

Only SQLite files have these: on any other database the functions here are
no-ops.
"""
from __future__ import annotations

import fcntl
import logging
import os
import uuid
from pathlib import Path

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

SUFFIX = ".sessions"


def folder(bind: Engine | Connection) -> Path | None:
    """Where the presence files of the database live, or None."""
    engine = bind.engine
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:") \
            or database.startswith("file:"):
        return None
    return Path(database + SUFFIX)


class Presence:
    """This process's claim that a session's client lives: a locked file."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd, self._pid = path, fd, os.getpid()

    def end(self) -> None:
        """Drop the claim (the session was closed). In a forked child that
        inherited the descriptor, only the child's copy is closed: unlocking
        would unlock the parent's claim too (flock belongs to the open file)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if os.getpid() == self._pid:
            self.path.unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def hold(engine: Engine | Connection, session_id: str) -> Presence | None:
    """Claim that this process lives for ``session_id``, until ``end()``.

    The file is locked under a temporary name, then renamed into place: a
    sweep never finds it unlocked while its holder lives."""
    where = folder(engine)
    if where is None:
        return None
    where.mkdir(mode=0o700, exist_ok=True)
    temporary = where / f".{uuid.uuid4().hex}"
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(temporary, where / session_id)
    except OSError:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    return Presence(where / session_id, fd)


def vanished(engine: Engine | Connection) -> list[str]:
    """Ids of sessions whose holding process is gone; their files are removed
    (call it in the transaction that ends those sessions)."""
    return [path.name for path in _files(engine) if _abandoned(path)]


def any_vanished(engine: Engine | Connection) -> bool:
    """Whether some session's holding process is gone; removes nothing (a
    waiter asks this often, then sweeps, which ends those sessions)."""
    return any(_abandoned(path, remove=False) for path in _files(engine))


def _files(engine: Engine | Connection) -> list[Path]:
    where = folder(engine)
    if where is None:
        return []
    try:
        return [Path(e.path) for e in os.scandir(where) if not e.name.startswith(".")]
    except FileNotFoundError:
        return []


def _abandoned(path: Path, remove: bool = True) -> bool:
    """Take the file's lock if nobody holds it; then its holder is gone."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:  # closed meanwhile
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False  # held: its process lives
    try:
        if remove:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)
    return True
