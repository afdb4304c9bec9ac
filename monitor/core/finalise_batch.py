"""Finalising the lots one poll lets go, together: one pass per stream over all of them.

A replay's poll lets a hundred lots go at once; the live path lets one go, through the same code.
Every counter's edges are read in one numpy pass per counter (`read_edges`: the lot-edge rule and
the update-cycle estimate of monitor.core.counter_edges) and its windows cut in one pass
(monitor.core.counter_cuts); flow windows are integrated and bags paired per stream for all lots
(monitor.core.lot_streams); then each lot's result is put together: the balance, attributes and
the lot's own flags. tests/core/test_batched_finalise.py checks that lots finalised together equal
lots finalised one by one, float for float.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from monitor.core.accounting import closure, stream_yields
from monitor.core.batches import FeedWindow
from monitor.core.counter_cuts import CounterSettings, Cuts, cut_windows, read_windows
from monitor.core.engine_state import EngineState
from monitor.core.finalise import attributes, min_cycle_s, rollover_kg, update_cycle_s
from monitor.core.flow import flow_masses
from monitor.core.lot_flags import lot_flags
from monitor.core.lot_streams import Column, counter_column, flow_column, weighing_columns
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.core.spec import SourceKind
from monitor.core.totalizer import EdgeTable, FloatArray, read_edges

Spans = tuple[FloatArray, FloatArray]  # the lots' feed windows: starts, ends


def read_lot_edges(st: EngineState, spans: Spans) -> dict[str, EdgeTable]:
    """Every counter stream's edges of these lots (at its own delay) read in one pass, under the stream's name
    (two streams may share a tag at different delays)."""
    starts, ends = spans
    reads: dict[str, EdgeTable] = {}
    for s in st.spec.streams:
        if s.tag and s.source is SourceKind.TOTALIZER:
            ts, v = st.numeric[s.tag].arrays()
            edges = np.concatenate((starts + s.delay_s, ends + s.delay_s))
            reads[s.name] = read_edges(ts, v, edges, min_cycle_s=min_cycle_s(st, s), scan_s=st.spec.scan_s)
    return reads


def _unread(n: int) -> Cuts:
    """The windows of a counter with no readings yet: nothing counted, neither edge observed."""
    none = np.zeros(n, dtype=np.intp)
    unseen = np.zeros(n, dtype=bool)
    return Cuts(np.zeros(n), np.zeros(n), none, none, none, unseen, unseen.copy(), np.zeros(n))


def _columns(st: EngineState, windows: Sequence[FeedWindow], spans: Spans) -> dict[str, Column]:
    """Every measured stream's column over the lots, counters cut and entered in the ledger."""
    reads = read_lot_edges(st, spans)
    cols: dict[str, Column] = {}
    t0 = {s.name: spans[0] + s.delay_s for s in st.spec.streams}
    t1 = {s.name: spans[1] + s.delay_s for s in st.spec.streams}
    for s in st.spec.streams:
        if not s.tag or s.source not in (SourceKind.TOTALIZER, SourceKind.FLOW):
            continue
        if s.source is SourceKind.FLOW:
            cols[s.name] = flow_column(st, s, t0[s.name], t1[s.name])
            continue
        ts, v = st.numeric[s.tag].arrays()
        if ts.size:
            how = CounterSettings(rollover_kg(st, s), min_cycle_s(st, s), st.spec.scan_s)
            cuts = cut_windows(st.ledger, s.name, ts, v, (t0[s.name], t1[s.name]), reads[s.name], how)
        else:
            cuts = _unread(len(windows))
        late = np.full(len(windows), math.nan)
        for k in np.flatnonzero(~cuts.end_observed).tolist():
            late[k] = update_cycle_s(st, s, float(t1[s.name][k]))
        cols[s.name] = counter_column(st, s, t0[s.name], t1[s.name], cuts, late)
    weighed = [s for s in st.spec.streams if s.tag and s.source not in (SourceKind.TOTALIZER, SourceKind.FLOW)]
    if weighed:
        cols.update(weighing_columns(st, weighed, [w.batch_id for w in windows], t0, t1))
    return cols


def energy_kwh(st: EngineState, spans: Spans) -> list[float]:
    """kWh the line's meter counted while each lot was fed; NaN without a meter or its readings."""
    tag = st.spec.energy_tag
    n = spans[0].size
    if not tag or not len(st.numeric[tag]):
        return [math.nan] * n
    ts, v = st.numeric[tag].arrays()
    cuts = read_windows(ts, v, spans, read_edges(ts, v, np.concatenate(spans)))  # a kWh meter is a totalizer
    kwh: list[float] = np.where(cuts.start_observed & cuts.end_observed, cuts.mass, math.nan).tolist()
    return kwh


def nitrogen_nm3(st: EngineState, spans: Spans) -> list[float]:
    """Nm3 of N2 the flow meter integrates over each feed window; NaN without the tag or its readings."""
    tag = st.spec.nitrogen_tag
    n = spans[0].size
    if not tag:
        return [math.nan] * n
    ts, v = st.numeric[tag].arrays()
    starts, ends = spans
    fm = flow_masses(ts, v, starts, ends, max_gap_s=st.spec.stale_after_s)  # Nm3/h integrates like kg/h
    out = np.where(fm.covered, fm.mass, math.nan)
    if ts.size:  # report by exception: past the last value it holds, up to the watermark
        for k in np.flatnonzero((ts[-1] < ends) & (ends <= st.watermark)).tolist():
            held_ts, held_v = np.append(ts, ends[k]), np.append(v, v[-1])
            one = flow_masses(held_ts, held_v, starts[k : k + 1], ends[k : k + 1], max_gap_s=st.spec.stale_after_s)
            out[k] = one.mass[0] if one.covered[0] else math.nan
    nm3: list[float] = out.tolist()
    return nm3


def finalise_many(st: EngineState, windows: Sequence[FeedWindow]) -> list[BatchResult]:
    """The results of lots whose windows all closed, in order: each stream in one pass over all of them."""
    if not windows:
        return []
    ends = []
    for w in windows:
        assert w.end is not None
        ends.append(w.end)
    spans = (np.array([w.start for w in windows], dtype=float), np.array(ends, dtype=float))
    cols = _columns(st, windows, spans)
    kwh, n2 = energy_kwh(st, spans), nitrogen_nm3(st, spans)
    tagged = [cols[s.name] for s in st.spec.streams if s.tag]
    rows = [c.rows() for c in tagged]
    said: list[list[str]] = [[] for _ in windows]  # the streams' flags of each lot, in the streams' order
    for c in tagged:
        for k, f in enumerate(c.flags):
            if f:
                said[k] += [f"{c.stream}:{x}" for x in f]
    feed = st.spec.feed.name
    balanced = [s.name for s in st.spec.products if s.source in (SourceKind.UNMEASURED, SourceKind.ESTIMATE)]
    tags = (st.spec.chemistry_tag, st.spec.feed_form_tag, st.spec.supplier_tag)
    named = zip(*(attributes(st, tag, windows) for tag in tags), strict=True)
    out = []
    lots = zip(windows, lot_flags(st, windows), named, strict=True)
    for k, (w, (lot, rejected), attrs) in enumerate(lots):
        streams, flags = [r[k] for r in rows], said[k]
        out.append(_result(st, w, streams, (flags + lot, rejected), (feed, balanced), (kwh[k], n2[k]), attrs))
    return out


def _result(
    st: EngineState,
    w: FeedWindow,
    streams: list[StreamMass],
    said: tuple[list[str], int],
    balance: tuple[str, list[str]],
    meters: tuple[float, float],
    attrs: tuple[str, str, str],
) -> BatchResult:
    """A lot's result from its measured streams: the balance and yields. `said`: its flags and refused
    samples; `balance`: the feed's name and the products estimated from the balance; `meters`: its kWh
    and Nm3 of N2; `attrs`: its chemistry, feed form and supplier."""
    assert w.end is not None
    flags, rejected = said
    feed, balanced = balance
    masses = {sm.stream: sm.mass_kg for sm in streams}
    feed_kg = masses.get(feed, math.nan)
    measured = {k: m for k, m in masses.items() if k != feed}
    for name in balanced:
        est = feed_kg - sum(measured.values())
        streams.append(StreamMass(name, est, "balance", w.start, w.end, 0, ("estimated",)))
        masses[name] = est
    return BatchResult(
        line=st.spec.line,
        batch_id=w.batch_id,
        start=w.start,
        end=w.end,
        state=BatchState.COMPLETE if w.start_observed else BatchState.PARTIAL,
        chemistry=attrs[0],
        feed_form=attrs[1],
        supplier=attrs[2],
        streams=tuple(streams),
        yields=stream_yields({k: m for k, m in masses.items() if k != feed}, feed_kg),
        closure=closure(measured, feed_kg),
        flags=tuple(dict.fromkeys(flags)),
        rejected_samples=rejected,
        energy_kwh=meters[0],
        nitrogen_nm3=meters[1],
    )


def finalise(st: EngineState, w: FeedWindow) -> BatchResult:
    """The result of one lot whose every stream window has closed (the live path: a poll of one lot)."""
    return finalise_many(st, [w])[0]
