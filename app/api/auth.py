"""Bearer-token authentication for the JSON API.

Every request's token is checked against the database. A lock or a release
(the calls a test run makes most) checks it inside the engine operation's
first statement (:mod:`rotest_app.engine.opening`), not in a query of its own: the
API then takes the user (name, admin flag, groups) from what this process read
of that token less than :data:`USER_CACHE_SECONDS` ago. A revoked token or a
deactivated account is refused at its next request all the same; a change of
the user's groups or admin flag reaches a process within those seconds.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from flask import current_app, g, request
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from ..engine.errors import Unauthorized
from ..engine.transaction import TOKEN_TO_CHECK
from ..engine.users import UserSnapshot
from ..models import ApiToken, User, db, hash_token, utcnow

__all__ = ["Unauthorized", "authenticate", "current_user"]

#: last_used is a hint for admins; writing it on every call would cost a write each.
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: How long a process reuses what it read of a token's user for the routes
#: whose engine operation checks the token itself.
USER_CACHE_SECONDS = 2.0
#: Routes that do an engine operation (which checks the token in its first
#: statement) before anything else they do; only input checks come before.
CHECKED_BY_ENGINE = frozenset({"api.request_lock", "api.release"})
EXTENSION = "rotest_token_users"


class _TokenUsers:
    """The users this process read for tokens lately, by token hash."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, UserSnapshot] = {}

    def get(self, token_hash: str) -> UserSnapshot | None:
        known = self._known.get(token_hash)
        return known if known is not None and known.fresh else None

    def keep(self, token_hash: str, user: User) -> None:
        known = UserSnapshot.of(user, USER_CACHE_SECONDS)
        with self._lock:
            if len(self._known) > 10_000:  # tokens seen once: drop the stale
                now = time.monotonic()
                self._known = {k: v for k, v in self._known.items() if v.until > now}
            self._known[token_hash] = known


def _token_users() -> _TokenUsers | None:
    """This app's cache on PostgreSQL (the engine's check is written for it)."""
    app = current_app._get_current_object()
    if EXTENSION not in app.extensions:
        postgres = db.engine.dialect.name == "postgresql"
        app.extensions[EXTENSION] = _TokenUsers() if postgres else None
    return app.extensions[EXTENSION]


def authenticate() -> None:
    """Set ``g.user`` from the ``Authorization: Bearer`` header, or raise 401.

    Commits before returning when it wrote (or on SQLite), so the view starts
    with no open transaction; on PostgreSQL a read-only check leaves its
    transaction to the view (a long-poll ends it before it waits).
    """
    token = _bearer_token()
    token_hash = hash_token(token)
    users = _token_users()
    if users is not None and request.endpoint in CHECKED_BY_ENGINE:
        known = users.get(token_hash)
        if known is not None:
            g.user = known.attach(db.session())
            db.session.info[TOKEN_TO_CHECK] = token_hash
            return
    # The user's groups in the same query: every lock and release reads them.
    found = db.session.execute(
        select(ApiToken).options(joinedload(ApiToken.user).joinedload(User.groups))
        .where(ApiToken.token_hash == token_hash)).unique().scalar_one_or_none()
    if found is None:
        db.session.rollback()
        raise Unauthorized("the API token is not valid; ask an admin for a token "
                           "(admin site, API tokens)")
    if not found.user.is_active:
        db.session.rollback()
        raise Unauthorized(f"the account {found.user.username!r} is deactivated")
    g.user = found.user
    if users is not None:
        users.keep(token_hash, found.user)
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
