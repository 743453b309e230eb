"""Error signatures: known failure patterns, each with a link to its bug.

The signature report handler matches every failure's traceback against them:
a match is logged with its link; an error no pattern knows is recorded as a
new signature, so the next occurrence is recognised. Admins edit the patterns
and links in the admin site. The functions here take a plain Session, so the
JSON API and the embedded client share them.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import db, utcnow

__all__ = ["ErrorSignature", "MAX_LINK", "MAX_NAME", "MAX_PATTERN", "all_signatures",
           "count_hit", "pattern_problem", "record_signature"]

MAX_NAME = 200
MAX_PATTERN = 2000
MAX_LINK = 500
#: The flags every pattern is compiled and matched with.
FLAGS = re.MULTILINE


class ErrorSignature(db.Model):
    """A known error: a regular expression searched for in failure tracebacks."""

    __tablename__ = "error_signature"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    pattern: Mapped[str] = mapped_column(String(MAX_PATTERN))
    #: The bug tracker's page about this error ("" when none yet).
    link: Mapped[str] = mapped_column(String(MAX_LINK), default="")
    created: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime | None] = mapped_column(default=None)
    hit_count: Mapped[int] = mapped_column(default=0)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "pattern": self.pattern,
                "link": self.link or "", "hit_count": self.hit_count,
                "created": self.created.isoformat() if self.created else None,
                "last_seen": self.last_seen.isoformat() if self.last_seen else None}

    def __str__(self) -> str:
        return self.name


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a signature's pattern, or None if it can."""
    if not pattern.strip():
        return "the pattern is empty; write a regular expression found in the traceback"
    if len(pattern) > MAX_PATTERN:
        return f"the pattern is {len(pattern)} characters long; at most {MAX_PATTERN}"
    try:
        re.compile(pattern, FLAGS)
    except re.error as error:
        return (f"the pattern is not a valid regular expression: {error}; escape "
                f"special characters such as ( [ . * + ? with a backslash")
    if _nests_repeats(pattern):
        return ("the pattern repeats a group that repeats inside, as in (a+)+, which can "
                "take forever on a long traceback; rewrite it with one repeat, or make "
                "the inner one possessive (a++) or atomic ((?>a+))")
    return None


def _nests_repeats(pattern: str) -> bool:
    """Whether an unbounded repeat holds another (the shape of catastrophic
    backtracking). Python's ``re`` has no timeout, so such patterns are
    refused; the parser is private, so a Python without it skips the check."""
    try:
        from re import _parser as parser
        parsed = parser.parse(pattern, FLAGS)
    except Exception:  # noqa: BLE001 - another Python's parser: no check
        return False
    repeats = {parser.MAX_REPEAT, parser.MIN_REPEAT}

    def walk(items: Any, inside: bool) -> bool:
        for op, value in items:
            if op in repeats:
                _low, high, sub = value
                unbounded = high == parser.MAXREPEAT
                if (inside and unbounded) or walk(sub, inside or unbounded):
                    return True
            elif op == parser.SUBPATTERN:
                if walk(value[-1], inside):
                    return True
            elif op == parser.BRANCH:
                if any(walk(branch, inside) for branch in value[1]):
                    return True
            elif op in (parser.ASSERT, parser.ASSERT_NOT):
                if walk(value[1], inside):
                    return True
        return False

    return walk(parsed, False)


def all_signatures(db_session: Session) -> list[dict[str, Any]]:
    """Every signature, oldest first."""
    found = db_session.scalars(select(ErrorSignature).order_by(ErrorSignature.id))
    return [signature.to_dict() for signature in found]


def record_signature(db_session: Session, *, name: str, pattern: str,
                     link: str = "") -> tuple[dict[str, Any], bool]:
    """Store a new signature, or count a hit on the one with the same pattern
    (two runs meeting the same new error). Returns it and whether it is new.
    The caller checked the values (:func:`pattern_problem`, the lengths)."""
    existing = db_session.scalar(select(ErrorSignature).where(
        ErrorSignature.pattern == pattern).order_by(ErrorSignature.id).limit(1))
    if existing is not None:
        db_session.commit()
        return count_hit(db_session, existing.id), False
    now = utcnow()
    signature = ErrorSignature(name=name or pattern[:MAX_NAME], pattern=pattern,
                               link=link, created=now, last_seen=now, hit_count=1)
    db_session.add(signature)
    db_session.commit()
    return signature.to_dict(), True


def count_hit(db_session: Session, signature_id: int) -> dict[str, Any] | None:
    """One more failure matched the signature; None if there is no such one."""
    # One UPDATE: concurrent runs counting hits never lose one.
    db_session.execute(update(ErrorSignature).where(ErrorSignature.id == signature_id)
                       .values(hit_count=ErrorSignature.hit_count + 1,
                               last_seen=utcnow()))
    db_session.commit()
    signature = db_session.get(ErrorSignature, signature_id, populate_existing=True)
    return None if signature is None else signature.to_dict()
