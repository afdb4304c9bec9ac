"""The lot windows of one counter stream that a poll stores, cut in one pass (the live path: one window).

Each window is entered in the ledger: it starts where the previous stored window ended, and the rise
between them is unattributed. The ledger is walked in order (it says where each window starts and
which gap precedes it: in numpy when the windows come in order, in Python otherwise), then the
masses of every window and gap whose counter only rose are found with numpy in one pass, and
`counter_mass` takes the few with a drop (a reset, a wrap, an anomaly). The edges were read before
(`read_edges`). tests/core/test_finalise_columns.py checks the cuts against `counter_mass` and the
ledger lot by lot, float for float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.core.ledger import StreamLedger
from monitor.core.totalizer import CounterMass, EdgeTable, FloatArray, counter_mass

IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Cuts:
    """Counter windows of many lots as columns (one row a lot): what `counter_mass` gives for each,
    and the kg the counter rose since the previous stored window (0 where none was stored)."""

    mass: FloatArray
    boundary: FloatArray
    resets: IntArray
    rollovers: IntArray
    anomalies: IntArray
    start_observed: BoolArray
    end_observed: BoolArray
    unattributed: FloatArray

    def __len__(self) -> int:
        return int(self.mass.size)

    def row(self, k: int) -> CounterMass:
        """Row k as a CounterMass (its edge values left out)."""
        return CounterMass(
            float(self.mass[k]),
            int(self.resets[k]),
            int(self.rollovers[k]),
            int(self.anomalies[k]),
            bool(self.start_observed[k]),
            bool(self.end_observed[k]),
            float(self.boundary[k]),
        )


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
    windows: tuple[FloatArray, FloatArray],
    reads: EdgeTable,
    how: CounterSettings,
) -> Cuts:
    """Windows (t0, t1) of one stream, in order, entered in the ledger; `reads` holds every t0 and t1."""
    t0s, t1s = windows
    a, b = reads.index(t0s), reads.index(t1s)
    v1s = reads.value[b]
    prev_t, prev_v = _walk(ledger, stream, t1s, v1s)  # the ledger's edge before each window
    given = prev_t == t0s  # the window starts where the previous stored one ended, at its value
    v0s = np.where(given, prev_v, reads.value[a])
    drops = np.flatnonzero(values[1:] < values[:-1]) + 1  # readings below the one before them
    cuts = _cut(ts, values, (t0s, t1s, v0s, v1s), reads, how, given, (a, b, drops))
    cuts.start_observed[given] = True
    cuts.start_observed[~given] = reads.observed[a][~given]
    at = np.flatnonzero(prev_t < t0s)  # a gap since the previous stored window: in no lot
    g_mass, _, g_rose = window_masses(ts, values, prev_t[at], t0s[at], prev_v[at], v0s[at], how.scan_s, drops=drops)
    for n in np.flatnonzero(~g_rose).tolist():
        k = int(at[n])
        g_mass[n] = _one(ts, values, float(prev_t[k]), float(t0s[k]), how, float(prev_v[k]), float(v0s[k]), reads).mass
    cuts.unattributed[at] = g_mass
    for kg in g_mass.tolist():
        ledger.lose(stream, kg)  # in lot order: the ledger's sum adds them as lot by lot
    return cuts


def _walk(ledger: StreamLedger, stream: str, t1s: FloatArray, v1s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(t, value) of the ledger's edge before each window as the windows are entered in turn (nan: none);
    each window ends at the value read at its t1, as it is cut."""
    e = ledger.edge(stream)
    t, v = (e.t, e.value) if e is not None else (math.nan, math.nan)
    if t1s.size == 0:
        return np.zeros(0), np.zeros(0)
    ordered = not (t1s[1:] < t1s[:-1]).any() and not t1s[0] < t  # every window advances the edge
    if ordered and np.isfinite(v1s).all():
        ledger.advance(stream, float(t1s[-1]), float(v1s[-1]))
        return np.concatenate(([t], t1s[:-1])), np.concatenate(([v], v1s[:-1]))
    prev_t, prev_v = np.empty(t1s.size), np.empty(t1s.size)
    for k, (t1, v1) in enumerate(zip(t1s.tolist(), v1s.tolist(), strict=True)):
        e = ledger.edge(stream)
        prev_t[k], prev_v[k] = (e.t, e.value) if e is not None else (math.nan, math.nan)
        ledger.advance(stream, t1, v1)
    return prev_t, prev_v


def read_windows(ts: FloatArray, values: FloatArray, windows: tuple[FloatArray, FloatArray], reads: EdgeTable) -> Cuts:
    """Windows (t0, t1) of a counter that keeps no ledger (the energy meter), cut as `counter_mass` cuts each."""
    t0s, t1s = windows
    a, b = reads.index(t0s), reads.index(t1s)
    edges = (t0s, t1s, reads.value[a], reads.value[b])
    cuts = _cut(ts, values, edges, reads, CounterSettings(None, 0.0, 0.0), None, (a, b, None))
    cuts.start_observed[:] = reads.observed[a]
    return cuts


def _cut(
    ts: FloatArray,
    values: FloatArray,
    edges: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    reads: EdgeTable,
    how: CounterSettings,
    given: BoolArray | None,
    rows: tuple[IntArray, IntArray, IntArray | None],
) -> Cuts:
    """Windows whose edge values are known: numpy where the counter only rose, `counter_mass` for the rest.
    `rows`: each window's edges' rows in `reads`, and the counter's drops when known."""
    t0s, t1s, v0s, v1s = edges
    a, b, drops = rows
    found = (reads.left[a], reads.left[b], reads.right[a], reads.right[b])
    mass, boundary, rose = window_masses(ts, values, t0s, t1s, v0s, v1s, how.scan_s, found=found, drops=drops)
    n = t0s.size
    ints = [np.zeros(n, dtype=np.intp) for _ in range(3)]
    start_ok, end_ok = np.empty(n, dtype=bool), reads.observed[b]
    for k in np.flatnonzero(~rose).tolist():
        start = float(v0s[k]) if given is not None and given[k] else None
        cm = _one(ts, values, float(t0s[k]), float(t1s[k]), how, start, None, reads)
        mass[k], boundary[k] = cm.mass, cm.boundary
        ints[0][k], ints[1][k], ints[2][k] = cm.resets, cm.rollovers, cm.anomalies
    return Cuts(mass, boundary, ints[0], ints[1], ints[2], start_ok, end_ok, np.zeros(n))


def _one(
    ts: FloatArray,
    values: FloatArray,
    t0: float,
    t1: float,
    how: CounterSettings,
    start: float | None,
    end: float | None,
    reads: EdgeTable,
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
    ts: FloatArray,
    values: FloatArray,
    t0: FloatArray,
    t1: FloatArray,
    v0: FloatArray,
    v1: FloatArray,
    scan_s: float,
    *,
    found: tuple[IntArray, IntArray, IntArray, IntArray] | None = None,
    drops: IntArray | None = None,
) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """`counter_mass` of windows whose edge values are known, for all at once: (mass, boundary, rose).

    Right only where `rose` (the counter never dropped from v0 through the readings inside to v1):
    the others go through counter_mass, which knows resets, wraps and anomalies. `found`: where t0
    and t1 fall among the readings (searchsorted left, then right), `drops`: the readings below the
    one before them, when the caller has them.
    """
    n = ts.size
    if t0.size == 0 or n == 0:
        return np.zeros(t0.size), np.zeros(t0.size), np.zeros(t0.size, dtype=bool)
    if found is None:
        left, right = ts.searchsorted((t0, t1), side="left"), ts.searchsorted((t0, t1), side="right")
        found = (left[0], left[1], right[0], right[1])
    i, j, r0, r1 = found  # t0 <= ts < t1
    last = np.minimum(np.maximum(j - 1, 0), n - 1)  # (np.clip is slow on a few hundred ints)
    j = j - ((j > i) & (v1 < values[last]) & (t1 - ts[last] <= scan_s))  # a step of the end edge's own scan
    boundary = _split_parts(ts, values, t0, v0, r0, end=False) + _split_parts(ts, values, t1, v1, r1, end=True)
    if drops is None:
        drops = np.flatnonzero(values[1:] < values[:-1]) + 1  # readings below the one before them
    first, last = np.minimum(i, n - 1), np.minimum(np.maximum(j - 1, 0), n - 1)
    dropped = drops.searchsorted(last, side="right") != drops.searchsorted(first, side="right")  # in (first, last]
    inner = ~((values[first] < v0) | (v1 < values[last]) | dropped)
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
    p = np.minimum(np.maximum(i, 1), n - 1)
    a, b = values[p - 1], values[p]
    cut = (i > 0) & (i < n) & (ts[p - 1] != t) & (a < v_at) & (v_at < b)
    return np.where(cut, v_at - a if end else b - v_at, 0.0)
