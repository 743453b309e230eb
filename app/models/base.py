"""The declarative base shared by the server (through Flask-SQLAlchemy) and the
embedded client (through a plain SQLAlchemy Session)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Dialect, MetaData
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

# Named constraints keep Alembic's autogenerate and SQLite batch mode stable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator):
    """A moment in time, stored in UTC and always read back aware of it.

    PostgreSQL keeps it as ``timestamptz``; SQLite keeps no zones, so the
    text it stores is UTC by this rule. A naive value given to the database
    (a form's, a plugin's) is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return datetime

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime):
            return as_utc(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime):
            return as_utc(value)
        return value


class Base(DeclarativeBase):
    # Every ``Mapped[datetime]`` column, the core's and plugins', keeps its zone.
    registry = registry(metadata=MetaData(naming_convention=NAMING_CONVENTION),
                        type_annotation_map={datetime: UtcDateTime})


db = SQLAlchemy(model_class=Base, disable_autonaming=True)


def utcnow() -> datetime:
    """Now, aware, in UTC: how every time is stored and compared."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC, aware; a naive value is taken as UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def rfc3339(value: datetime | None) -> str | None:
    """A time as RFC 3339 in UTC with its offset (``...Z``), the one form every
    answer, page and report of the server writes; strict date-time parsers
    (generated clients, Jenkins, browsers) need the offset."""
    if value is None:
        return None
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
