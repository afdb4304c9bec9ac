"""Finalising the lots one poll let go, together: each counter read and cut once for all of them.

A replay's poll lets a hundred lots go at once. Their counters' edges are read in one numpy pass per
counter (`read_edges`: the lot-edge rule and the update-cycle estimate of monitor.core.counter_edges)
and their windows cut in one pass per counter (monitor.core.counter_cuts); each lot is then finalised
as the live path finalises it (monitor.core.finalise), taking those cuts. tests/core/test_batched_finalise.py
checks that this gives the lots that finalising them one by one gives, float for float.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monitor.core.batches import FeedWindow
from monitor.core.counter_cuts import CounterSettings, Cut, cut_windows, read_windows
from monitor.core.engine_state import EngineState
from monitor.core.finalise import ENERGY, EdgeReads, finalise, min_cycle_s, rollover_kg
from monitor.core.results import BatchResult
from monitor.core.spec import SourceKind
from monitor.core.totalizer import read_edges


def read_lot_edges(st: EngineState, windows: Sequence[FeedWindow]) -> EdgeReads:
    """Every counter stream's edges of these lots (at its own delay) read in one pass, under the stream's name
    (two streams may share a tag at different delays); the energy meter's under ENERGY."""
    starts = np.array([w.start for w in windows], dtype=float)
    ends = np.array([w.end for w in windows], dtype=float)
    reads: EdgeReads = {}
    for s in st.spec.streams:
        if s.tag and s.source is SourceKind.TOTALIZER:
            ts, v = st.numeric[s.tag].arrays()
            edges = np.concatenate((starts + s.delay_s, ends + s.delay_s))
            reads[s.name] = read_edges(ts, v, edges, min_cycle_s=min_cycle_s(st, s), scan_s=st.spec.scan_s)
    if st.spec.energy_tag:
        ts, v = st.numeric[st.spec.energy_tag].arrays()
        reads[ENERGY] = read_edges(ts, v, np.concatenate((starts, ends)))
    return reads


def cut_lots(st: EngineState, windows: Sequence[FeedWindow], reads: EdgeReads) -> list[dict[str, Cut]]:
    """Each lot's counter windows cut and entered in the ledger, one pass per counter for all the lots."""
    cuts: list[dict[str, Cut]] = [{} for _ in windows]
    spans: list[tuple[float, float]] = []
    for w in windows:
        assert w.end is not None
        spans.append((w.start, w.end))
    for s in st.spec.streams:
        if not s.tag or s.source is not SourceKind.TOTALIZER or not len(st.numeric[s.tag]):
            continue  # (a counter with no readings yet: lot by lot, as the live path does)
        ts, v = st.numeric[s.tag].arrays()
        how = CounterSettings(rollover_kg(st, s), min_cycle_s(st, s), st.spec.scan_s)
        edges = [(start + s.delay_s, end + s.delay_s) for start, end in spans]
        for k, c in enumerate(cut_windows(st.ledger, s.name, ts, v, edges, reads[s.name], how)):
            cuts[k][s.name] = c
    if st.spec.energy_tag and len(st.numeric[st.spec.energy_tag]):
        ts, v = st.numeric[st.spec.energy_tag].arrays()
        for k, cm in enumerate(read_windows(ts, v, spans, reads[ENERGY])):
            cuts[k][ENERGY] = Cut(cm, 0.0)
    return cuts


def finalise_many(st: EngineState, windows: Sequence[FeedWindow]) -> list[BatchResult]:
    """The results of lots whose windows all closed, in order; the counters' edges of all of them read
    at once and their windows cut in one pass per counter."""
    if not windows:
        return []
    reads = read_lot_edges(st, windows)
    cuts = cut_lots(st, windows, reads)
    return [finalise(st, w, reads, c) for w, c in zip(windows, cuts, strict=True)]
