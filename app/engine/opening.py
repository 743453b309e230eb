"""The first round trip of an engine operation on PostgreSQL.

An operation opens with several statements that need no answer of each other:
``BEGIN``; the engine's write lock with whether a lease ran out (and, for a
request whose user the API took from its cache, whether its token is still
good); and the acting session, checked and renewed. They go to the server as
one message (the simple query protocol runs them in order, each statement with
a snapshot taken when it starts, so what follows the lock sees every commit
made before it), and come back as one answer: one round trip where there were
four or five.

The values are quoted by psycopg (:class:`psycopg.sql.Literal`), as its
client-side binding does; the session id is also checked as a short string
first. The session row becomes an ORM object in the caller's Session without
another query, so the operation's ``get_active`` finds it there.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from ..models import LockSession
from ..models.base import as_utc

ADVISORY_KEY = 0x726F74657374  # "rotest"

#: The session columns read back, in the ORM's attribute names.
SESSION_COLUMNS = ("id", "user_id", "description", "lease_seconds", "created",
                   "expires_at", "state", "ended")


@dataclass(frozen=True)
class SessionCheck:
    """Which session an operation acts for, read (and renewed) with its lock."""

    user_id: int
    session_id: str
    renew: bool = False


@dataclass
class Opened:
    """What the opening message found."""

    expired: bool  # an active session's lease ran out (a hint: reap first)
    token_ok: bool  # the request's token is valid and its account active
    session: LockSession | None = None  # the acting session, active and in its lease
    waiting: bool = True  # some request waits (True when the session was not read)


def open_postgres(db: Session, now: datetime, token_hash: str | None,
                  check: SessionCheck | None) -> Opened:
    """Send the opening message on the Session's connection; returns what it
    found. The transaction is open afterwards, holding the engine's lock."""
    # Lazy: psycopg only on PostgreSQL (SQLite servers lack it).
    from psycopg import pq
    from psycopg.adapt import Transformer
    raw = db.connection().connection.driver_connection
    quote = _quoter(raw)
    parts = ["BEGIN"] if raw.pgconn.transaction_status == pq.TransactionStatus.IDLE else []
    token = "true" if token_hash is None else (
        'EXISTS (SELECT 1 FROM api_token JOIN "user" ON "user".id = api_token.user_id '
        f'WHERE api_token.token_hash = {quote(token_hash)} AND "user".is_active)')
    parts.append(f"SELECT pg_advisory_xact_lock({ADVISORY_KEY}), EXISTS (SELECT 1 FROM "
                 f"lock_session WHERE state = 'active' AND expires_at < {quote(now)}), "
                 f"{token}")
    valid = check is not None and isinstance(check.session_id, str) \
        and 0 < len(check.session_id) <= 36 and "\x00" not in check.session_id
    if valid:
        parts.append(_session_statement(check, now, quote))
    results = _send(raw, [part.replace("{", "{{").replace("}", "}}") for part in parts])
    loader = Transformer(raw)
    head = _rows(loader, results[len(parts) - (2 if valid else 1)])[0]
    opened = Opened(expired=bool(head[1]), token_ok=bool(head[2]))
    if valid:
        rows = _rows(loader, results[-1])
        if rows:
            opened.session = _attach(db, rows[0][:len(SESSION_COLUMNS)])
            opened.waiting = bool(rows[0][-1])
    return opened


def commit_notifying(db: Session, channel: str, payload: str) -> None:
    """NOTIFY and COMMIT in one round trip (the waiters hear of it only once
    it is committed, as with any NOTIFY). The Session's own commit then has
    nothing left to send."""
    _send(db.connection().connection.driver_connection,
          ["SELECT pg_notify({channel}, {payload})", "COMMIT"],
          channel=channel, payload=payload)


def _send(raw: Any, parts: list[str], **values: Any) -> list[Any]:
    """Send ``parts`` (``{name}`` fields filled with ``values``, quoted) as one
    message; their results, or the first error raised."""
    # Lazy: as in open_postgres.
    from psycopg import errors, generators, pq
    quote = _quoter(raw)
    text = "; ".join(parts).format(**{name: quote(v) for name, v in values.items()})
    with raw.lock:
        raw.pgconn.send_query(text.encode())
        results = raw.wait(generators.execute(raw.pgconn))
    for result in results:
        if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
            raise errors.error_from_result(result, encoding=raw.info.encoding)
    return results


def _session_statement(check: SessionCheck, now: datetime, quote: Any) -> str:
    """The session if it is the user's, active and in its lease (renewed when
    asked), with whether any request waits."""
    columns = ", ".join(SESSION_COLUMNS)
    where = (f"id = {quote(check.session_id)} AND user_id = {int(check.user_id)} "
             f"AND state = 'active' AND expires_at >= {quote(now)}")
    waiting = "EXISTS (SELECT 1 FROM lock_request WHERE state = 'waiting')"
    if check.renew:
        return (f"UPDATE lock_session SET expires_at = {quote(now)} + "
                f"make_interval(secs => lease_seconds) WHERE {where} "
                f"RETURNING {columns}, {waiting}")
    return f"SELECT {columns}, {waiting} FROM lock_session WHERE {where}"


def _quoter(raw: Any) -> Any:
    # Lazy: as in open_postgres.
    from psycopg.sql import Literal
    return lambda value: Literal(value).as_string(raw)


def _rows(loader: Any, result: Any) -> list[tuple[Any, ...]]:
    loader.set_pgresult(result)
    return loader.load_rows(0, result.ntuples, tuple)


def _attach(db: Session, values: tuple[Any, ...]) -> LockSession:
    """The row as a persistent LockSession, as if the ORM had loaded it."""
    known = db.identity_map.get(identity_key(LockSession, values[0]))
    if known is not None:
        db.expire(known)  # read again on use: it was renewed meanwhile
        return known
    session = LockSession(**{name: as_utc(value) if isinstance(value, datetime) else value
                             for name, value in zip(SESSION_COLUMNS, values)})
    make_transient_to_detached(session)
    db.add(session)
    return session
