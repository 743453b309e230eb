"""Bearer-token authentication for the JSON API."""
from __future__ import annotations

from datetime import timedelta

from flask import g, request
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from ..engine import EngineError
from ..models import ApiToken, User, db, hash_token, utcnow

#: last_used is a hint for admins; writing it on every call would cost a write each.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Unauthorized(EngineError):
    """No valid bearer token: answered 401 with ``WWW-Authenticate: Bearer``."""

    status, code = 401, "unauthorized"


def authenticate() -> None:
    """Set ``g.user`` from the ``Authorization: Bearer`` header, or raise 401.

    Commits before returning when it wrote (or on SQLite), so the view starts
    with no open transaction; on PostgreSQL a read-only check leaves its
    transaction to the view (a long-poll ends it before it waits).
    """
    token = _bearer_token()
    # The user's groups in the same query: every lock and release reads them.
    found = db.session.execute(
        select(ApiToken).options(joinedload(ApiToken.user).joinedload(User.groups))
        .where(ApiToken.token_hash == hash_token(token))).unique().scalar_one_or_none()
    if found is None:
        db.session.rollback()
        raise Unauthorized("the API token is not valid; ask an admin for a token "
                           "(admin site, API tokens)")
    if not found.user.is_active:
        db.session.rollback()
        raise Unauthorized(f"the account {found.user.username!r} is deactivated")
    g.user = found.user
    now = utcnow()
    stale = found.last_used is None or now - found.last_used >= LAST_USED_RESOLUTION
    if stale:
        found.last_used = now
    elif db.session.get_bind().dialect.name == "postgresql":
        # Nothing written: the view goes on in this transaction (the engine
        # takes its lock in it; a long poll ends it before waiting), and a
        # COMMIT and a BEGIN are saved. SQLite must end it: a read
        # transaction cannot become a write one while another process writes.
        return
    try:
        db.session.commit()
    except OperationalError:
        # SQLite refuses to turn this read into a write while another process
        # writes; last_used is only a hint, so it waits for the next call.
        db.session.rollback()


def current_user() -> User:
    """The user authenticated for this request."""
    return g.user


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    if not header:
        raise Unauthorized("send your API token as 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'",
                           scheme=scheme[:20])
    return token.strip()
