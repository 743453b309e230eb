"""A test's stdout and stderr, kept for the reports while still shown.

While a test runs, ``sys.stdout`` and ``sys.stderr`` write through to where
they wrote before (the terminal sees what it always saw) and into the test's
:class:`Output`, which keeps the last :data:`LIMIT` characters of each and
says how many it cut. Output of subprocesses and of threads' own streams
(a logging handler made before the test) is not Python's ``sys.stdout``
and is not kept.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

__all__ = ["LIMIT", "Output", "capturing"]

#: Characters kept of each stream of one test (its end: the last lines say most).
LIMIT = 64 * 1024


class _Kept:
    """The end of one stream, within :data:`LIMIT`."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._cut = 0

    def add(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size > 2 * LIMIT:  # trim now and then, not on every write
            self._trim()

    def _trim(self) -> None:
        text = "".join(self._parts)
        self._cut += len(text) - LIMIT
        self._parts, self._size = [text[-LIMIT:]], LIMIT

    def text(self) -> str:
        if self._size > LIMIT:
            self._trim()
        text = "".join(self._parts)
        return f"[... {self._cut} characters cut ...]\n{text}" if self._cut else text


class Output:
    """What one test wrote to stdout and stderr."""

    def __init__(self) -> None:
        self._out, self._err = _Kept(), _Kept()

    @property
    def stdout(self) -> str:
        return self._out.text()

    @property
    def stderr(self) -> str:
        return self._err.text()


class _Tee:
    """Writes to ``stream`` and keeps a copy; everything else is ``stream``'s.
    (Not an ``io.TextIOBase``: its finalizer would close, so flush, the
    terminal after every test.)"""

    __slots__ = ("_stream", "_kept")

    def __init__(self, stream: TextIO, kept: _Kept) -> None:
        self._stream, self._kept = stream, kept

    def write(self, text: str) -> int:
        self._kept.add(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, buffer...
        return getattr(self._stream, name)


@contextmanager
def capturing() -> Iterator[Output]:
    """Keep what is written to ``sys.stdout`` and ``sys.stderr`` in the block."""
    output = Output()
    before = sys.stdout, sys.stderr
    tees = _Tee(before[0], output._out), _Tee(before[1], output._err)
    sys.stdout, sys.stderr = tees
    try:
        yield output
    finally:
        # Put back only our own: a test that replaced them keeps its word.
        if sys.stdout is tees[0]:
            sys.stdout = before[0]
        if sys.stderr is tees[1]:
            sys.stderr = before[1]
