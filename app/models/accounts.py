"""Users, groups and API tokens."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import Column, Float, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from .base import db, utcnow

user_groups = Table(
    "user_group",
    db.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("group.id", ondelete="CASCADE"), primary_key=True),
)


class Group(db.Model):
    """A team: a resource in a group may be locked by that group's members only."""

    __tablename__ = "group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(150), unique=True)
    users: Mapped[list["User"]] = relationship(secondary=user_groups,
                                               back_populates="groups")

    def __str__(self) -> str:
        return self.name


class User(db.Model):
    """An account: a person at the admin site, or a client with API tokens."""

    __tablename__ = "user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    #: Part of every admin session's id: raising it ends all of the user's sessions.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    groups: Mapped[list[Group]] = relationship(secondary=user_groups,
                                               back_populates="users")
    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user",
                                                    cascade="all, delete-orphan")

    def set_password(self, password: str) -> None:
        """Store the hash of a new password; it ends the user's admin sessions."""
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def end_sessions(self) -> None:
        """End every admin session of this user (they all carry the old version)."""
        self.session_version = (self.session_version or 1) + 1

    @validates("is_active")
    def _end_sessions_on_deactivation(self, _key: str, active: bool) -> bool:
        # A new user has no value yet; only a user who was active has sessions.
        if self.is_active and not active:
            self.end_sessions()
        return active

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash,
                                                                password)

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """The session's user id: the row and its session version ("7:3")."""
        return f"{self.id}:{self.session_version or 1}"

    def __str__(self) -> str:
        return self.username


def hash_token(token: str) -> str:
    """Tokens are long random strings, so one SHA-256 is a sound hash for them."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its hash is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"),
                                         index=True)
    name: Mapped[str] = mapped_column(String(150), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12), default="")
    created: Mapped[datetime] = mapped_column(default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(default=None)
    user: Mapped[User] = relationship(back_populates="tokens")

    @classmethod
    def issue(cls, user: User, name: str = "") -> tuple["ApiToken", str]:
        """A new token row and the plain token, which is shown once and never kept."""
        plain = "rt_" + secrets.token_urlsafe(32)
        return cls(user=user, name=name, token_hash=hash_token(plain),
                   prefix=plain[:10]), plain

    def matches(self, plain: str) -> bool:
        return hmac.compare_digest(self.token_hash, hash_token(plain))

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"


class RateLimitCounter(db.Model):
    """One counter of the ``limits`` library (failed logins per user, per
    address), kept in the database so that every worker and instance counts
    together. The key is a SHA-256 of the limit's key: no user name typed by a
    stranger is stored."""

    __tablename__ = "rate_limit"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    #: Seconds since the epoch at which the counter's window ends.
    expires_at: Mapped[float] = mapped_column(Float, index=True)
