"""Failed admin logins, counted per user name and per client address.

The counting is the ``limits`` library's (the engine of Flask-Limiter), with
fixed windows; its counters live in the database (:class:`DatabaseStorage`),
so that every gunicorn worker and every instance behind a load balancer count
together: a limit of 10 means 10, however many processes serve the site.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from rotest_app.models import RateLimitCounter

COUNTERS = RateLimitCounter.__table__


class DatabaseStorage(Storage):
    """A ``limits`` storage on the server's database: one row per counter.

    It opens its own short transactions on ``engine``; callers must not hold
    SQLite's write lock in another connection of the same thread meanwhile.
    """

    STORAGE_SCHEME = None  # built directly, never from a storage URI

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add ``amount`` to the counter; an expired counter starts again."""
        now = time.time()
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql"
                  else sqlite.insert)(COUNTERS)
        expired = COUNTERS.c.expires_at <= now
        upsert = insert.values(key=_digest(key), count=amount,
                               expires_at=now + expiry).on_conflict_do_update(
            index_elements=[COUNTERS.c.key],
            set_={"count": case((expired, amount), else_=COUNTERS.c.count + amount),
                  "expires_at": case((expired, now + expiry),
                                     else_=COUNTERS.c.expires_at)},
        ).returning(COUNTERS.c.count)
        # On SQLite the transaction takes the write lock when it begins, so
        # that two workers counting at once queue instead of failing.
        with self.engine.connect() as connection, \
                connection.execution_options(sqlite_immediate=True).begin():
            # Forget counters long over, so names typed by strangers do not pile up.
            connection.execute(delete(COUNTERS).where(COUNTERS.c.expires_at < now))
            return connection.execute(upsert).scalar_one()

    def get(self, key: str) -> int:
        row = self._row(key)
        return row.count if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row.expires_at if row else time.time()

    def check(self) -> bool:
        with self.engine.connect() as connection:
            connection.execute(select(1))
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as connection:
            return connection.execute(delete(COUNTERS)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(COUNTERS).where(COUNTERS.c.key == _digest(key)))

    def _row(self, key: str):
        with self.engine.connect() as connection:
            return connection.execute(
                select(COUNTERS.c.count, COUNTERS.c.expires_at).where(
                    COUNTERS.c.key == _digest(key), COUNTERS.c.expires_at > time.time())
            ).first()


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class LoginThrottle:
    """Limits on failed logins: one per user name, one per client address."""

    limiter: FixedWindowRateLimiter
    per_user: RateLimitItem
    per_address: RateLimitItem

    @classmethod
    def on(cls, engine: Engine, per_user: str, per_address: str) -> "LoginThrottle":
        """A throttle counting in ``engine``'s database, with limits in the
        ``limits`` notation ("10 per 15 minutes")."""
        return cls(FixedWindowRateLimiter(DatabaseStorage(engine)),
                   parse(per_user), parse(per_address))

    def retry_after(self, username: str, address: str) -> int:
        """0 if a login may be tried now, else the seconds to wait."""
        waits = [self._wait(limit, key) for limit, key in self._limits(username, address)]
        return max(waits)

    def failed(self, username: str, address: str) -> None:
        """Count a failed login against the user name and the address."""
        for limit, key in self._limits(username, address):
            self.limiter.hit(limit, *key)

    def succeeded(self, username: str) -> None:
        """The user's own typos are forgiven; the address keeps its count, so
        that logging into one's own account does not reset a guesser's."""
        self.limiter.clear(self.per_user, *self._user_key(username))

    def _wait(self, limit: RateLimitItem, key: tuple[str, str]) -> int:
        if self.limiter.test(limit, *key):
            return 0
        reset = self.limiter.get_window_stats(limit, *key).reset_time
        return max(1, int(reset - time.time() + 0.999))

    def _limits(self, username: str, address: str):
        return [(self.per_user, self._user_key(username)),
                (self.per_address, ("login-address", address or "unknown"))]

    @staticmethod
    def _user_key(username: str) -> tuple[str, str]:
        return "login-user", username.casefold()
