"""The embedded client: the engine in-process on a local database, no server.

The same engine and models as the server, so the locking rules are the same;
several processes on one machine share the SQLite file safely. Each session's
process holds a file lock beside the database while the session is open
(:mod:`rotest_app.engine.liveness`): when the process dies, the next engine call of
any other process ends its session, and its locks reach the next waiter.
"""
from __future__ import annotations

import getpass
import logging
import threading
from pathlib import Path
from typing import IO, Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from rotest_app import engine as lock_engine
from rotest_app.engine import history, liveness
from rotest_app.engine.descriptors import model_for
from rotest_app.engine.transaction import serialized
from rotest_app.engine.users import UserSnapshot
from rotest_app.models import User, signatures

from ..resources.errors import ResourceDoesNotExistError, error_for
from .client import Descriptor, ResourceDict, StoreClient

log = logging.getLogger(__name__)

#: Seconds between two looks, while waiting, for holders whose process died.
LIVENESS_CHECK = 0.25
#: A local session's lease: a process frozen (SIGSTOP, a debugger) loses its
#: locks this long after its last heartbeat. One that dies loses them at once.
EMBEDDED_LEASE = 10.0
#: Seconds a client reuses what it read of its local user (name, rights,
#: groups) instead of reading it for every call.
USER_SECONDS = 2.0


def local_user(db: Session, username: str | None = None) -> User:
    """The account of the person running the tests, created on first use."""
    name = username or getpass.getuser()
    user = db.scalar(select(User).where(User.username == name))
    if user is None:
        # In the engine's write transaction: the workers of a parallel run may
        # all get here at once on a new database.
        with serialized(db) as session:
            user = session.scalar(select(User).where(User.username == name))
            if user is None:
                user = User(username=name, is_admin=True)
                session.add(user)
    return user


class EmbeddedClient(StoreClient):
    """The store through :mod:`rotest_app.engine` on the database at
    ``database_url`` (created and migrated beforehand: see
    :func:`~rotest_core.store.client_for`)."""

    DEFAULT_LEASE = EMBEDDED_LEASE
    _presence: liveness.Presence | None = None
    _known_user: UserSnapshot | None = None

    def __init__(self, database_url: str, username: str | None = None, *,
                 lease_seconds: float | None = None) -> None:
        self.engine = lock_engine.open_engine(database_url)
        self.database_url = database_url
        self.where = f"the embedded database ({database_url})"
        self.username = username or getpass.getuser()
        if lease_seconds is not None:
            self.DEFAULT_LEASE = lease_seconds

    def _call(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run an engine operation, as the local user, in a short-lived
        Session of this thread; its errors are the remote client's."""
        with Session(self.engine) as db:
            try:
                return operation(db, self._user(db), *args, **kwargs)
            except lock_engine.EngineError as error:
                raise error_for(error.code, error.message, error.details) from None

    def _read(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a read of the history; first end the runs whose client went
        silent, as the server's sweeper would (embedded mode has none)."""
        with Session(self.engine) as db:
            history.end_expired_runs(db)
            try:
                return operation(db, *args, **kwargs)
            except lock_engine.EngineError as error:
                raise error_for(error.code, error.message, error.details) from None

    def _user(self, db: Session) -> User:
        """The local user in ``db``: read (or made) at most every
        :data:`USER_SECONDS`, else put back from what was read."""
        known = self._known_user
        if known is not None and known.fresh:
            return known.attach(db)
        user = local_user(db, self.username)
        self._known_user = UserSnapshot.of(user, USER_SECONDS)
        return user

    def _open_session(self, lease_seconds: float | None, description: str
                      ) -> dict[str, Any]:
        return self._call(lock_engine.open_session,
                          lease_seconds=lease_seconds or EMBEDDED_LEASE,
                          description=description)

    def _attend(self) -> None:
        self._presence = liveness.hold(self.engine, self.session_id)

    def _leave(self) -> None:
        if self._presence is not None:
            self._presence.end()
            self._presence = None

    def _renew(self) -> None:
        self._call(lock_engine.heartbeat, self.session_id)

    def _close_session(self) -> None:
        self._call(lock_engine.close_session, self.session_id)

    def _dispose(self) -> None:
        self.engine.dispose()

    def submit(self, descriptors: list[Descriptor], timeout: float,
               priority: int) -> dict[str, Any]:
        return self._call(lock_engine.request_lock, self.session_id, descriptors,
                          timeout=timeout, priority=priority)

    def poll(self, request_id: int, wait: float) -> dict[str, Any]:
        # While it waits, a watcher looks for holders whose process died, so
        # that their locks come at once rather than at the engine's next call.
        stop = threading.Event()
        threading.Thread(target=self._watch, args=(stop,), daemon=True,
                         name="rotest-liveness").start()
        try:
            return self._call(lock_engine.wait_for, request_id, wait)
        finally:
            stop.set()

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(LIVENESS_CHECK):
            try:
                if liveness.any_vanished(self.engine):
                    with Session(self.engine) as db:
                        lock_engine.sweep(db)  # ends them; the grant wakes the waiter
            except Exception as error:  # noqa: BLE001 - the lease still frees them
                log.warning("looking for dead lock holders failed: %s", error)

    def cancel(self, request_id: int) -> dict[str, Any]:
        return self._call(lock_engine.cancel, request_id)

    def release(self, names: list[str], *, dirty: bool = False,
                force: bool = False) -> list[str]:
        return self._call(lock_engine.release, list(names), dirty=dirty, force=force,
                          session_id=self.session_id)

    def query_page(self, type_name: str, filters: dict[str, Any], *,
                   cursor: str | None = None,
                   page_size: int | None = None) -> dict[str, Any]:
        return self._call(lock_engine.query_page, type_name, filters, cursor=cursor,
                          page_size=page_size or lock_engine.MAX_PAGE)

    def update_fields(self, type_name: str, filters: dict[str, Any],
                      values: dict[str, Any]) -> list[ResourceDict]:
        return self._call(lock_engine.update_fields, type_name, filters, values)

    def start_run(self, **run: Any) -> dict[str, Any]:
        return self._call(history.start_run, **run)

    def add_records(self, run_id: int, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call(history.add_records, run_id, records)

    def finish_run(self, run_id: int, *, end: str, artifact_path: str | None,
                   status: str | None = None) -> dict[str, Any]:
        return self._call(history.finish_run, run_id, end=end,
                          artifact_path=artifact_path, status=status)

    def latest_results(self, name: str) -> dict[str, Any]:
        return self._read(history.latest_results, name)

    def past_durations(self, name: str | None) -> dict[str, float]:
        return self._read(history.past_durations, name)

    def recent_durations(self, name: str | None) -> dict[str, float]:
        return self._read(history.recent_durations, name)

    def claim_shard_plan(self, **plan: Any) -> dict[str, Any]:
        return self._call(history.claim_shard_plan, **plan)[0]

    def shard_plan(self, run_group: str) -> dict[str, Any] | None:
        try:
            return self._read(history.shard_plan, run_group)
        except ResourceDoesNotExistError:
            return None

    def group_results(self, name: str, run_group: str | None = None,
                      exclude_group: str | None = None) -> dict[str, Any]:
        return self._read(history.group_results, name, run_group=run_group,
                          exclude_group=exclude_group)

    def signatures(self) -> list[dict[str, Any]]:
        with Session(self.engine) as db:
            return signatures.all_signatures(db)

    def add_signature(self, name: str, pattern: str) -> dict[str, Any]:
        with Session(self.engine) as db:
            return signatures.record_signature(db, name=name, pattern=pattern)[0]

    def count_hit(self, signature_id: int) -> None:
        with Session(self.engine) as db:
            signatures.count_hit(db, signature_id)

    def import_inventory(self, path: Path, *, keep_changes: bool = False,
                         progress: Callable[[int, int], None] | None = None) -> Any:
        # Lazy: the importer brings PyYAML and the YAML stream, which a run
        # that only locks never needs.
        from rotest_app.engine.importer import import_file
        return import_file(self.database_url, path, keep_changes=keep_changes,
                           progress=progress)

    def export_inventory(self, out: IO[str], type_name: str = "ResourceData", *,
                         progress: Callable[[int, int], None] | None = None) -> int:
        # Lazy: as for import_inventory.
        from rotest_app.engine.exporter import export_file
        try:
            model = model_for(type_name)
        except lock_engine.EngineError as error:
            raise error_for(error.code, error.message, error.details) from None
        return export_file(self.database_url, out, model, progress=progress)

