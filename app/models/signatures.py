"""Error signatures: known failure patterns, each with a link to its bug.

The signature report handler matches every failure's traceback against them:
a match is logged with its link; an error no pattern knows is recorded as a
new signature, so the next occurrence is recognised. Admins edit the patterns
and links in the admin site. The functions here take a plain Session, so the
JSON API and the embedded client share them.
"""
from __future__ import annotations

import re
import warnings
from datetime import datetime
from typing import Any

import re2
from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import db, rfc3339, utcnow

__all__ = ["ErrorSignature", "MAX_LINK", "MAX_NAME", "MAX_PATTERN", "MAX_PROGRAM",
           "PatternError", "all_signatures", "compile_pattern", "count_hit",
           "pattern_problem", "record_signature"]

MAX_NAME = 200
MAX_PATTERN = 2000
MAX_LINK = 500
#: Every pattern is compiled with it: ``^`` and ``$`` match at each line.
MULTILINE = "(?m)"
#: The most instructions a compiled pattern may have. RE2's time is linear in
#: the text but also grows with the program; past a few thousand instructions
#: its DFA runs out of memory and falls back to a far slower NFA (a pattern
#: such as ``([\s\S]{0,1000}a|...){...}`` takes seconds on 10 KB). Below this,
#: a search of a 10 KB traceback takes milliseconds; real signatures, and
#: those made from an error's last line, compile to a few hundred.
MAX_PROGRAM = 5000


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
                "created": rfc3339(self.created), "last_seen": rfc3339(self.last_seen)}

    def __str__(self) -> str:
        return self.name


class PatternError(ValueError):
    """A pattern that cannot be a signature's pattern; the message says why."""


def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled for searching tracebacks, or :class:`PatternError`.

    Patterns are matched by RE2, whose time grows linearly with the text
    whatever the pattern (no backtracking), so a pattern anyone stores cannot
    hang a run. ``^`` and ``$`` match at each line. Validation, generation
    and matching all go through here, so they agree on what a pattern means.
    """
    if not pattern.strip():
        raise PatternError("the pattern is empty; write a regular expression found in "
                           "the traceback")
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"the pattern is {len(pattern)} characters long; at most "
                           f"{MAX_PATTERN}")
    try:
        compiled = re2.compile(MULTILINE + pattern, _options())
    except UnicodeEncodeError:
        raise PatternError("the pattern holds a lone surrogate character (\\ud800-"
                           "\\udfff), which no text can contain") from None
    except re2.error as error:
        raise PatternError(_why(pattern, error)) from None
    # A search runs the pattern forwards, then backwards to find the start.
    size = max(compiled.programsize, compiled.reverseprogramsize)
    if size > MAX_PROGRAM:
        raise PatternError(f"the pattern is too complex: it compiles to "
                           f"{size} steps, at most {MAX_PROGRAM}; large "
                           f"repeat counts ({{1000}}) multiply it, so use * or + instead")
    return compiled


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a signature's pattern, or None if it can."""
    try:
        compile_pattern(pattern)
    except PatternError as error:
        return str(error)
    return None


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the caller says why, once
    return options


def _why(pattern: str, error: Exception) -> str:
    reason = error.args[0] if error.args else str(error)
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    reason = reason.replace(": " + MULTILINE, ": ", 1)  # RE2 quotes what it got
    try:
        with warnings.catch_warnings():  # Python's own warnings are not the point
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error:  # not one in Python's dialect either: a plain mistake
        return (f"the pattern is not a valid regular expression ({reason}); escape "
                f"special characters such as ( [ . * + ? with a backslash")
    except (RecursionError, OverflowError):
        pass
    return (f"the pattern cannot be matched in linear time ({reason}): patterns are "
            f"matched by RE2, which has no backreferences (\\1), lookarounds "
            f"((?=...), (?!...), (?<=...), (?<!...)), atomic groups or possessive "
            f"repeats, and no repeat count above 1000; rewrite it without them")


def all_signatures(db_session: Session) -> list[dict[str, Any]]:
    """Every signature, oldest first."""
    found = db_session.scalars(select(ErrorSignature).order_by(ErrorSignature.id))
    return [signature.to_dict() for signature in found]


def record_signature(db_session: Session, *, name: str, pattern: str,
                     link: str = "") -> tuple[dict[str, Any], bool]:
    """Store a new signature, or count a hit on the one with the same pattern
    (two runs meeting the same new error). Returns it and whether it is new.
    The caller checked the values (:func:`pattern_problem`, the lengths)."""
    # It reads, then writes: on SQLite a transaction that began reading cannot
    # always take the write lock later ("database is locked" when two runs
    # record at once), so this one begins holding it (a no-op elsewhere).
    db_session.commit()
    db_session.connection(execution_options={"sqlite_immediate": True})
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
