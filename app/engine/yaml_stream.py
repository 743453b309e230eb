"""A YAML list read one item at a time, each with the line it starts on.

An inventory of 50,000 resources is one YAML list; loading it whole holds
every node and every value at once (and PyYAML's pure-Python parser takes
most of an import's time). Here libyaml's parser (when PyYAML was built with
it) yields events, and each item of the top-level list is built from them
alone, so memory stays that of one item.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any, Iterator

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (AliasEvent, DocumentStartEvent, MappingEndEvent,
                         MappingStartEvent, ScalarEvent, SequenceEndEvent,
                         SequenceStartEvent, StreamEndEvent)
from yaml.nodes import ScalarNode
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


_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "seq", "map"))
_MERGE = "tag:yaml.org,2002:merge"


class _ItemLoader(_Parser, SafeConstructor, Resolver):  # type: ignore[misc, valid-type]
    """libyaml's events made into values as ``yaml.safe_load`` makes them.

    PyYAML's composer and constructor first build a node per value, then walk
    the nodes; for one item of a flat inventory that machinery is most of the
    cost of reading it. :meth:`value` builds straight from the events, with
    PyYAML's own resolver and scalar constructors, anchors, aliases and merge
    keys (``<<``); only collections with an explicit tag (``!!set``,
    ``!!omap``) are refused, which an inventory has no use for.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        _Parser.__init__(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        #: Anchored values by name: the whole document's, as in a full load.
        self.anchored: dict[str, Any] = {}
        #: Resolved tags of short untagged scalars, by (text, implicit).
        self.tags: dict[tuple[str, tuple[bool, bool]], str] = {}

    def value(self) -> Any:
        """The value whose first event is next."""
        event = self.get_event()
        if isinstance(event, ScalarEvent):
            return self._anchor(event, self._scalar(event))
        if isinstance(event, AliasEvent):
            if event.anchor not in self.anchored:
                raise ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                    event.start_mark)
            return self.anchored[event.anchor]
        if event.tag not in (None, "!", _SEQ, _MAP):
            raise ConstructorError(None, None, f"the tag {event.tag!r} is not supported "
                                   f"in an inventory file", event.start_mark)
        if isinstance(event, SequenceStartEvent):
            items: list[Any] = self._anchor(event, [])
            while not self.check_event(SequenceEndEvent):
                items.append(self.value())
            self.get_event()
            return items
        return self._mapping(event)

    def _mapping(self, start: MappingStartEvent) -> dict[Any, Any]:
        mapping: dict[Any, Any] = self._anchor(start, {})
        merged: list[dict[Any, Any]] = []
        while not self.check_event(MappingEndEvent):
            key_event = self.peek_event()
            if self._is_merge(key_event):
                self.get_event()
                merged += self._merges(self.value(), key_event)
                continue
            key = self.value()
            value = self.value()
            try:
                mapping[key] = value
            except TypeError:
                raise ConstructorError("while constructing a mapping", start.start_mark,
                                       "found unhashable key",
                                       key_event.start_mark) from None
        self.get_event()
        if merged:  # as SafeConstructor.flatten_mapping: own keys win, then the first merged
            own = dict(mapping)
            mapping.clear()
            for other in merged:
                for key, value in other.items():
                    mapping.setdefault(key, value)
            mapping.update(own)
        return mapping

    def _is_merge(self, event: Any) -> bool:
        return (isinstance(event, ScalarEvent) and event.value == "<<"
                and event.tag in (None, "!")
                and self.resolve(ScalarNode, event.value, event.implicit) == _MERGE)

    @staticmethod
    def _merges(value: Any, mark_event: Any) -> list[dict[Any, Any]]:
        found = value if isinstance(value, list) else [value]
        if not all(isinstance(item, dict) for item in found):
            raise ConstructorError("while constructing a mapping", None,
                                   "expected a mapping or list of mappings for merging",
                                   mark_event.start_mark)
        return found

    def _scalar(self, event: ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._resolved(event.value, event.implicit)
        if tag == _STR:
            return event.value
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        construct = self.yaml_constructors.get(tag, self.yaml_constructors[None])
        return construct(self, node)

    def _resolved(self, value: str, implicit: tuple[bool, bool]) -> str:
        """The tag of an untagged scalar; short ones (keys, words, numbers)
        are remembered, as an inventory repeats them on every entry."""
        if len(value) > 24:
            return self.resolve(ScalarNode, value, implicit)
        key = (value, implicit)
        tag = self.tags.get(key)
        if tag is None:
            if len(self.tags) > 10_000:
                self.tags.clear()
            tag = self.tags[key] = self.resolve(ScalarNode, value, implicit)
        return tag

    def _anchor(self, event: Any, value: Any) -> Any:
        if event.anchor is not None:
            self.anchored[event.anchor] = value
        return value


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
            raise NotAList(_describe(loader.value()))
        loader.get_event()
        index = 0
        while not loader.check_event(SequenceEndEvent):
            line = loader.peek_event().start_mark.line + 1
            index += 1
            yield Item(index, line, loader.value())
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
