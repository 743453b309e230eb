"""What ``--shard K/N`` splits by: the tests' expected seconds, the same for
every shard of one run.

With ``--run-id`` the shards balance by the history: each test's recent
duration with the set-up before it
(:func:`rotest_app.engine.history.recent_durations`). The first shard to
start stores those seconds in the store under the run id (an atomic insert);
every other shard splits by the stored plan, never by the history as it is
when it starts, which a shard that already finished has changed. The plan
names the tests it was made for (a sha256 of their paths and units): a shard
whose tests differ (another checkout, another ``-f``) stops with an error
rather than run an overlapping or incomplete part.

Without a run id nothing ties the shards together, so they split by test
count, which every host computes alike; a note on stderr says how to balance
by time.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .shard import Shard, ShardError, ShardUnit, select_shard, shard_units, split_units
from .suite import TestSuite

__all__ = ["ShardSplit", "apply_shard", "plan_split", "seconds_text", "weights_of"]

#: Seconds are kept to the millisecond in a stored plan.
PRECISION = 3


@dataclass
class ShardSplit:
    """The split of a run's units into shards."""

    shard: Shard
    units: list[ShardUnit]
    #: The shard (0-based) of each unit.
    assigned: list[int]
    #: Each unit's weight: expected seconds, or its test count.
    weights: list[float]
    #: True: the weights are seconds from the history; False: test counts.
    by_time: bool
    #: Where the weights came from, in words.
    source: str

    def totals(self) -> list[float]:
        """Each shard's expected seconds (or tests)."""
        totals = [0.0] * self.shard.count
        for weight, number in zip(self.weights, self.assigned):
            totals[number] += weight
        return totals

    def test_counts(self) -> list[int]:
        counts = [0] * self.shard.count
        for unit, number in zip(self.units, self.assigned):
            counts[number] += len(unit.leaf_paths)
        return counts

    def summary(self) -> str:
        """Every shard's expected time (or test count), this one marked."""
        lines = [f"shards ({self.source}):"]
        for number, (total, tests) in enumerate(zip(self.totals(), self.test_counts()), 1):
            expected = f", expected {seconds_text(total)}" if self.by_time else ""
            mark = "  <- this shard" if number == self.shard.index else ""
            lines.append(f"  {number}/{self.shard.count}: {tests} test(s){expected}{mark}")
        return "\n".join(lines)


def seconds_text(seconds: float) -> str:
    """``12.3 s``, or ``0.012 s`` for a short time."""
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds:.3f} s"


def weights_of(units: Sequence[ShardUnit], seconds: Mapping[str, float]
               ) -> tuple[list[float], bool]:
    """Each unit's weight, and whether it is time: its leaves' seconds (a
    leaf the history lacks counts as the mean of those it has), or with no
    seconds for any leaf, its test count."""
    known = [seconds[path] for unit in units for path in unit.leaf_paths if path in seconds]
    if not known:
        return [float(len(unit.leaf_paths)) for unit in units], False
    default = round(sum(known) / len(known), PRECISION)
    return [unit.weight(seconds, default) for unit in units], True


def fingerprint(units: Sequence[ShardUnit]) -> str:
    """A sha256 of the units and their tests: equal on two hosts only if
    both split the same tests into the same units."""
    digest = hashlib.sha256()
    for unit in units:
        digest.update(("\x1e".join(sorted(unit.leaf_paths)) + "\x1d").encode("utf-8",
                                                                              "replace"))
    return digest.hexdigest()


def plan_split(root: TestSuite, config: Any, shard: Shard, run_group: str | None, *,
               store_plan: bool = True, delta_base: int | None = None,
               say: Callable[[str], None] = lambda text: print(text, file=sys.stderr)
               ) -> ShardSplit:
    """The split of ``root``'s tests (filtered, and pruned by ``--delta``)
    into ``shard.count`` shards. With a ``run_group`` the weights come from
    the history, through the plan stored under the run id (stored now by the
    first shard when ``store_plan``; ``-l`` shows the stored one, or while
    there is none the history's now, and stores nothing). Raises
    ShardError when the stored plan was made for other tests or another N,
    and other errors when the store cannot be read."""
    units = shard_units(root)
    if run_group is None:
        if shard.count > 1:
            say("rotest: --shard without --run-id: the shards split by test count, "
                "the same on every host; give every shard of the run one --run-id "
                "(e.g. $BUILD_TAG, or ROTEST_RUN_ID) to balance them by past durations")
        weights = [float(len(unit.leaf_paths)) for unit in units]
        return _split(shard, units, weights, False, "by test count: no --run-id")
    leaves = sorted(path for unit in units for path in unit.leaf_paths)
    print_ = fingerprint(units)
    from .store import client_for  # the store only for runs that name a run id
    store = client_for(config)
    try:
        stored = store.shard_plan(run_group) if not store_plan else None
        if stored is None:
            history = store.recent_durations(root.name)
            if not store_plan:
                return _from_seconds(shard, units, history,
                                     f"run id {run_group!r}: from the history now; the "
                                     f"run's first shard stores the plan the others follow")
            plan = {"seconds": [round(history[path], PRECISION) if path in history
                                else None for path in leaves],
                    "base": delta_base, "tests": len(leaves)}
            stored = store.claim_shard_plan(run_group=run_group, name=root.name,
                                            shards=shard.count, fingerprint=print_,
                                            plan=plan)
    finally:
        store.close()
    if stored["shards"] != shard.count:
        raise ShardError(f"run id {run_group!r} was split into {stored['shards']} shards "
                         f"by its first shard, not {shard.count}: give every shard the "
                         f"same N (--shard K/{stored['shards']}), or a new --run-id")
    if stored["fingerprint"] != print_ or stored["plan"].get("base") != delta_base:
        raise ShardError(
            f"the shards of run id {run_group!r} do not have the same tests: its first "
            f"shard split {stored['plan'].get('tests')} test(s)"
            f"{_base_words(stored['plan'].get('base'))}, this one has {len(leaves)}"
            f"{_base_words(delta_base)}, or other ones; give every shard the same code, "
            f"paths, -f and --delta base (or a new --run-id)")
    seconds = {path: value for path, value in zip(leaves, stored["plan"]["seconds"])
               if value is not None}
    return _from_seconds(shard, units, seconds, f"run id {run_group!r}: the plan its "
                                                f"first shard stored")


def _base_words(base: int | None) -> str:
    return f" (--delta from run #{base})" if base is not None else ""


def _from_seconds(shard: Shard, units: list[ShardUnit], seconds: Mapping[str, float],
                  source: str) -> ShardSplit:
    weights, by_time = weights_of(units, seconds)
    how = "by past durations" if by_time else "by test count: no history yet"
    return _split(shard, units, weights, by_time, f"{how}; {source}")


def _split(shard: Shard, units: list[ShardUnit], weights: list[float], by_time: bool,
           source: str) -> ShardSplit:
    assigned = split_units(units, weights, shard.count)
    return ShardSplit(shard, units, assigned, weights, by_time, source)


def apply_shard(root: TestSuite, found: ShardSplit) -> int:
    """Keep the tests of this shard in ``root``; returns how many are left."""
    return select_shard(root, found.units, found.assigned, found.shard)
