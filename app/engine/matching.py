"""Choosing resources for a request: all of its descriptors or none.

Each descriptor must get its own resource, and the *footprints* of the chosen
resources (each one with the ownable resources it is made of) must not
overlap. A small depth-first search does it over candidates the database
hands out in order (:func:`.pools.candidates`), read only as far as the search
goes; requests name few descriptors.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from ..models import ResourceData

SEARCH_BUDGET = 20_000


def footprint(resource: ResourceData) -> frozenset[int]:
    """Ids of what locking ``resource`` takes: it and its ownable sub-resources."""
    return frozenset(member.id for member in resource.family() if member.OWNABLE)


def is_free(resource: ResourceData) -> bool:
    """Usable, and no session holds it or anything it is made of."""
    return all(member.is_usable and (member.session_id is None or not member.OWNABLE)
               for member in resource.family())


class _Lazy:
    """A candidate stream read on demand and kept, so a search can go back."""

    def __init__(self, stream: Iterable[ResourceData]) -> None:
        self._stream: Iterator[ResourceData] | None = iter(stream)
        self._seen: list[tuple[ResourceData, frozenset[int]]] = []

    def __iter__(self) -> Iterator[tuple[ResourceData, frozenset[int]]]:
        index = 0
        while True:
            if index < len(self._seen):
                yield self._seen[index]
                index += 1
            elif self._stream is None:
                return
            else:
                resource = next(self._stream, None)
                if resource is None:
                    self._stream = None
                    return
                self._seen.append((resource, footprint(resource)))


def choose(pools: Sequence[Iterable[ResourceData]],
           excluded: Iterable[int] = ()) -> list[ResourceData] | None:
    """One resource per pool with disjoint footprints avoiding ``excluded``,
    taking each pool in its order; None if there is no such choice."""
    excluded = frozenset(excluded)
    options = [_Lazy(pool) for pool in pools]
    if any(next(iter(option), None) is None for option in options):
        return None  # a pool with nothing free: no need to walk the others
    picked: dict[int, ResourceData] = {}
    budget = [SEARCH_BUDGET]

    def search(index: int, used: frozenset[int]) -> bool:
        if index == len(options):
            return True
        for resource, taken in options[index]:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if taken & used:
                continue
            picked[index] = resource
            if search(index + 1, used | taken):
                return True
        return False

    if not search(0, excluded):
        return None
    return [picked[i] for i in range(len(options))]
