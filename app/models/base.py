"""The declarative base shared by the server (through Flask-SQLAlchemy) and the
embedded client (through a plain SQLAlchemy Session)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic's autogenerate and SQLite batch mode stable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base, disable_autonaming=True)


def utcnow() -> datetime:
    """Naive UTC: SQLite keeps no time zones, so every stored time is UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def rfc3339(value: datetime | None) -> str | None:
    """A stored time as RFC 3339 in UTC with its offset (``...Z``), the one form
    every answer, page and report of the server writes; strict date-time
    parsers (generated clients, Jenkins, browsers) need the offset. Naive
    values are UTC, as :func:`utcnow` stores them."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
