"""A lot's page, as values: its report row, streams, recoveries, bags and what each stored version
changed from the one before. Pure functions over rows and results; the handler reads the store."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.assays import Assay
from monitor.core.results import BatchResult
from monitor.reports.frames import batch_row, human_row
from monitor.store.rows import iso

Z95 = 1.959964  # two-sided 95 % of the normal distribution
# what a version diff never shows: identity, and the time the version itself was recorded
_NOT_DIFFED = frozenset({"batch_id", "line", "version"})


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    before: object
    after: object


@dataclass(frozen=True, slots=True)
class VersionView:
    version: int
    reason: str
    recorded_at: str
    changes: tuple[Change, ...]  # empty for the first version


@dataclass(frozen=True, slots=True)
class BagView:
    bag_id: str
    net_kg: float
    assays: tuple[Assay, ...]


def known(x: object) -> float | None:
    """A finite number, else None (unknown is never shown as 0)."""
    if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x):
        return float(x)
    return None


def interval(value: object, sd: object) -> tuple[float, float] | None:
    """The 95 % interval value ± 1.96 σ, or None without both."""
    v, s = known(value), known(sd)
    return None if v is None or s is None else (v - Z95 * s, v + Z95 * s)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    """The fields of two report rows (human precision) that moved, in the row's column order."""
    out = []
    for key, new in after.items():
        old = before.get(key)
        if key in _NOT_DIFFED or _same(old, new):
            continue
        out.append(Change(key, old, new))
    return tuple(out)


def versions(history: Sequence[tuple[BatchResult, str, float]]) -> list[VersionView]:
    """Every stored version, newest first, each with what changed from the version before it."""
    rows = [human_row(batch_row(r)) for r, _, _ in history]
    out = []
    for i, (r, reason, when) in enumerate(history):
        changes = diff(rows[i - 1], rows[i]) if i else ()
        out.append(VersionView(r.version, reason, iso(when), changes))
    return out[::-1]


def bags(result: BatchResult, assays: Sequence[Assay]) -> list[BagView]:
    """The lot's black-mass bags in weighing order, each with the assays taken from it."""
    by_bag: dict[str, list[Assay]] = {}
    for a in assays:
        if a.bag_id:
            by_bag.setdefault(a.bag_id, []).append(a)
    return [BagView(b, kg, tuple(by_bag.get(b, ()))) for b, kg in result.bags.items()]


def time_range_ms(result: BatchResult, margin_s: float = 600.0) -> tuple[int, int]:
    """The lot's window with a margin each side, in Grafana's milliseconds."""
    return int((result.start - margin_s) * 1000), int((result.end + margin_s) * 1000)
