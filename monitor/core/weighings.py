"""Mass from discrete weighings (big-bag net weights with a bag id)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from monitor.core.series import TextSeries


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


def bag_weighings(
    ids: TextSeries | None,
    t_arr: NDArray[np.float64],
    v_arr: NDArray[np.float64],
    t0: float,
    t1: float,
    *,
    tolerance_s: float = 1.0,
) -> list[Weighing]:
    """Weighings in (t0, t1] (one window of `bag_weighings_many`)."""
    return bag_weighings_many(ids, t_arr, v_arr, [(t0, t1)], tolerance_s=tolerance_s)[0]


def bag_weighings_many(
    ids: TextSeries | None,
    t_arr: NDArray[np.float64],
    v_arr: NDArray[np.float64],
    windows: Sequence[tuple[float, float]],
    *,
    tolerance_s: float = 1.0,
) -> list[list[Weighing]]:
    """Weighings in each window (t0, t1]: each new bag id paired with the net weight in force at its time.

    The bag id drives it: two bags of the same net weight are two weighings although the
    weight node (report-by-exception) sent one value. A weight stamped up to `tolerance_s`
    after the id still belongs to it (PLCs write the two in either order). Without bag ids,
    each weight value is one weighing. The weights of all windows' bags are found in one search.
    """
    if ids is None:
        out = []
        for t0, t1 in windows:
            i, j = np.searchsorted(t_arr, t0, side="right"), np.searchsorted(t_arr, t1, side="right")
            rows = zip(t_arr[i:j].tolist(), v_arr[i:j].tolist(), strict=True)
            out.append([Weighing(t, f"unlabelled@{t:.3f}", kg) for t, kg in rows])
        return out
    bags = [[(t, bag) for t, bag in ids.between(t0, t1) if bag] for t0, t1 in windows]  # "": the id tag cleared
    stamps = np.array([t for lot in bags for t, _ in lot], dtype=float)
    k = (np.searchsorted(t_arr, stamps + tolerance_s, side="right") - 1).tolist()
    kg = v_arr[np.maximum(k, 0)].tolist() if stamps.size and v_arr.size else [0.0] * len(k)
    out, n = [], 0
    for lot in bags:
        found = []
        for t, bag in lot:
            if k[n] >= 0:  # no weight yet: the bag is weighed when its weight arrives
                found.append(Weighing(t, bag, kg[n]))
            n += 1
        out.append(found)
    return out
