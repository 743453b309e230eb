"""Order tests so that the resources they share are set up, reset and torn
down as little as possible.

The optimiser sees an abstract suite: for each test a :class:`Usage` (the
resource keys it needs, closed over dependencies, and those it leaves dirty)
and for each key a :class:`Cost`. Keys may be testresources managers or rotest
resource requests: two tests that need an equal key share the one resource
kept between them.

The cost model is how an optimising suite runs (see :func:`total_cost`):
between two tests, what the first holds and the second does not need is torn
down, what the second needs and is not held is set up, and what is kept but
was dirtied by the first is reset; everything is torn down at the end.

Tests that need the same set keep their input order (stable). They are cut
into *runs* after each test that dirties something: only there can it pay to
run other tests in between (elsewhere a test costs nothing next to its own
set, and going round it never does better while no reset costs more than a
remake). Runs are ordered as a tour that starts and ends holding nothing,
each run after the earlier runs of its set:

- up to ``EXACT_LIMIT`` runs in a group: exactly, by dynamic programming over
  subsets (Held-Karp);
- more: per connected component (runs sharing no resource never gain from
  being neighbours), the cheapest of the input order, a Gray-code sort,
  nearest-neighbour tours and, for few sets cut into many runs, the exact
  order of whole sets; improved by 2-opt and or-opt moves to a local optimum,
  then by seeded kicks (double bridges) each followed by the same descent,
  until ``KICKS`` kicks in a row fail or the work budget is spent. Past
  ``MATRIX_LIMIT`` runs the same search improves overlapping windows of the
  Gray-code order.

The budget counts cost evaluations, not seconds, and the kicks' random
generator is seeded, so the same input always gives the same order, on any
machine.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from itertools import chain, pairwise
from math import inf
from random import Random
from typing import NamedTuple

__all__ = ["DEFAULT_EFFORT", "EXACT_LIMIT", "Cost", "Usage", "optimise_order", "total_cost"]

EXACT_LIMIT = 10        # Held-Karp: 2**10 * 10 * 10 steps, a few ms
MATRIX_LIMIT = 400      # a full cost matrix (n**2 evaluations) up to this many runs
WINDOW = 100            # runs per window past MATRIX_LIMIT
NN_STARTS = 4           # nearest-neighbour tours: plain, and first to the dearest runs
KICKS = 100             # kicks in a row that did not help: the search stops
DEFAULT_EFFORT = 2_000_000  # cost evaluations the local search may spend in all
_EPS = 1e-9             # float noise is no improvement (no endless loops)

Matrix = list[list[float]]


class Cost(NamedTuple):
    """What one resource costs: to set up, to tear down, to reset when dirty.

    ``reset=None`` means a clean and a make, testresources' default reset.
    """

    setup: float = 1.0
    teardown: float = 1.0
    reset: float | None = None

    @property
    def reset_cost(self) -> float:
        """The reset cost, the default filled in."""
        return self.setup + self.teardown if self.reset is None else self.reset


class Usage(NamedTuple):
    """What one test needs (closed over dependencies) and what it dirties."""

    needs: frozenset
    dirties: frozenset = frozenset()


def total_cost(usages: Sequence[Usage], costs: Mapping[Hashable, Cost],
               order: Iterable[int] | None = None) -> float:
    """The set-up + tear-down + reset cost of running ``usages`` in ``order``
    (default: as given), as an optimising suite runs them."""
    def cost(key: Hashable) -> Cost:
        return costs.get(key) or Cost()

    held: frozenset = frozenset()
    dirty: frozenset = frozenset()
    total = 0.0
    for index in range(len(usages)) if order is None else order:
        needs = frozenset(usages[index].needs)
        total += sum(cost(key).teardown for key in held - needs)
        total += sum(cost(key).setup for key in needs - held)
        total += sum(cost(key).reset_cost for key in dirty & needs)
        held, dirty = needs, frozenset(usages[index].dirties) & needs
    return total + sum(cost(key).teardown for key in held)


def optimise_order(usages: Sequence[Usage], costs: Mapping[Hashable, Cost],
                   barriers: Iterable[int] = (), *, effort: int = DEFAULT_EFFORT) -> list[int]:
    """A permutation of ``range(len(usages))`` that runs them cheaply.

    Args:
        usages: per test, the keys it needs and those it dirties.
        costs: per key; a key missing here costs ``Cost()``.
        barriers: input positions where a new priority group starts; no test
            moves across one (each group is ordered on its own).
        effort: cost evaluations the local search may spend (deterministic).
    """
    model = _Model(usages, costs)
    count = len(usages)
    bounds = sorted({0, count, *(b for b in barriers if 0 < b < count)})
    order: list[int] = []
    for low, high in pairwise(bounds):
        runs = _runs(usages, range(low, high), model)
        for run in _order_group(runs, model, effort * (high - low) // count):
            order.extend(run.members)
    return order


# --- the model: runs of tests, resources as bits ------------------------------

@dataclass(eq=False)
class _Run:
    """Tests of one resource set, in input order; only the last may dirty."""

    members: list[int]
    mask: int                      # the resources they need
    exit_dirty: int                # those the last one leaves dirty
    previous: _Run | None = None   # the run of the same set that comes before


_DEPOT = _Run([], 0, 0)  # nothing held: where every tour starts and ends


class _Model:
    """Resource keys as bits and the cost of running one run after another.

    The real cost of u -> v is teardown(u - v) + setup(v - u) plus resets.
    With h = (setup + teardown) / 2 and a = (teardown - setup) / 2 it is
    h(u ^ v) + a(u) - a(v): the a terms cancel along a tour through the depot
    (or a path between fixed ends), so one symmetric weigher does.
    """

    def __init__(self, usages: Sequence[Usage], costs: Mapping[Hashable, Cost]) -> None:
        keys = list(dict.fromkeys(key for usage in usages for key in usage.needs))
        with suppress(TypeError):  # sets iterate in hash-seed order: sorted keys do not
            keys.sort()
        self.bit = {key: 1 << index for index, key in enumerate(keys)}
        table = [costs.get(key) or Cost() for key in keys]
        halves = [(cost.setup + cost.teardown) / 2 for cost in table]
        self.half = _weigher(halves)
        self.reset = _weigher([cost.reset_cost for cost in table])
        # For the Gray-code sort: the dearest resource is the top bit.
        self.dearest_first = [1 << i for i in sorted(range(len(keys)), key=lambda i: -halves[i])]

    def mask(self, keys: Iterable[Hashable]) -> int:
        """The bit mask of ``keys``."""
        mask = 0
        for key in keys:
            mask |= self.bit[key]
        return mask

    def cost(self, u: _Run, v: _Run) -> float:
        """The (symmetrised) cost of running v right after u."""
        step = self.half(u.mask ^ v.mask)
        return step + self.reset(u.exit_dirty & v.mask) if u.exit_dirty else step

    def matrix(self, points: Sequence[_Run]) -> Matrix:
        """All pairwise costs."""
        cost = self.cost
        return [[cost(u, v) for v in points] for u in points]

    def gray_rank(self, run: _Run) -> int:
        """The rank of run's mask in reflected Gray-code order: sorted so, the
        dearest resource is held in one stretch, the next in at most two..."""
        code = 0
        for bit in self.dearest_first:
            code = (code << 1) | bool(run.mask & bit)
        shift = 1
        while code >> shift:  # Gray code -> binary: prefix XOR
            code ^= code >> shift
            shift <<= 1
        return code


def _weigher(weights: Sequence[float]) -> Callable[[int], float]:
    """A function summing ``weights`` over the set bits of a mask, through
    byte-wide lookup tables (much faster than a Python loop over bits)."""
    tables = []
    for low in range(0, len(weights), 8):
        table = [0.0]
        for weight in weights[low:low + 8]:
            table += [total + weight for total in table]
        tables.append(table)

    def weigh(mask: int) -> float:
        total = 0.0
        for table in tables:
            if not mask:
                break
            total += table[mask & 255]
            mask >>= 8
        return total
    return weigh


def _runs(usages: Sequence[Usage], positions: Iterable[int], model: _Model) -> list[_Run]:
    """The runs of one group, in order of first appearance."""
    by_needs: dict[frozenset, list[int]] = {}
    for position in positions:
        by_needs.setdefault(frozenset(usages[position].needs), []).append(position)
    runs: list[_Run] = []
    for needs, members in by_needs.items():
        mask, previous, current = model.mask(needs), None, []
        for position in members:
            current.append(position)
            dirty = model.mask(frozenset(usages[position].dirties) & needs)
            if dirty or position == members[-1]:
                previous = _Run(current, mask, dirty, previous)
                runs.append(previous)
                current = []
    return sorted(runs, key=lambda run: run.members[0])


# --- ordering the runs of a group ---------------------------------------------

def _order_group(runs: list[_Run], model: _Model, effort: int) -> list[_Run]:
    """The runs of one priority group, ordered."""
    if len(runs) <= EXACT_LIMIT:  # exact over the whole group
        return _tour(runs, model, effort)
    ordered: list[_Run] = []
    for component in _components(runs):
        ordered += _tour(component, model, effort * len(component) // len(runs))
    return ordered


def _components(runs: list[_Run]) -> list[list[_Run]]:
    """Runs linked by shared resources, in order of first appearance. Between
    components everything is torn down anyway: each is a tour of its own."""
    groups: list[tuple[int, list[_Run]]] = []
    for run in runs:
        mask, members, apart = run.mask, [run], []
        for group_mask, group in groups:
            if group_mask & mask:
                mask |= group_mask
                members = group + members
            else:
                apart.append((group_mask, group))
        groups = [*apart, (mask, members)]
    lists = [sorted(group, key=lambda run: run.members[0]) for _, group in groups]
    return sorted(lists, key=lambda group: group[0].members[0])


def _tour(runs: list[_Run], model: _Model, effort: int) -> list[_Run]:
    """The runs of one component, ordered as a cheap tour from the depot."""
    points = [_DEPOT, *runs]
    before = _before(points)
    if len(runs) <= EXACT_LIMIT:
        tour = _held_karp(model.matrix(points), before)
    elif len(runs) <= MATRIX_LIMIT:
        starts = [list(range(len(points))),
                  sorted(range(len(points)), key=lambda i: model.gray_rank(points[i]))]
        starts += _exact_by_set(points, model)
        tour = _Search(model.matrix(points), before).best(starts, effort)
    else:
        tour = _windowed(points, model, effort)
    return [points[index] for index in tour[1:]]


def _exact_by_set(points: list[_Run], model: _Model) -> list[list[int]]:
    """Few sets but more runs (tests that dirty): the best tour that keeps
    each set's runs together, exactly, as a start for the search (which may
    then split sets). Empty if there are too many sets."""
    sets: dict[int, list[int]] = {}  # a set's mask -> its runs (point indexes)
    for index, point in enumerate(points[1:], 1):
        sets.setdefault(point.mask, []).append(index)
    if len(sets) > EXACT_LIMIT:
        return []
    merged = [_DEPOT] + [_Run([], mask, points[runs[-1]].exit_dirty) for mask, runs in sets.items()]
    order = _held_karp(model.matrix(merged), [-1] * len(merged))
    runs = list(sets.values())
    return [[0, *(index for node in order[1:] for index in runs[node - 1])]]


def _before(points: Sequence[_Run]) -> list[int]:
    """For each point, the index of the point that must come before it, or -1."""
    index = {id(point): i for i, point in enumerate(points)}
    return [index.get(id(point.previous), -1) for point in points]


def _held_karp(matrix: Matrix, before: list[int]) -> list[int]:
    """The cheapest tour from point 0 through all others, exactly.

    best[mask][j]: the cheapest path from 0 through the points of mask (bit
    j for point j + 1) that ends at point j + 1. Ties keep the first found.
    """
    count = len(matrix) - 1
    if count == 0:
        return [0]
    full = (1 << count) - 1
    needed = [1 << (before[j + 1] - 1) if before[j + 1] > 0 else 0 for j in range(count)]
    best = [[inf] * count for _ in range(full + 1)]
    came_from = [[-1] * count for _ in range(full + 1)]
    for j in range(count):
        if not needed[j]:
            best[1 << j][j] = matrix[0][j + 1]
    for mask in range(1, full + 1):
        for j, here in enumerate(best[mask]):
            if here == inf:
                continue
            costs, rest = matrix[j + 1], full & ~mask
            while rest:
                low = rest & -rest
                rest ^= low
                k = low.bit_length() - 1
                cost = here + costs[k + 1]
                if cost < best[mask | low][k] and mask & needed[k] == needed[k]:
                    best[mask | low][k] = cost
                    came_from[mask | low][k] = j
    last = min(range(count), key=lambda j: best[full][j] + matrix[j + 1][0])
    path, mask = [], full
    while last >= 0:
        path.append(last + 1)
        last, mask = came_from[mask][last], mask & ~(1 << last)
    return [0, *reversed(path)]


def _windowed(points: list[_Run], model: _Model, effort: int) -> list[int]:
    """Too many runs for one matrix: sort them in Gray-code order, then improve
    windows of it, each a path between fixed ends (two sweeps, the second
    shifted by half a window, so runs can cross window borders)."""
    tour = sorted(range(len(points)), key=lambda i: model.gray_rank(points[i]))
    windows = [(start, start + WINDOW) for shift in (0, WINDOW // 2)
               for start in range(1 + shift, len(tour), WINDOW)]
    for start, stop in windows:
        inner = tour[start:stop]
        window = [_DEPOT, *(points[i] for i in inner)]
        # Point 0 of the window stands for both of its fixed ends.
        before_end = points[tour[start - 1]]
        after_end = points[tour[stop]] if stop < len(tour) else _DEPOT
        matrix = model.matrix(window)
        matrix[0] = [model.cost(before_end, point) for point in window]
        for row, point in zip(matrix, window):
            row[0] = model.cost(point, after_end)
        search = _Search(matrix, _before(window))
        found = search.best([list(range(len(window)))], effort * len(inner) // len(points))
        tour[start:stop] = [inner[i - 1] for i in found[1:]]
    return tour


# --- local search on a matrix -------------------------------------------------

class _Search:
    """Tours of the points of a cost matrix, improved by local moves.

    A tour is a list of point indexes beginning with 0 (the depot, which
    stays first). ``before[p]`` is the point that must come before p, or -1:
    runs of one set keep their input order.
    """

    def __init__(self, matrix: Matrix, before: list[int]) -> None:
        self.matrix = matrix
        self.before = before
        self.after = [-1] * len(matrix)
        self.chain = list(range(len(matrix)))  # a set's runs share a chain id
        for point, earlier in enumerate(before):
            if earlier >= 0:
                self.after[earlier] = point
                self.chain[point] = self.chain[earlier]  # earlier < point: ids settle in order
        self.chained = [b >= 0 or a >= 0 for b, a in zip(before, self.after)]

    def best(self, starts: list[list[int]], effort: int) -> list[int]:
        """The cheapest of ``starts`` and nearest-neighbour tours, improved by
        2-opt and or-opt to a local optimum, then by kicks (two segments
        swapped, then improved again; kept if cheaper) until ``effort`` is
        spent or ``KICKS`` kicks in a row have not helped."""
        heads = [p for p in range(1, len(self.matrix)) if self.before[p] < 0]
        dearest = sorted(heads, key=lambda p: -self.matrix[0][p])[:NN_STARTS - 1]
        starts = starts + [self.nearest_neighbour(first) for first in [None, *dearest]]
        tour = min(starts, key=self.cost)
        budget = self.descend(tour, effort)
        cost, random, misses = self.cost(tour), Random(len(tour)), 0  # seeded: deterministic
        while budget > 0 and misses < KICKS and len(tour) > 4:
            kicked = self.kick(tour, random)
            budget -= len(tour)
            if kicked is None:
                continue
            budget = self.descend(kicked, budget)
            kicked_cost = self.cost(kicked)
            if kicked_cost < cost - _EPS:
                tour, cost, misses = kicked, kicked_cost, 0
            else:
                misses += 1
        return tour

    def descend(self, tour: list[int], budget: int) -> int:
        """2-opt and or-opt passes, in place, until none helps; the budget left."""
        while budget > 0:
            reversed_any, budget = self.two_opt(tour, budget)
            moved_any, budget = self.or_opt(tour, budget)
            if not (reversed_any or moved_any):
                break
        return budget

    def kick(self, tour: list[int], random: Random) -> list[int] | None:
        """A B C D -> A C B D for random cuts (a double bridge: no local move
        undoes it), or None if that breaks the order of a set's runs."""
        i, j, k = sorted(random.sample(range(1, len(tour)), 3))
        kicked = tour[:i] + tour[j:k] + tour[i:j] + tour[k:]
        position = {point: at for at, point in enumerate(kicked)}
        if any(position[self.before[p]] > position[p] for p in tour[i:k] if self.before[p] >= 0):
            return None
        return kicked

    def cost(self, tour: list[int]) -> float:
        """The cost of a tour, back to the depot included."""
        return sum(self.matrix[a][b] for a, b in zip(tour, tour[1:] + tour[:1]))

    def nearest_neighbour(self, first: int | None) -> list[int]:
        """Greedy tour from the depot (to ``first`` first, if given): the
        cheapest next point whose predecessors are done; ties, lowest index."""
        tour = [0]
        ready = [p for p in range(1, len(self.matrix)) if self.before[p] < 0]
        while ready:
            row = self.matrix[tour[-1]]
            step = first if first is not None else min(ready, key=row.__getitem__)
            first = None
            ready.remove(step)
            tour.append(step)
            if self.after[step] >= 0:
                ready.append(self.after[step])
        return tour

    def two_opt(self, tour: list[int], budget: int) -> tuple[bool, int]:
        """One pass of segment reversals (the best per start), in place.

        Costs are asymmetric (resets), so the reversed segment's own steps
        change too: prefix sums of the steps walked both ways give that in
        O(1). A segment holding two runs of one set cannot be reversed.
        """
        matrix, size, improved = self.matrix, len(tour), False
        forward, backward = self._prefix_costs(tour)
        for i in range(1, size - 1):
            if budget <= 0:
                break
            budget -= size - i
            a, first = tour[i - 1], tour[i]
            row_a, row_first = matrix[a], matrix[first]
            removed = row_a[first]
            chains = {self.chain[first]}
            best, best_j = -_EPS, 0
            for j in range(i + 1, size):
                last, b = tour[j], tour[(j + 1) % size]
                if self.chained[last]:
                    if self.chain[last] in chains:
                        break
                    chains.add(self.chain[last])
                delta = (row_a[last] + row_first[b] - removed - matrix[last][b]
                         + backward[j] - backward[i] - forward[j] + forward[i])
                if delta < best:
                    best, best_j = delta, j
            if best_j:
                tour[i:best_j + 1] = tour[i:best_j + 1][::-1]
                forward, backward = self._prefix_costs(tour)
                improved = True
        return improved, budget

    def _prefix_costs(self, tour: list[int]) -> tuple[list[float], list[float]]:
        """forward[k]: the cost of tour[0] -> ... -> tour[k]; backward[k]: of
        the same steps walked the other way."""
        forward, backward = [0.0], [0.0]
        for a, b in zip(tour, tour[1:]):
            forward.append(forward[-1] + self.matrix[a][b])
            backward.append(backward[-1] + self.matrix[b][a])
        return forward, backward

    def or_opt(self, tour: list[int], budget: int) -> tuple[bool, int]:
        """One pass moving blocks of 1-3 points (either way round) to their
        cheapest allowed place, in place."""
        moved = False
        for length in (1, 2, 3):
            position = {point: at for at, point in enumerate(tour)}
            i = 1
            while i + length <= len(tour) and budget > 0:
                budget -= 2 * len(tour)
                if self._move_block(tour, i, length, position):
                    moved = True
                    position = {point: at for at, point in enumerate(tour)}
                i += 1
        return moved, budget

    def _move_block(self, tour: list[int], i: int, length: int, position: dict[int, int]) -> bool:
        """Move tour[i:i+length] between tour[k] and tour[k+1], for the k
        where that costs least, if that is cheaper than where it is."""
        matrix, size, end = self.matrix, len(tour), i + length
        block = tour[i:end]
        head, tail = block[0], block[-1]
        a, b = tour[i - 1], tour[end % size]
        best = matrix[a][head] + matrix[tail][b] - matrix[a][b] - _EPS
        low, high, flippable = self._bounds(block, position, size)
        inner = sum(matrix[y][x] - matrix[x][y] for x, y in zip(block, block[1:]))
        row_head, row_tail = matrix[head], matrix[tail]
        best_k, best_flip = -1, False
        for k in chain(range(low, i - 1), range(end, high)):
            p, q = tour[k], tour[(k + 1) % size]
            row_p = matrix[p]
            cost = row_p[head] + row_tail[q] - row_p[q]
            if cost < best:
                best, best_k, best_flip = cost, k, False
            if flippable:
                cost = row_p[tail] + row_head[q] - row_p[q] + inner
                if cost < best:
                    best, best_k, best_flip = cost, k, True
        if best_k < 0:
            return False
        moved = block[::-1] if best_flip else block
        if best_k < i:
            tour[best_k + 1:end] = moved + tour[best_k + 1:i]
        else:
            tour[i:best_k + 1] = tour[end:best_k + 1] + moved
        return True

    def _bounds(self, block: list[int], position: dict[int, int],
                size: int) -> tuple[int, int, bool]:
        """Where a block may go: after tour[k] for low <= k < high (after
        its points' predecessors, before their successors), and whether it
        may be reversed (not if it holds two runs of one set)."""
        low, high, flippable = 0, size, True
        for point in block:
            earlier, later = self.before[point], self.after[point]
            if earlier >= 0 and earlier not in block:
                low = max(low, position[earlier])
            if later >= 0:
                if later in block:
                    flippable = False
                else:
                    high = min(high, position[later])
        return low, high, flippable
