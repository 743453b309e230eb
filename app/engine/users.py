"""A user as plain values, to be put back in a Session without a query.

The API keeps one per token for a short while (:mod:`rotest_app.api.auth`), the
embedded client one for its local user: a lock or release then reads no user
row. Plain values, so threads may share one; each Session gets its own
objects.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from ..models import Group, User


@dataclass(frozen=True)
class UserSnapshot:
    """What the engine reads of a user: name, rights, groups; and until when
    (``time.monotonic()``) it may stand for the user."""

    user_id: int
    username: str
    is_admin: bool
    is_active: bool
    created: datetime
    session_version: int
    groups: tuple[tuple[int, str], ...]
    until: float

    @classmethod
    def of(cls, user: User, seconds: float) -> UserSnapshot:
        """The user (its groups loaded) as it is now, good for ``seconds``."""
        return cls(user.id, user.username, user.is_admin, user.is_active, user.created,
                   user.session_version,
                   tuple((group.id, group.name) for group in user.groups),
                   time.monotonic() + seconds)

    @property
    def fresh(self) -> bool:
        return self.until > time.monotonic()

    def attach(self, db: Session) -> User:
        """A User in ``db`` as if loaded (with its groups), without a query.
        ``db`` must not hold this user or its groups yet."""
        groups = []
        for group_id, name in self.groups:
            group = Group(id=group_id, name=name)
            make_transient_to_detached(group)
            groups.append(group)
        user = User(id=self.user_id, username=self.username, is_admin=self.is_admin,
                    is_active=self.is_active, created=self.created,
                    session_version=self.session_version)
        make_transient_to_detached(user)
        # As loaded: no event, so nothing for a flush to write.
        set_committed_value(user, "groups", groups)
        db.add(user)
        return user
