"""The run history from the client's side: the embedded database or the server.

:func:`history_for` gives the store of a run's settings, as
:func:`rotest_core.resources.clients.lock_client_for` gives its lock client: with no
``host``, :mod:`rotest_app.engine.history` on the embedded database; otherwise the
server's ``/api/v1/runs`` routes. The ``history`` report handler writes
through it and ``--delta`` reads from it.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from .config import ConfigError, RunConfig

__all__ = ["EmbeddedHistory", "HistoryStore", "RemoteHistory", "history_for"]


class HistoryStore(Protocol):
    """What the handler and ``--delta`` need of the history."""

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
    def latest_results(self, name: str) -> dict[str, Any]: ...
    def past_durations(self, name: str | None) -> dict[str, float]: ...
    def close(self) -> None: ...


def history_for(config: RunConfig, *, retry_seconds: float = 5.0) -> HistoryStore:
    """The server's history when a host is configured, else the embedded one."""
    if config.embedded:
        return EmbeddedHistory(config.embedded_database_url, config.plugins)
    if not config.token:
        raise ConfigError(f"a token is needed to record runs on the server at "
                          f"{config.server_url}: set 'token' in rotest.yml or "
                          f"ROTEST_TOKEN (make one with: rotest tokens create USER)")
    return RemoteHistory(config.server_url, config.token, retry_seconds=retry_seconds)


class EmbeddedHistory:
    """:mod:`rotest_app.engine.history` on the local database (prepared as the lock client does)."""

    def __init__(self, database_url: str, plugins: Any = ()) -> None:
        from rotest_app.engine import open_engine
        from .embedded_db import prepare_database
        prepare_database(database_url, list(plugins or ()))
        self.engine = open_engine(database_url)
        self.where = f"the embedded database ({database_url})"

    def _call(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.orm import Session
        from .resources.embedded import local_user
        with Session(self.engine) as db:
            return operation(db, local_user(db), *args, **kwargs)

    def _read(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.orm import Session
        from rotest_app.engine import history
        with Session(self.engine) as db:
            history.end_expired_runs(db)  # no sweeper here: what it would have ended
            return operation(db, *args, **kwargs)

    def start_run(self, **run: Any) -> dict[str, Any]:
        from rotest_app.engine import history
        return self._call(history.start_run, **run)

    def add_records(self, run_id: int, records: list[dict[str, Any]]) -> dict[str, Any]:
        from rotest_app.engine import history
        return self._call(history.add_records, run_id, records)

    def heartbeat(self, run_id: int) -> dict[str, Any]:
        return self.add_records(run_id, [])

    def finish_run(self, run_id: int, *, end: str, artifact_path: str | None,
                   status: str | None = None) -> dict[str, Any]:
        from rotest_app.engine import history
        return self._call(history.finish_run, run_id, end=end,
                          artifact_path=artifact_path, status=status)

    def latest_results(self, name: str) -> dict[str, Any]:
        from rotest_app.engine import history
        return self._read(history.latest_results, name)

    def past_durations(self, name: str | None) -> dict[str, float]:
        from rotest_app.engine import history
        return self._read(history.past_durations, name)

    def end_expired_runs(self) -> int:
        """End the runs whose client went silent, as the server's sweeper
        does: embedded mode has none, so this is done before each read."""
        from sqlalchemy.orm import Session
        from rotest_app.engine import history
        with Session(self.engine) as db:
            return history.end_expired_runs(db)

    def close(self) -> None:
        self.engine.dispose()


class RemoteHistory:
    """The server's ``/api/v1/runs`` routes, through the lock client's HTTP calls
    (bearer token, JSON errors turned into exceptions, retries while the
    server restarts, here for a few seconds only: a report must not stall a run)."""

    def __init__(self, base_url: str, token: str, *, retry_seconds: float = 5.0) -> None:
        from .resources.remote import RemoteLockClient
        self.client = RemoteLockClient(base_url, token, retry_seconds=retry_seconds,
                                       connect_timeout=3.0)
        self.where = f"the rotest server at {base_url}"

    def start_run(self, **run: Any) -> dict[str, Any]:
        return self.client.call("POST", "/runs", run)[1]

    def add_records(self, run_id: int, records: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"records": records}
        return self.client.call("POST", f"/runs/{run_id}/records", body)[1]

    def heartbeat(self, run_id: int) -> dict[str, Any]:
        return self.add_records(run_id, [])

    def finish_run(self, run_id: int, *, end: str, artifact_path: str | None,
                   status: str | None = None) -> dict[str, Any]:
        body = {key: value for key, value in (("end", end), ("artifact_path", artifact_path),
                                              ("status", status)) if value is not None}
        return self.client.call("POST", f"/runs/{run_id}/finish", body)[1]

    def latest_results(self, name: str) -> dict[str, Any]:
        return self.client.call("GET", "/runs/latest?" + _query(name=name))[1]

    def past_durations(self, name: str | None) -> dict[str, float]:
        query = _query(name=name) if name else ""
        return self.client.call("GET", "/runs/durations?" + query)[1]["durations"]

    def close(self) -> None:
        self.client.http.close()


def _query(**params: str) -> str:
    from urllib.parse import urlencode
    return urlencode(params)
