"""The store from the runtime's side: the run history and the error signatures.

Two doors, as for locks (:func:`rotest_core.resources.clients.lock_client_for`):
with no ``host``, :class:`EmbeddedStore` calls the engine
(:mod:`rotest_app.engine.history`, :mod:`rotest_app.models.signatures`) on the
embedded database; otherwise :class:`RemoteStore` calls the server's JSON API
(``/api/v1/runs``, ``/api/v1/signatures``). :func:`store_for` picks the door
from the run's settings. The ``history`` and ``signature`` report handlers,
``--delta`` and ``rotest history`` use it.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from rotest_app.engine import history, open_engine
from rotest_app.models import signatures

from .config import ConfigError, RunConfig
from .embedded_db import prepare_database
from .resources.embedded import local_user
from .resources.remote import RemoteLockClient

__all__ = ["EmbeddedStore", "RemoteStore", "Store", "store_for"]


class Store(Protocol):
    """What the runtime and the reports ask of the store, besides locks."""

    #: Where it is, in words, for messages.
    where: str

    def start_run(self, **run: Any) -> dict[str, Any]:
        """Start a run (name, host, start, settings, environment, run_dir,
        base, uid, planned, lease); a start sent again with the same ``uid``
        returns the stored run."""
    def add_records(self, run_id: int, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Store records (and renew the run's lease); the answer says which
        were ``refused`` and why (``index``, ``path``, ``message``)."""
    def heartbeat(self, run_id: int) -> dict[str, Any]:
        """Renew the run's lease: records, none of them."""
    def finish_run(self, run_id: int, *, end: str, artifact_path: str | None,
                   status: str | None = None) -> dict[str, Any]:
        """End the run; ``status`` ``interrupted`` or ``aborted``, or None
        for the tests to decide."""
    def latest_results(self, name: str) -> dict[str, Any]:
        """The last result of each test of the runs named ``name``."""
    def past_durations(self, name: str | None) -> dict[str, float]:
        """Each test's recent duration, by path."""
    def recent_durations(self, name: str | None) -> dict[str, float]:
        """Each test's recent duration with the set-up before it, by path,
        the shards of one run id counting as one run (``--shard``'s weights)."""
    def claim_shard_plan(self, **plan: Any) -> dict[str, Any]:
        """Store the split of a run id's shards (run_group, name, shards,
        fingerprint, plan) unless one is stored: returns the stored one."""
    def group_results(self, name: str, run_group: str | None = None,
                      exclude_group: str | None = None) -> dict[str, Any]:
        """What passed in a run and its shards, for ``--delta`` (see
        :func:`rotest_app.engine.history.group_results`)."""
    def signatures(self) -> list[dict[str, Any]]:
        """Every known error signature (id, name, pattern, ...)."""
    def add_signature(self, name: str, pattern: str) -> dict[str, Any]:
        """Record a new signature; one with the same pattern is returned as is."""
    def count_hit(self, signature_id: int) -> None:
        """Count one more failure that matched the signature."""
    def close(self) -> None:
        """Let go of connections."""


def store_for(config: RunConfig, *, retry_seconds: float = 5.0) -> Store:
    """The server's store when a host is configured, else the embedded one.
    ``retry_seconds``: how long the remote store retries while the server
    restarts (reports keep it short: they must not hold a run up)."""
    if config.embedded:
        return EmbeddedStore(config.embedded_database_url, config.plugins)
    if not config.token:
        raise ConfigError(f"a token is needed to use the rotest server at "
                          f"{config.server_url}: set 'token' in rotest.yml or "
                          f"ROTEST_TOKEN (make one with: rotest tokens create USER)")
    return RemoteStore(config.server_url, config.token, retry_seconds=retry_seconds)


class EmbeddedStore:
    """The engine on the local database (prepared as the lock client does)."""

    def __init__(self, database_url: str, plugins: Any = ()) -> None:
        prepare_database(database_url, list(plugins or ()))
        self.engine = open_engine(database_url)
        self.where = f"the embedded database ({database_url})"

    def _as_user(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with Session(self.engine) as db:
            return operation(db, local_user(db), *args, **kwargs)

    def _read(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with Session(self.engine) as db:
            history.end_expired_runs(db)  # no sweeper here: what it would have ended
            return operation(db, *args, **kwargs)

    def start_run(self, **run: Any) -> dict[str, Any]:
        return self._as_user(history.start_run, **run)

    def add_records(self, run_id: int, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self._as_user(history.add_records, run_id, records)

    def heartbeat(self, run_id: int) -> dict[str, Any]:
        return self.add_records(run_id, [])

    def finish_run(self, run_id: int, *, end: str, artifact_path: str | None,
                   status: str | None = None) -> dict[str, Any]:
        return self._as_user(history.finish_run, run_id, end=end,
                             artifact_path=artifact_path, status=status)

    def latest_results(self, name: str) -> dict[str, Any]:
        return self._read(history.latest_results, name)

    def past_durations(self, name: str | None) -> dict[str, float]:
        return self._read(history.past_durations, name)

    def recent_durations(self, name: str | None) -> dict[str, float]:
        return self._read(history.recent_durations, name)

    def claim_shard_plan(self, **plan: Any) -> dict[str, Any]:
        return self._as_user(history.claim_shard_plan, **plan)[0]

    def group_results(self, name: str, run_group: str | None = None,
                      exclude_group: str | None = None) -> dict[str, Any]:
        return self._read(history.group_results, name, run_group=run_group,
                          exclude_group=exclude_group)

    def end_expired_runs(self) -> int:
        """End the runs whose client went silent, as the server's sweeper
        does: embedded mode has none, so this is done before each read."""
        with Session(self.engine) as db:
            return history.end_expired_runs(db)

    def signatures(self) -> list[dict[str, Any]]:
        with Session(self.engine) as db:
            return signatures.all_signatures(db)

    def add_signature(self, name: str, pattern: str) -> dict[str, Any]:
        with Session(self.engine) as db:
            return signatures.record_signature(db, name=name, pattern=pattern)[0]

    def count_hit(self, signature_id: int) -> None:
        with Session(self.engine) as db:
            signatures.count_hit(db, signature_id)

    def close(self) -> None:
        self.engine.dispose()


class RemoteStore:
    """The server's JSON API, through the lock client's HTTP calls (bearer
    token, JSON errors turned into exceptions, retries while the server
    restarts, for ``retry_seconds`` only)."""

    def __init__(self, base_url: str, token: str, *, retry_seconds: float = 5.0) -> None:
        self.client = RemoteLockClient(base_url, token, retry_seconds=retry_seconds,
                                       connect_timeout=3.0)
        self.where = f"the rotest server at {base_url}"

    def _call(self, method: str, path: str, body: Any = None, *,
              read_timeout: float = 30.0) -> Any:
        return self.client.call(method, path, body, read_timeout=read_timeout)[1]

    def start_run(self, **run: Any) -> dict[str, Any]:
        return self._call("POST", "/runs", run)

    def add_records(self, run_id: int, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("POST", f"/runs/{run_id}/records", {"records": records})

    def heartbeat(self, run_id: int) -> dict[str, Any]:
        return self.add_records(run_id, [])

    def finish_run(self, run_id: int, *, end: str, artifact_path: str | None,
                   status: str | None = None) -> dict[str, Any]:
        body = {key: value for key, value in (("end", end), ("artifact_path", artifact_path),
                                              ("status", status)) if value is not None}
        return self._call("POST", f"/runs/{run_id}/finish", body)

    def latest_results(self, name: str) -> dict[str, Any]:
        return self._call("GET", "/runs/latest?" + urlencode({"name": name}))

    def past_durations(self, name: str | None) -> dict[str, float]:
        query = urlencode({"name": name}) if name else ""
        return self._call("GET", "/runs/durations?" + query)["durations"]

    def recent_durations(self, name: str | None) -> dict[str, float]:
        query = urlencode({"name": name}) if name else ""
        return self._call("GET", "/runs/recent-durations?" + query)["durations"]

    def claim_shard_plan(self, **plan: Any) -> dict[str, Any]:
        return self._call("POST", "/runs/shard-plans", plan)

    def group_results(self, name: str, run_group: str | None = None,
                      exclude_group: str | None = None) -> dict[str, Any]:
        query = {"name": name, "run_group": run_group, "exclude_group": exclude_group}
        return self._call("GET", "/runs/group-results?" + urlencode(
            {key: value for key, value in query.items() if value is not None}))

    def signatures(self) -> list[dict[str, Any]]:
        return self._call("GET", "/signatures", read_timeout=10.0)["signatures"]

    def add_signature(self, name: str, pattern: str) -> dict[str, Any]:
        return self._call("POST", "/signatures", {"name": name, "pattern": pattern},
                          read_timeout=10.0)

    def count_hit(self, signature_id: int) -> None:
        self._call("POST", f"/signatures/{signature_id}/hits", read_timeout=10.0)

    def close(self) -> None:
        self.client.http.close()
