"""What finalising a lot asks of the engine's state, stream by stream: a counter's window, wrap and
update cycle, the mass so far of a lot still open, an attribute; what the counters rose with no lot open.

Functions of the engine's state, a value (monitor.core.engine_state.EngineState) the Engine owns and
hands over; they know nothing of the Engine. The lots a poll lets go are finalised together by
monitor.core.finalise_batch, which records in the state what they consumed (the ledger's edges,
plant-scoped bags counted).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monitor.core.batches import FeedWindow
from monitor.core.engine_state import EngineState
from monitor.core.flow import flow_mass
from monitor.core.spec import SourceKind, StreamSpec
from monitor.core.totalizer import CounterMass, EdgeTable, counter_mass, update_cycle
from monitor.core.weighings import bag_weighings, weighed_mass

BAG_ID_TOLERANCE_S = 1.0  # a bag id and its net weight written this far apart still pair up


def open_mass(st: EngineState, s: StreamSpec, start: float, end: float) -> float:
    """A stream's mass so far over the delayed window of a lot still open (nothing entered in the ledger)."""
    assert s.tag is not None
    t0, t1 = start + s.delay_s, end + s.delay_s
    if s.source is SourceKind.TOTALIZER:
        return counter_window(st, s, t0, t1).mass
    ts, v = st.numeric[s.tag].arrays()
    if s.source is SourceKind.FLOW:
        return flow_mass(ts, v, t0, t1, max_gap_s=s.max_gap_s).mass
    counted = st.counted_bags if s.bag_scope == "plant" else frozenset[str]()
    b0, b1 = t0 + st.spec.scan_s, t1 + st.spec.scan_s  # a bag of an edge's own scan is the closing window's
    ids = st.text.get(s.bag_id_tag) if s.bag_id_tag else None
    bags = bag_weighings(ids, ts, v, b0, b1, tolerance_s=BAG_ID_TOLERANCE_S)
    return weighed_mass(bags, b0, b1, already_counted=counted).mass


def counter_window(
    st: EngineState,
    s: StreamSpec,
    t0: float,
    t1: float,
    *,
    start_value: float | None = None,
    end_value: float | None = None,
    reads: EdgeTable | None = None,
) -> CounterMass:
    """A counter stream's mass over (t0, t1) with its wrap and update cycle as the engine knows them."""
    assert s.tag is not None
    ts, v = st.numeric[s.tag].arrays()
    return counter_mass(
        ts,
        v,
        t0,
        t1,
        rollover=rollover_kg(st, s),
        min_cycle_s=min_cycle_s(st, s),
        start_value=start_value,
        end_value=end_value,
        scan_s=st.spec.scan_s,
        reads=reads,
    )


def settle_idle(st: EngineState) -> None:
    """No lot open or waiting: what the counters rose up to now is in no lot (the ledger's gaps)."""
    for s in st.spec.streams:
        edge = st.ledger.edge(s.name) if s.tag and s.source is SourceKind.TOTALIZER else None
        if edge is None:
            continue
        # a lot starting after now opens this stream's window after now + its delay; an increment
        # reported within one update cycle from now may still belong before now
        t = st.watermark - st.settle_s - st.spec.scan_s - update_cycle_s(st, s, st.watermark)
        if t > edge.t:
            st.ledger.settle(s.name, t, counter_window(st, s, edge.t, t, start_value=edge.value))


def rollover_kg(st: EngineState, s: StreamSpec) -> float | None:
    """Where a counter wraps (kg): as configured, else as its node's data type says, else unknown."""
    return s.rollover * s.scale if s.rollover is not None else st.rollover.get(s.tag or "")


def min_cycle_s(st: EngineState, s: StreamSpec) -> float:
    return max(s.min_cycle_s, st.min_cycle.get(s.tag or "", 0.0))


def update_cycle_s(st: EngineState, s: StreamSpec, t: float) -> float:
    """How long after t an increment cut by t can still be reported (the counter's update cycle)."""
    if s.source is not SourceKind.TOTALIZER or s.tag is None:
        return 0.0
    ts, v = st.numeric[s.tag].arrays()
    return max(update_cycle(ts, v, int(np.searchsorted(ts, t))), min_cycle_s(st, s))


def attribute(st: EngineState, tag: str | None, w: FeedWindow) -> str:
    """An attribute of a lot: the value in force shortly after its start (PLCs write it after the id)."""
    return attributes(st, tag, [w])[0]


def attributes(st: EngineState, tag: str | None, windows: Sequence[FeedWindow]) -> list[str]:
    """An attribute of each lot (`attribute`), for many lots."""
    if not tag or tag not in st.text:
        return [""] * len(windows)
    text, settle = st.text[tag], st.spec.attributes_settle_s
    out = []
    for w in windows:
        t = w.start + (settle if w.end is None else min(settle, 0.5 * (w.end - w.start)))
        out.append(text.at(t) or text.exact(t, 1.0) or "")
    return out
