"""Choosing resources for a request: all of its descriptors or none.

Each descriptor must get its own resource, and the *footprints* of the chosen
resources (each one with the ownable resources it is made of) must not
overlap. A small depth-first search does it; requests name few descriptors.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from ..models import ResourceData

SEARCH_BUDGET = 20_000


def footprint(resource: ResourceData) -> frozenset[int]:
    """Ids of what locking ``resource`` takes: it and its ownable sub-resources."""
    return frozenset(member.id for member in resource.family() if member.OWNABLE)


def is_free(resource: ResourceData) -> bool:
    """Usable, and no session holds it or anything it is made of."""
    return all(member.is_usable and (member.session_id is None or not member.OWNABLE)
               for member in resource.family())


def choose(pools: Sequence[Sequence[ResourceData]],
           excluded: Iterable[int] = ()) -> list[ResourceData] | None:
    """One resource per pool with disjoint footprints avoiding ``excluded``,
    preferring lower ids; None if there is no such choice."""
    excluded = frozenset(excluded)
    options = [[(r, footprint(r)) for r in pool if not footprint(r) & excluded]
               for pool in pools]
    # Scarce descriptors first: fewer dead ends. Map back to the request's order.
    order = sorted(range(len(options)), key=lambda i: len(options[i]))
    picked: dict[int, ResourceData] = {}
    budget = [SEARCH_BUDGET]

    def search(depth: int, used: frozenset[int]) -> bool:
        if depth == len(order):
            return True
        index = order[depth]
        for resource, taken in options[index]:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if taken & used:
                continue
            picked[index] = resource
            if search(depth + 1, used | taken):
                return True
        return False

    if not search(0, frozenset()):
        return None
    return [picked[i] for i in range(len(options))]
