"""Each measured stream's masses and flags over the lots one poll finalises, one pass per stream.

A stream is a column over the lots: its counter windows cut together (monitor.core.counter_cuts),
its flow windows integrated together (monitor.core.flow.flow_masses), its bags paired with their
weights in one search (monitor.core.weighings.bag_weighings_many). The live path finalises one lot
through the same functions. The flags a stream raises are said here, once for every source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.core.counter_cuts import Cuts
from monitor.core.engine_state import EngineState
from monitor.core.finalise import BAG_ID_TOLERANCE_S
from monitor.core.flow import flow_masses
from monitor.core.frozen import maker
from monitor.core.ledger import REPORT_FROM_KG
from monitor.core.results import StreamMass
from monitor.core.spec import StreamSpec
from monitor.core.totalizer import FloatArray
from monitor.core.weighings import bag_weighings_many, weighed_mass

_STREAM_MASS = maker(StreamMass)  # StreamMass(*every field, in field order), 35,000 a year (frozen.py)
FINALISED_KEPT = 50  # batches whose bags are remembered in case the lot is fed again
Items = tuple[tuple[str, float], ...]  # weighings: (bag id, net kg) counted


@dataclass(frozen=True, slots=True)
class Column:
    """One stream over a poll's lots (one entry a lot): its window, mass, readings inside, flags."""

    stream: str
    source: str
    t0: list[float]
    t1: list[float]
    mass: list[float]
    samples: list[int]
    flags: list[tuple[str, ...]]
    items: list[Items]
    boundary: list[float]
    unattributed: list[float]

    def rows(self) -> list[StreamMass]:
        """Each lot's entry, as the lot's result holds it."""
        name, source = self.stream, self.source
        cols = (self.mass, self.t0, self.t1, self.samples, self.flags, self.items, self.boundary, self.unattributed)
        return [_STREAM_MASS(name, m, source, *rest) for m, *rest in zip(*cols, strict=True)]


def _column(
    st: EngineState,
    s: StreamSpec,
    windows: tuple[FloatArray, FloatArray],
    mass: list[float],
    flags: list[tuple[str, ...]],
    *,
    items: list[Items] | None = None,
    cut: tuple[list[float], list[float]] | None = None,
) -> Column:
    """A stream's column; `items`: the bags of each lot (weighings), `cut`: boundary and unattributed kg (counters)."""
    t0, t1 = windows
    n = t0.size
    boundary, unattributed = cut if cut is not None else ([0.0] * n, [0.0] * n)
    none: Items = ()
    found = items if items is not None else [none] * n
    return Column(
        s.name,
        s.source.value,
        t0.tolist(),
        t1.tolist(),
        mass,
        _samples(st, s, t0, t1),
        flags,
        found,
        boundary,
        unattributed,
    )


def _samples(st: EngineState, s: StreamSpec, t0: FloatArray, t1: FloatArray) -> list[int]:
    """Readings of the stream's tag with t0 <= ts < t1, per window."""
    assert s.tag is not None
    ts = st.numeric[s.tag].arrays()[0]
    n: list[int] = (ts.searchsorted(t1, side="left") - ts.searchsorted(t0, side="left")).tolist()
    return n


def counter_column(
    st: EngineState, s: StreamSpec, t0: FloatArray, t1: FloatArray, cuts: Cuts, end_cycle_s: FloatArray
) -> Column:
    """A counter stream: its windows as cut and entered in the ledger. `end_cycle_s`: the counter's
    update cycle past each window's end, asked only where the end was not observed (nan elsewhere)."""
    n = t0.size
    flags: list[tuple[str, ...]] = [()] * n
    end_late = ~cuts.end_observed & (st.vouched < t1 + end_cycle_s)  # report-by-exception: it held
    unattributed = cuts.unattributed.tolist()
    odd = (
        (cuts.boundary > 0)
        | (cuts.resets > 0)
        | (cuts.rollovers > 0)
        | (cuts.anomalies > 0)
        | (cuts.unattributed >= REPORT_FROM_KG)
        | ~cuts.start_observed
        | end_late
    )
    for k in np.flatnonzero(odd).tolist():
        f = ["boundary_split"] * bool(cuts.boundary[k] > 0)
        f += ["reset"] * bool(cuts.resets[k]) + ["rollover"] * bool(cuts.rollovers[k])
        f += ["counter_anomaly"] * bool(cuts.anomalies[k])
        f += ["mass_unattributed_before"] * (unattributed[k] >= REPORT_FROM_KG)
        f += ["start_not_observed"] * (not cuts.start_observed[k])
        f += ["end_not_observed"] * bool(end_late[k])
        flags[k] = tuple(f)
    return _column(st, s, (t0, t1), cuts.mass.tolist(), flags, cut=(cuts.boundary.tolist(), unattributed))


def flow_column(st: EngineState, s: StreamSpec, t0: FloatArray, t1: FloatArray) -> Column:
    """A flow meter's stream: its rate integrated over each window."""
    assert s.tag is not None
    ts, v = st.numeric[s.tag].arrays()
    fm = flow_masses(ts, v, t0, t1, max_gap_s=s.max_gap_s)
    flags = [
        ("estimated",) * bool(g) + ("window_not_covered",) * (not c)
        for g, c in zip(fm.gaps.tolist(), fm.covered.tolist(), strict=True)
    ]
    return _column(st, s, (t0, t1), fm.mass.tolist(), flags)


def weighing_columns(
    st: EngineState,
    streams: list[StreamSpec],
    batch_ids: list[str],
    t0: dict[str, FloatArray],
    t1: dict[str, FloatArray],
) -> dict[str, Column]:
    """The weighing streams: each lot's bags, lot by lot (a plant-scoped bag counts once ever, in the
    first lot and stream that weighed it); bags paired with their weights in one search per stream."""
    found = {}
    for s in streams:
        assert s.tag is not None
        ids = st.text.get(s.bag_id_tag) if s.bag_id_tag else None
        t_arr, v_arr = st.numeric[s.tag].arrays()
        spans = list(zip((t0[s.name] + st.spec.scan_s).tolist(), (t1[s.name] + st.spec.scan_s).tolist(), strict=True))
        found[s.name] = (spans, bag_weighings_many(ids, t_arr, v_arr, spans, tolerance_s=BAG_ID_TOLERANCE_S))
    mass: dict[str, list[float]] = {s.name: [] for s in streams}
    flags: dict[str, list[tuple[str, ...]]] = {s.name: [] for s in streams}
    items: dict[str, list[Items]] = {s.name: [] for s in streams}
    none = frozenset[str]()
    each = [(s.name, s.bag_scope == "plant", *found[s.name]) for s in streams]
    for k, batch_id in enumerate(batch_ids):
        for name, plant, spans, bags in each:
            b0, b1 = spans[k]  # a bag of an edge's own scan is the closing window's
            wm = weighed_mass(bags[k], b0, b1, already_counted=st.counted_bags if plant else none)
            mass[name].append(wm.mass)
            flags[name].append(("duplicate_bags",) * bool(wm.duplicates))
            items[name].append(wm.items)
            if plant and wm.items:
                count_bags(st, batch_id, wm.items)
    return {
        s.name: _column(st, s, (t0[s.name], t1[s.name]), mass[s.name], flags[s.name], items=items[s.name])
        for s in streams
    }


def count_bags(st: EngineState, batch_id: str, items: Items) -> None:
    """Plant-scoped bags a stored lot counted: never counted again, unless the lot is fed again."""
    for bag, _ in items:
        st.counted_bags.add(bag)
    st.bags_of[batch_id] = (*st.bags_of.get(batch_id, ()), *(b for b, _ in items))
    while len(st.bags_of) > FINALISED_KEPT:
        del st.bags_of[next(iter(st.bags_of))]
