"""Conservation per counter stream: the lots plus the mass no lot received equal the counter's rise.

Each counter stream's windows are cut at edges; the ledger remembers, per stream, the last edge a
stored lot's window ended at and the counter's value there. The next lot's window starts from
that value when it starts at that edge, and the counter's rise between two windows (the line
ran with no lot open, a lot edge fell between two notifications of a slow counter) is
*unattributed* mass: counted per stream and reason, shown on the next lot, never dropped.
Because every piece starts from the value the previous piece ended at, the pieces add up to the
counter's rise to the gram whatever the counters' update cycles were estimated as.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.core.totalizer import CounterMass

NO_LOT = "no_lot"  # the counter rose while no lot's window was open
REPORT_FROM_KG = 0.001  # below a gram a gap is rounding, not mass


@dataclass(frozen=True, slots=True)
class Edge:
    """Where a stream's last attributed window ended, and the counter's value (kg) there."""

    t: float
    value: float


class StreamLedger:
    """The edges cut so far and the unattributed mass per (stream, reason), cumulative (kg)."""

    def __init__(
        self, edges: Mapping[str, Edge] | None = None, unattributed: Mapping[tuple[str, str], float] | None = None
    ) -> None:
        self._edges: dict[str, Edge] = dict(edges or {})
        self._unattributed: defaultdict[tuple[str, str], float] = defaultdict(float, unattributed or {})

    @property
    def unattributed_kg(self) -> Mapping[tuple[str, str], float]:
        return dict(self._unattributed)

    def edge(self, stream: str) -> Edge | None:
        return self._edges.get(stream)

    def start_value(self, stream: str, t0: float) -> float | None:
        """The value a window starting at t0 must start from: the previous window's end value, if it ended there."""
        e = self._edges.get(stream)
        return e.value if e is not None and e.t == t0 else None

    def advance(self, stream: str, t1: float, v_end: float) -> None:
        """A stored window ended at t1 with the counter at v_end: the next window starts from there."""
        e = self._edges.get(stream)
        if (e is None or t1 >= e.t) and math.isfinite(v_end):
            self._edges[stream] = Edge(t1, v_end)

    def lose(self, stream: str, kg: float) -> float:
        """The counter rose kg between two stored windows: in no lot. Returns kg."""
        if kg > 0:
            self._unattributed[(stream, NO_LOT)] += kg
        return kg

    def settle(self, stream: str, t: float, gap: CounterMass) -> None:
        """No lot is open: what the counter rose up to t is in no lot (the line ran idle, or stopped)."""
        if gap.mass > 0:
            self._unattributed[(stream, NO_LOT)] += gap.mass
        if math.isfinite(gap.v_end):
            self._edges[stream] = Edge(t, gap.v_end)

    @property
    def earliest_edge(self) -> float:
        """The oldest edge still needed (the samples after it must be kept); inf when none."""
        return min((e.t for e in self._edges.values()), default=math.inf)

    def dump(self) -> dict[str, Any]:
        return {
            "edges": {s: [e.t, e.value] for s, e in self._edges.items()},
            "unattributed": [[s, why, kg] for (s, why), kg in self._unattributed.items()],
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StreamLedger:
        edges = {str(s): Edge(float(t), float(v)) for s, (t, v) in data.get("edges", {}).items()}
        unattributed: defaultdict[tuple[str, str], float] = defaultdict(float)
        for s, why, kg in data.get("unattributed", []):
            unattributed[(str(s), str(why))] += float(kg)
        return cls(edges, unattributed)
