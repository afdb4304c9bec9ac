"""The lot windows of one counter stream that a poll stores, cut in one pass (replay's batched path).

Lot by lot, finalisation cuts each window with `counter_mass` and enters it in the ledger (it starts
where the previous stored window ended; the rise between them is unattributed). Here the same is
done for all of a poll's lots at once: the ledger is walked in order (it says where each window
starts and which gap precedes it), then the masses of every window and gap whose counter only rose
are found with numpy in one pass, and `counter_mass` takes the few with a drop (a reset, a wrap, an
anomaly). The edges were read before (`read_edges`), so both paths cut at the same values;
tests/core/test_batched_finalise.py checks they give the same lots, float for float.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from monitor.core.ledger import StreamLedger
from monitor.core.totalizer import CounterMass, EdgeRead, FloatArray, counter_mass


@dataclass(frozen=True, slots=True)
class Cut:
    """A stored counter window and the kg the counter rose since the previous stored window."""

    window: CounterMass
    unattributed: float


@dataclass(frozen=True, slots=True)
class CounterSettings:
    """How a counter stream's windows are read (as `counter_mass` takes them)."""

    rollover: float | None
    min_cycle_s: float
    scan_s: float


def cut_windows(
    ledger: StreamLedger,
    stream: str,
    ts: FloatArray,
    values: FloatArray,
    windows: Sequence[tuple[float, float]],
    reads: Mapping[float, EdgeRead],
    how: CounterSettings,
) -> list[Cut]:
    """Windows (t0, t1) of one stream, in order, entered in the ledger; `reads` holds every t0 and t1."""
    starts: list[tuple[float, bool, float | None]] = []  # (value, observed, the ledger's value if it gave it)
    gaps: list[tuple[float, float] | None] = []  # (t, value) of the edge a gap starts from
    for t0, t1 in windows:
        given = ledger.start_value(stream, t0)
        a = reads[t0]
        starts.append((given, True, given) if given is not None else (a.value, a.observed, None))
        edge = ledger.edge(stream)
        gaps.append((edge.t, edge.value) if edge is not None and edge.t < t0 else None)
        ledger.advance(stream, t1, reads[t1].value)  # the window ends at the value read at t1, as cut below
    t0s = np.array([t0 for t0, _ in windows])
    t1s = np.array([t1 for _, t1 in windows])
    v0s = np.array([v for v, _, _ in starts])
    v1s = np.array([reads[t1].value for _, t1 in windows])
    mass, boundary, rose = window_masses(ts, values, t0s, t1s, v0s, v1s, how.scan_s)
    at = [k for k, g in enumerate(gaps) if g is not None]
    g_t0 = np.array([gaps[k][0] for k in at])  # type: ignore[index]
    g_v0 = np.array([gaps[k][1] for k in at])  # type: ignore[index]
    g_mass, _, g_rose = window_masses(ts, values, g_t0, t0s[at], g_v0, v0s[at], how.scan_s)
    gap_kg = dict(zip(at, zip(g_mass.tolist(), g_rose.tolist(), strict=True), strict=True))
    out = []
    rows = zip(windows, starts, mass.tolist(), boundary.tolist(), rose.tolist(), strict=True)
    for k, ((t0, t1), (v0, ok0, given), kg, cut_kg, simple) in enumerate(rows):
        b = reads[t1]
        if simple:
            cm = CounterMass(
                kg, start_observed=ok0, end_observed=b.observed, boundary=cut_kg, v_start=v0, v_end=b.value
            )
        else:
            cm = _one(ts, values, t0, t1, how, given, None, reads)
        lost = 0.0
        if k in gap_kg:
            lost, simple_gap = gap_kg[k]
            if not simple_gap:
                edge_t, edge_v = gaps[k]  # type: ignore[misc]
                lost = _one(ts, values, edge_t, t0, how, edge_v, v0, reads).mass
        out.append(Cut(cm, ledger.lose(stream, lost)))
    return out


def read_windows(
    ts: FloatArray, values: FloatArray, windows: Sequence[tuple[float, float]], reads: Mapping[float, EdgeRead]
) -> list[CounterMass]:
    """Windows (t0, t1) of a counter that keeps no ledger (the energy meter), cut as `counter_mass` cuts each."""
    how = CounterSettings(None, 0.0, 0.0)
    t0s, t1s = np.array([t0 for t0, _ in windows]), np.array([t1 for _, t1 in windows])
    v0s, v1s = np.array([reads[t].value for t, _ in windows]), np.array([reads[t].value for _, t in windows])
    mass, boundary, rose = window_masses(ts, values, t0s, t1s, v0s, v1s, how.scan_s)
    out = []
    for (t0, t1), kg, cut_kg, simple in zip(windows, mass.tolist(), boundary.tolist(), rose.tolist(), strict=True):
        a, b = reads[t0], reads[t1]
        if simple:
            out.append(
                CounterMass(
                    kg,
                    start_observed=a.observed,
                    end_observed=b.observed,
                    boundary=cut_kg,
                    v_start=a.value,
                    v_end=b.value,
                )
            )
        else:
            out.append(_one(ts, values, t0, t1, how, None, None, reads))
    return out


def _one(
    ts: FloatArray,
    values: FloatArray,
    t0: float,
    t1: float,
    how: CounterSettings,
    start: float | None,
    end: float | None,
    reads: Mapping[float, EdgeRead],
) -> CounterMass:
    return counter_mass(
        ts,
        values,
        t0,
        t1,
        rollover=how.rollover,
        min_cycle_s=how.min_cycle_s,
        start_value=start,
        end_value=end,
        scan_s=how.scan_s,
        reads=reads,
    )


def window_masses(
    ts: FloatArray, values: FloatArray, t0: FloatArray, t1: FloatArray, v0: FloatArray, v1: FloatArray, scan_s: float
) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """`counter_mass` of windows whose edge values are known, for all at once: (mass, boundary, rose).

    Right only where `rose` (the counter never dropped from v0 through the readings inside to v1):
    the others go through counter_mass, which knows resets, wraps and anomalies.
    """
    n = ts.size
    if t0.size == 0 or n == 0:
        return np.zeros(t0.size), np.zeros(t0.size), np.zeros(t0.size, dtype=bool)
    i, j = ts.searchsorted(t0, side="left"), ts.searchsorted(t1, side="left")  # t0 <= ts < t1
    last = np.clip(j - 1, 0, n - 1)
    j = j - ((j > i) & (v1 < values[last]) & (t1 - ts[last] <= scan_s))  # a step of the end edge's own scan
    boundary = _split_parts(ts, values, t0, v0, ts.searchsorted(t0, side="right"), end=False) + _split_parts(
        ts, values, t1, v1, ts.searchsorted(t1, side="right"), end=True
    )
    drops = np.concatenate(([0], np.cumsum(values[1:] < values[:-1])))  # drops among readings before each
    first, last = np.clip(i, 0, n - 1), np.clip(j - 1, 0, n - 1)
    inner = ~((values[first] < v0) | (v1 < values[last]) | (drops[last] != drops[first]))
    rose = np.where(j <= i, ~(v1 < v0), inner)
    d = v1 - v0
    return np.where(d < 0.0, 0.0, d), boundary, rose


def _split_parts(
    ts: FloatArray, values: FloatArray, t: FloatArray, v_at: FloatArray, i: np.ndarray, *, end: bool
) -> FloatArray:
    """`totalizer._split_part` for many edges: the part of an increment cut by each edge inside the window."""
    n = ts.size
    if n < 2:  # noqa: PLR2004 - an increment needs two readings
        return np.zeros(t.size)
    p = np.clip(i, 1, n - 1)
    a, b = values[p - 1], values[p]
    cut = (i > 0) & (i < n) & (ts[p - 1] != t) & (a < v_at) & (v_at < b)
    return np.where(cut, v_at - a if end else b - v_at, 0.0)
