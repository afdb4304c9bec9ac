"""Mass from discrete weighings (big-bag net weights with a bag id)."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Weighing:
    ts: float
    bag_id: str
    net_kg: float


@dataclass(frozen=True, slots=True)
class WeighedMass:
    mass: float
    bags: int
    duplicates: int
    items: tuple[tuple[str, float], ...]  # (bag id, net kg) counted


def weighed_mass(
    weighings: Iterable[Weighing], t0: float, t1: float, *, already_counted: AbstractSet[str] = frozenset()
) -> WeighedMass:
    """Sum of net weights with t0 < ts <= t1; a bag id is counted once, its first weighing wins.

    `already_counted` holds bag ids attributed to earlier batches, so a re-sent weighing
    (after a reconnect, a replay or a re-weigh) never counts twice.
    """
    seen: set[str] = set()  # ids of this window; already_counted is only read, never copied
    total, items, dups = 0.0, [], 0
    for w in sorted(weighings, key=lambda w: w.ts):
        if not (t0 < w.ts <= t1):
            continue
        if w.bag_id in seen or w.bag_id in already_counted:
            dups += 1
            continue
        seen.add(w.bag_id)
        items.append((w.bag_id, w.net_kg))
        total += w.net_kg
    return WeighedMass(mass=total, bags=len(items), duplicates=dups, items=tuple(items))
