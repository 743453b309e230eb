"""A YAML list read one item at a time, each with the line it starts on.

An inventory of 50,000 resources is one YAML list; loading it whole holds
every node and every value at once (and PyYAML's pure-Python parser takes
most of an import's time). Here libyaml's parser (when PyYAML was built with
it) yields events, and each item of the top-level list is composed and
constructed alone, so memory stays that of one item.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any, Iterator

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import (DocumentStartEvent, SequenceEndEvent, SequenceStartEvent,
                         StreamEndEvent)
from yaml.resolver import Resolver

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # PyYAML without libyaml: the same, slower
    from yaml.parser import Parser as _Parser  # type: ignore[assignment]
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _PythonParser(Reader, Scanner, _Parser):  # type: ignore[misc, valid-type]
        def __init__(self, stream: IO[bytes]) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _Parser.__init__(self)

    _Parser = _PythonParser  # type: ignore[misc, assignment]


class _ItemLoader(_Parser, Composer, SafeConstructor, Resolver):  # type: ignore[misc, valid-type]
    """libyaml's events, PyYAML's safe composer and constructor: the safe loader."""

    def __init__(self, stream: IO[bytes]) -> None:
        _Parser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


@dataclass(frozen=True)
class Item:
    """One item of the list: its position (from 1), first line (from 1) and value."""

    index: int
    line: int
    value: Any


class NotAList(ValueError):
    """The document is not a YAML list (or is empty); says what it is instead."""


def iter_list(stream: IO[bytes]) -> Iterator[Item]:
    """The items of the YAML list that ``stream`` holds, one at a time.

    Raises :class:`yaml.YAMLError` for bad YAML (its mark names the line) and
    :class:`NotAList` when the document is something else. Anchors defined in
    one item may be used by later ones, as in a whole-document load.
    """
    loader = _ItemLoader(stream)
    try:
        loader.get_event()  # StreamStart
        if loader.check_event(StreamEndEvent):
            raise NotAList("nothing")
        if not loader.check_event(DocumentStartEvent):
            raise NotAList("not a document")
        loader.get_event()
        if not loader.check_event(SequenceStartEvent):
            raise NotAList(_describe(loader.construct_document(loader.compose_node(None, None))))
        loader.get_event()
        index = 0
        while not loader.check_event(SequenceEndEvent):
            node = loader.compose_node(None, None)
            index += 1
            yield Item(index, node.start_mark.line + 1, loader.construct_document(node))
        loader.get_event()
        if index == 0:
            raise NotAList("an empty list")
        loader.get_event()  # DocumentEnd
        if not loader.check_event(StreamEndEvent):
            raise yaml.YAMLError("expected one YAML document, found more (a '---' line)")
    finally:
        loader.dispose()


def position(stream: IO[bytes]) -> int:
    """How far into ``stream`` the reader is, in bytes (for a progress bar)."""
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0


def _describe(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:120]
