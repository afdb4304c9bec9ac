"""Finalising a lot: stream masses by source (totalizer, flow, weighings), the balance, attributes, flags.

Functions of the engine's state, a value (monitor.core.engine_state.EngineState) the Engine owns and
hands over: they read its buffers and record in it what a stored lot consumed (the ledger's edges,
plant-scoped bags counted). They know nothing of the Engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from monitor.core.accounting import closure, stream_yields
from monitor.core.batches import FeedWindow
from monitor.core.counter_cuts import Cut
from monitor.core.engine_state import EngineState
from monitor.core.flow import flow_mass
from monitor.core.ledger import REPORT_FROM_KG
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.core.spec import SourceKind, StreamSpec
from monitor.core.totalizer import CounterMass, EdgeRead, counter_mass, update_cycle
from monitor.core.weighings import Weighing, bag_weighings, weighed_mass

BAG_ID_TOLERANCE_S = 1.0  # a bag id and its net weight written this far apart still pair up
FINALISED_KEPT = 50  # batches whose bags are remembered in case the lot is fed again
EdgeReads = dict[str, dict[float, EdgeRead]]  # counter stream -> edge time (its own delay) -> the counter read there
ENERGY = ""  # the energy meter's reads and cuts, keyed so (no stream's name or tag is empty): no ramp floor, no scan


def stream_mass(
    st: EngineState,
    s: StreamSpec,
    start: float,
    end: float,
    *,
    cut: bool = False,
    reads: EdgeReads | None = None,
    done: Cut | None = None,
) -> tuple[StreamMass, list[str]]:
    """One stream's mass over its delayed window, by how it is measured, with its flags.

    `cut`: the lot is being stored, so a counter's window is entered in the engine's ledger (it
    starts where the previous stored window ended, and the rise between them is unattributed).
    `reads`: the counters' edges read already (`read_lot_edges`); `done`: this counter window cut and
    entered in the ledger already, with the poll's other lots (`cut_lots`).
    """
    assert s.tag is not None
    t0, t1 = start + s.delay_s, end + s.delay_s
    ts, v = st.numeric[s.tag].arrays()
    flags: list[str] = []
    items: tuple[tuple[str, float], ...] = ()
    boundary = unattributed = 0.0
    edges = reads.get(s.name) if reads else None
    if s.source is SourceKind.TOTALIZER:
        if done is not None:
            cm, unattributed = done.window, done.unattributed
        else:
            start_value = st.ledger.start_value(s.name, t0) if cut else None
            cm = counter_window(st, s, t0, t1, start_value=start_value, reads=edges)
            if cut:
                unattributed = _enter_in_ledger(st, s, cm, t0, t1, edges)
        mass, boundary = cm.mass, cm.boundary
        flags += ["boundary_split"] * (boundary > 0)
        flags += ["reset"] * bool(cm.resets) + ["rollover"] * bool(cm.rollovers)
        flags += ["counter_anomaly"] * bool(cm.anomalies)
        flags += ["mass_unattributed_before"] * (unattributed >= REPORT_FROM_KG)
        if not cm.start_observed:
            flags.append("start_not_observed")
        # report-by-exception: no reading after the edge is normal; the server's clock vouches it held
        if not cm.end_observed and st.vouched < t1 + update_cycle_s(st, s, t1):
            flags.append("end_not_observed")
    elif s.source is SourceKind.FLOW:
        fm = flow_mass(ts, v, t0, t1, max_gap_s=s.max_gap_s)
        mass = fm.mass
        flags += ["estimated"] * bool(fm.gaps) + ["window_not_covered"] * (not fm.covered)
    else:
        counted = st.counted_bags if s.bag_scope == "plant" else frozenset[str]()
        b0, b1 = t0 + st.spec.scan_s, t1 + st.spec.scan_s  # a bag of an edge's own scan is the closing window's
        wm = weighed_mass(weighings(st, s, b0, b1), b0, b1, already_counted=counted)
        mass, items = wm.mass, wm.items
        flags += ["duplicate_bags"] * bool(wm.duplicates)
    a, b = (edges.get(t0), edges.get(t1)) if edges else (None, None)
    lo, hi = (a.left, b.left) if a is not None and b is not None else ts.searchsorted((t0, t1), side="left").tolist()
    n = hi - lo  # t0 <= ts < t1
    sm = StreamMass(s.name, mass, s.source.value, t0, t1, n, tuple(flags), items, boundary, unattributed)
    return sm, flags


def counter_window(
    st: EngineState,
    s: StreamSpec,
    t0: float,
    t1: float,
    *,
    start_value: float | None = None,
    end_value: float | None = None,
    reads: Mapping[float, EdgeRead] | None = None,
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


def _enter_in_ledger(
    st: EngineState, s: StreamSpec, cm: CounterMass, t0: float, t1: float, reads: Mapping[float, EdgeRead] | None
) -> float:
    """Record a stored counter window; the kg the counter rose since the previous stored window."""
    edge = st.ledger.edge(s.name)
    gap = None
    if edge is not None and edge.t < t0:
        gap = counter_window(st, s, edge.t, t0, start_value=edge.value, end_value=cm.v_start, reads=reads)
    return st.ledger.record(s.name, cm, t1, gap)


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


def weighings(st: EngineState, s: StreamSpec, t0: float, t1: float) -> list[Weighing]:
    """The bags weighed in (t0, t1]: each new bag id paired with the net weight in force."""
    assert s.tag is not None
    ids = st.text.get(s.bag_id_tag) if s.bag_id_tag else None
    t_arr, v_arr = st.numeric[s.tag].arrays()
    return bag_weighings(ids, t_arr, v_arr, t0, t1, tolerance_s=BAG_ID_TOLERANCE_S)


def attribute(st: EngineState, tag: str | None, w: FeedWindow) -> str:
    """An attribute of a lot: the value in force shortly after its start (PLCs write it after the id)."""
    if not tag or tag not in st.text:
        return ""
    settle = st.spec.attributes_settle_s
    if w.end is not None:
        settle = min(settle, 0.5 * (w.end - w.start))
    t = w.start + settle
    return st.text[tag].at(t) or st.text[tag].exact(t, 1.0) or ""


def finalise(  # noqa: PLR0912 - one flag per lot condition, in the order they are reported
    st: EngineState, w: FeedWindow, reads: EdgeReads | None = None, cuts: Mapping[str, Cut] | None = None
) -> BatchResult:
    """The result of a lot whose every stream window has closed: masses, balance, yields and flags."""
    assert w.end is not None
    streams: list[StreamMass] = []
    flags: list[str] = []
    for s in st.spec.streams:
        if not s.tag:
            continue
        sm, sflags = stream_mass(st, s, w.start, w.end, cut=True, reads=reads, done=cuts.get(s.name) if cuts else None)
        streams.append(sm)
        flags += [f"{s.name}:{f}" for f in sflags]
        if s.bag_scope == "plant" and sm.items:
            for bag, _ in sm.items:
                st.counted_bags.add(bag)
            st.bags_of[w.batch_id] = (*st.bags_of.get(w.batch_id, ()), *(b for b, _ in sm.items))
            while len(st.bags_of) > FINALISED_KEPT:
                del st.bags_of[next(iter(st.bags_of))]
    masses = {sm.stream: sm.mass_kg for sm in streams}
    feed_kg = masses.get(st.spec.feed.name, math.nan)
    measured = {k: m for k, m in masses.items() if k != st.spec.feed.name}
    for s in st.spec.products:
        if s.source in (SourceKind.UNMEASURED, SourceKind.ESTIMATE):
            est = feed_kg - sum(measured.values())
            streams.append(StreamMass(s.name, est, "balance", w.start, w.end, 0, ("estimated",)))
            masses[s.name] = est
    yields = stream_yields({k: m for k, m in masses.items() if k != st.spec.feed.name}, feed_kg)
    if not w.start_observed:
        flags.append("start_not_observed")
    if w.abandoned:
        flags.append("abandoned")
    if w.resumed:
        flags.append("resumed")
    horizon = w.end + st.max_delay
    for g0, g1, recovered in st.gaps:
        if g0 < horizon and g1 > w.start:
            flags.append("collector_gap_backfilled" if recovered else "collector_gap")
    if st.vouched >= horizon > st.server_vouched and st.watermark < horizon + st.spec.stale_after_s:
        flags.append("closed_on_our_clock")  # the server's clock stood still: ours vouched the lot's end
    if st.resumed_at is not None and w.start < st.resumed_at < horizon:
        flags.append("resumed_from_checkpoint")
    rejected = sum(1 for ts, _ in st.rejects if w.start <= ts <= horizon)
    if rejected:
        flags.append("rejected_samples")
    retimed = {tag for ts, tag in st.retimed if w.start <= ts <= horizon}
    if retimed:  # values stood in at the server's or our receive time: said per stream, and once for the lot
        flags.append("timestamps_replaced")
        flags += [f"{s.name}:timestamp_replaced" for s in st.spec.streams if {s.tag, s.bag_id_tag} & retimed]
    return BatchResult(
        line=st.spec.line,
        batch_id=w.batch_id,
        start=w.start,
        end=w.end,
        state=BatchState.COMPLETE if w.start_observed else BatchState.PARTIAL,
        chemistry=attribute(st, st.spec.chemistry_tag, w),
        feed_form=attribute(st, st.spec.feed_form_tag, w),
        supplier=attribute(st, st.spec.supplier_tag, w),
        streams=tuple(streams),
        yields=yields,
        closure=closure(measured, feed_kg),
        flags=tuple(dict.fromkeys(flags)),
        rejected_samples=rejected,
        energy_kwh=energy_kwh(st, w.start, w.end, cuts.get(ENERGY) if cuts else None),
        nitrogen_nm3=nitrogen_nm3(st, w.start, w.end),
    )


def energy_kwh(st: EngineState, start: float, end: float, done: Cut | None = None) -> float:
    """kWh the line's meter counted while the batch was fed; NaN without a meter or its readings.
    `done`: the window cut already, with the poll's other lots (`cut_lots`)."""
    tag = st.spec.energy_tag
    if not tag:
        return math.nan
    ts, v = st.numeric[tag].arrays()
    cm = done.window if done is not None else counter_mass(ts, v, start, end)  # a kWh meter is a totalizer
    return cm.mass if cm.start_observed and cm.end_observed else math.nan


def nitrogen_nm3(st: EngineState, start: float, end: float) -> float:
    """Nm3 of N2 the flow meter integrates over the feed window; NaN without the tag or its readings."""
    tag = st.spec.nitrogen_tag
    if not tag:
        return math.nan
    ts, v = st.numeric[tag].arrays()
    if ts.size and ts[-1] < end <= st.watermark:  # report by exception: the last value holds
        ts, v = np.append(ts, end), np.append(v, v[-1])
    fm = flow_mass(ts, v, start, end, max_gap_s=st.spec.stale_after_s)  # Nm3/h integrates like kg/h
    return fm.mass if fm.covered else math.nan
