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
from rotest_core.result import AbstractResultHandler, describe

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
        self.store: Store | None = None
        #: Each signature with its pattern compiled by RE2 (linear time).
        self.known: list[tuple[dict[str, Any], Any]] = []
        self._said: set[str] = set()  # warnings given, each once

    # --- the run -----------------------------------------------------------

    def start_test_run(self) -> None:
        try:
            self.store = open_store(self.config)
            signatures = self.store.load()
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
        self._call(self.store.hit, signature["id"])

    def _new(self, test: Any, text: str) -> None:
        pattern = pattern_for(text)
        if pattern is None:
            return
        name = last_line(text)[:NAME_LIMIT]
        signature = self._call(self.store.add, name, pattern)
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


# --------------------------------------------------------------------------
# Where the signatures are kept

class Store:
    """The signatures' storage, as the handler uses it."""

    def load(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def add(self, name: str, pattern: str) -> dict[str, Any]:
        raise NotImplementedError

    def hit(self, signature_id: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Let go of connections."""


class EmbeddedStore(Store):
    """The embedded database (``database_url``, or the workdir's SQLite file)."""

    def __init__(self, database_url: str, plugins: list[str]) -> None:
        from rotest_app.engine import open_engine
        from rotest_core.embedded_db import prepare_database
        prepare_database(database_url, plugins)
        self.engine = open_engine(database_url)

    def _session(self):
        from sqlalchemy.orm import Session
        return Session(self.engine)

    def load(self) -> list[dict[str, Any]]:
        from rotest_app.models.signatures import all_signatures
        with self._session() as session:
            return all_signatures(session)

    def add(self, name: str, pattern: str) -> dict[str, Any]:
        from rotest_app.models.signatures import record_signature
        with self._session() as session:
            return record_signature(session, name=name, pattern=pattern)[0]

    def hit(self, signature_id: int) -> None:
        from rotest_app.models.signatures import count_hit
        with self._session() as session:
            count_hit(session, signature_id)

    def close(self) -> None:
        self.engine.dispose()


class RemoteStore(Store):
    """The server's API, with the run's token; short timeouts, few retries:
    a report must not hold the run up."""

    def __init__(self, server_url: str, token: str) -> None:
        from rotest_core.resources.remote import RemoteLockClient
        self.client = RemoteLockClient(server_url, token, retry_seconds=2.0,
                                       connect_timeout=3.0)

    def load(self) -> list[dict[str, Any]]:
        return self.client.call("GET", "/signatures", read_timeout=10.0)[1]["signatures"]

    def add(self, name: str, pattern: str) -> dict[str, Any]:
        return self.client.call("POST", "/signatures", {"name": name, "pattern": pattern},
                                read_timeout=10.0)[1]

    def hit(self, signature_id: int) -> None:
        self.client.call("POST", f"/signatures/{signature_id}/hits", read_timeout=10.0)

    def close(self) -> None:
        self.client.http.close()


def open_store(config: Any) -> Store:
    """The store the run's settings name: the server when a host is set."""
    if config is None:
        from rotest_core.config import load_config
        config = load_config()
    if config.embedded:
        return EmbeddedStore(config.embedded_database_url, list(config.plugins or ()))
    if not config.token:
        raise RuntimeError(f"no token for the server at {config.server_url}: set 'token' "
                           f"in rotest.yml or ROTEST_TOKEN")
    return RemoteStore(config.server_url, config.token)


def _set(test: Any, name: str, value: Any) -> None:
    try:
        setattr(test, name, value)
    except AttributeError:  # an error outside a test (a string): nowhere to keep it
        pass


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
