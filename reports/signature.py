"""The ``signature`` handler: failures matched against known error patterns.

At the start of the run it loads the error signatures (from the embedded
database, or from the server over the API, as the run's settings say). Each
failure's and error's traceback is searched for them: a known one is logged
in the test's log with its bug link, printed, and kept on the test as
``test.error_signatures`` (the reports show it); an error no signature knows
is recorded as a new one, its pattern made from the error's last line with
the numbers, addresses and quoted values generalised.

The database or the server being unreachable is said once on stderr; the run
goes on, unmatched.
"""
from __future__ import annotations

import re
import sys
from typing import Any, Callable

import re2

from rotest_app.models.signatures import MAX_PATTERN, PatternError, compile_pattern
from rotest_core.config import load_config
from rotest_core.result import AbstractResultHandler, describe
from rotest_core.store import StoreClient, client_for

from .text import clean

__all__ = ["MATCH_LIMIT", "SignatureHandler", "pattern_for", "tail"]

#: Patterns are searched in the last this many characters of a traceback:
#: the error is at the end. (RE2 matches in linear time, so the bound keeps
#: the cost per failure small; it is not what keeps a pattern from hanging.)
MATCH_LIMIT = 10 * 1024
#: A new signature's pattern is made from this much of the error's last line.
LINE_LIMIT = 300
NAME_LIMIT = 120
#: What varies between two occurrences of one error, and what stands for it.
#: ASCII, as RE2's ``\d`` and ``\b`` are: a digit of another script stays
#: literal, so a generated pattern always matches the text it came from.
_VARYING = re.compile(r"""(?P<single>'[^'\n]*')|(?P<double>"[^"\n]*")"""
                      r"|(?P<address>\b0x[0-9a-fA-F]+)|(?P<number>\d+(?:\.\d+)?)",
                      re.ASCII)
_GENERAL = {"single": r"'[^'\n]*'", "double": r'"[^"\n]*"',
            "address": r"0x[0-9a-fA-F]+", "number": r"\d+(?:\.\d+)?"}


def tail(text: str) -> str:
    """The part of a traceback that patterns are searched in, as stored text."""
    return clean(text[-MATCH_LIMIT:])


def last_line(text: str) -> str:
    """The error's own line: the last non-empty one of the traceback."""
    lines = [line.strip() for line in tail(text).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def pattern_for(text: str) -> str | None:
    """An RE2 pattern that matches this error again, with other numbers,
    addresses and quoted values; None when the last line says too little to
    tell errors apart (only numbers, say)."""
    line = last_line(text)[:LINE_LIMIT]
    pieces, position = [], 0  # (the text it stands for, the pattern)
    for match in _VARYING.finditer(line):
        fixed = line[position:match.start()]
        pieces += [(fixed, re2.escape(fixed)), ("", _GENERAL[match.lastgroup])]
        position = match.end()
    pieces.append((line[position:], re2.escape(line[position:])))
    pattern, literal = "", ""
    for text_part, part in pieces:
        if len(pattern) + len(part) > MAX_PATTERN:
            break  # patterns are searched: the line's start finds it again
        pattern, literal = pattern + part, literal + text_part
    if len(re.sub(r"\W", "", literal)) < 3:
        return None
    return pattern


class SignatureHandler(AbstractResultHandler):
    """Matches failures and errors against the known error signatures."""

    NAME = "signature"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store: StoreClient | None = None
        #: Each signature with its pattern compiled by RE2 (linear time).
        self.known: list[tuple[dict[str, Any], Any]] = []
        self._said: set[str] = set()  # warnings given, each once

    # --- the run -----------------------------------------------------------

    def start_test_run(self) -> None:
        try:
            self.store = client_for(self.config or load_config(), retry_seconds=2.0)
            signatures = self.store.signatures()
        except Exception as error:  # noqa: BLE001 - the run goes on unmatched
            self._warn(f"cannot load the error signatures ({_describe(error)}); "
                       f"failures are not matched in this run")
            self._close()
            return
        for signature in signatures:
            self._learn(signature)

    def stop_test_run(self) -> None:
        self._close()

    def add_failure(self, test: Any, exception_string: str) -> None:
        self._match(test, exception_string)

    def add_error(self, test: Any, exception_string: str) -> None:
        self._match(test, exception_string)

    # --- matching ----------------------------------------------------------

    def _match(self, test: Any, text: str) -> None:
        if self.store is None:
            return
        searched = tail(text)
        for signature, compiled in self.known:
            if compiled.search(searched):
                self._known(test, signature)
                return
        self._new(test, text)

    def _known(self, test: Any, signature: dict[str, Any]) -> None:
        found = {key: signature[key] for key in ("name", "pattern", "link")}
        matched = getattr(test, "error_signatures", None)
        if not isinstance(matched, list):
            matched = []
            _set(test, "error_signatures", matched)
        if found not in matched:
            matched.append(found)
        link = f" ({found['link']})" if found["link"] else ""
        logger = getattr(test, "logger", None)
        if logger is not None:
            logger.warning("known error signature %r%s", found["name"], link)
        self._print(f"{describe(test)}: known error {found['name']!r}{link}")
        self._call(self.store.count_hit, signature["id"])

    def _new(self, test: Any, text: str) -> None:
        pattern = pattern_for(text)
        if pattern is None:
            return
        name = last_line(text)[:NAME_LIMIT]
        signature = self._call(self.store.add_signature, name, pattern)
        if signature is None:
            # Not stored; matched within this run all the same.
            signature = {"id": None, "name": name, "pattern": pattern, "link": ""}
        self._learn(signature)
        self._print(f"{describe(test)}: new error signature recorded: {name!r}")

    def _learn(self, signature: dict[str, Any]) -> None:
        pattern = signature.get("pattern")
        try:
            if not isinstance(pattern, str):
                raise PatternError("no pattern")
            compiled = compile_pattern(pattern)
        except PatternError as problem:
            # Stored before the checks, or straight into the database.
            self._warn(f"error signature {signature.get('name')!r} is skipped: "
                       f"{problem}; fix it in the admin site")
            return
        self.known.append((signature, compiled))

    # --- plumbing ----------------------------------------------------------

    def _call(self, operation: Callable[..., Any], *args: Any) -> Any:
        """A store call that must not break the run; None when it failed."""
        if args and args[0] is None:  # a signature this run could not store
            return None
        try:
            return operation(*args)
        except Exception as error:  # noqa: BLE001 - the run goes on
            self._warn(f"cannot record error signatures ({_describe(error)}); "
                       f"matching goes on for this run", key="record")
            return None

    def _print(self, text: str) -> None:
        self.stream.write(f"signature: {clean(text)}\n")
        self.stream.flush()

    def _warn(self, text: str, key: str | None = None) -> None:
        key = key or text
        if key not in self._said:
            self._said.add(key)
            print(f"rotest: signature: {clean(text)}", file=sys.stderr)

    def _close(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            try:
                store.close()
            except Exception:  # noqa: BLE001 - nothing left to lose
                pass


def _set(test: Any, name: str, value: Any) -> None:
    try:
        setattr(test, name, value)
    except AttributeError:  # an error outside a test (a string): nowhere to keep it
        pass


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
