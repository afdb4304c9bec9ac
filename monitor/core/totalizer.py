"""Mass from a monotonic PLC counter over a window, with resets, rollovers and jitter."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.core.counter_edges import update_cycles, values_at

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CounterMass:
    mass: float
    resets: int = 0
    rollovers: int = 0
    anomalies: int = 0
    start_observed: bool = True
    end_observed: bool = True
    boundary: float = 0.0  # mass of increments cut by a window edge, apportioned by time into the window
    v_start: float = math.nan  # the counter at the window's edges (kg), as this window was cut
    v_end: float = math.nan


def value_at(
    ts: FloatArray,
    values: FloatArray,
    t: float,
    ramp_s: float = math.inf,
    scan_s: float = 0.0,
    *,
    k: int | None = None,
) -> tuple[float, bool]:
    """Counter value at the edge t, the mass counted before t; (value, observed).

    One edge of `monitor.core.counter_edges.values_at`, where the lot-edge rule lives (ramping each
    increment over the update cycle `ramp_s`, a step from idle after the edge, one scan's stamps
    `scan_s` as the edge's own). `k`: ts.searchsorted(t), when the caller has it.
    """
    if k is None:
        k = int(ts.searchsorted(t, side="left"))  # ts[k-1] < t <= ts[k]
    v, ok = values_at(ts, values, np.array([t]), np.array([ramp_s]), scan_s, np.array([k]))
    return float(v[0]), bool(ok[0])


def update_cycle(ts: FloatArray, values: FloatArray, k: int, *, span: int = 32) -> float:
    """The counter's own update cycle near index k (`monitor.core.counter_edges.update_cycles`, one index)."""
    return float(update_cycles(ts, values, np.array([k]), span=span)[0])


@dataclass(frozen=True, slots=True)
class EdgeRead:
    """A counter read at one edge: its value there, whether samples lie on both sides, its update cycle,
    and where the edge falls among the readings (ts.searchsorted, left and right) it was read from."""

    value: float
    observed: bool
    cycle_s: float
    left: int
    right: int


@dataclass(frozen=True, slots=True)
class EdgeTable:
    """A counter read at many edges (`read_edges`), as columns over the edges in ascending order."""

    t: FloatArray
    value: FloatArray
    observed: NDArray[np.bool_]
    cycle_s: FloatArray
    left: NDArray[np.intp]
    right: NDArray[np.intp]

    def index(self, t: FloatArray) -> NDArray[np.intp]:
        """Rows of edges t, every one of which was read."""
        return self.t.searchsorted(t)

    def get(self, t: float) -> EdgeRead | None:
        """The read at edge t; None when t was not read."""
        k = int(self.t.searchsorted(t))
        if k == self.t.size or self.t[k] != t:
            return None
        return EdgeRead(
            float(self.value[k]), bool(self.observed[k]), float(self.cycle_s[k]), int(self.left[k]), int(self.right[k])
        )


def read_edges(
    ts: FloatArray, values: FloatArray, edges: FloatArray, *, min_cycle_s: float = 0.0, scan_s: float = 0.0
) -> EdgeTable:
    """The counter at many edges in one pass, as `counter_mass` reads each (ramp: the update cycle there).

    Valid for these very readings only: a buffer that took samples since must be read again.
    """
    edges = np.unique(edges)
    if ts.size == 0:
        none = np.zeros(0, dtype=np.intp)
        return EdgeTable(np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0), none, none)
    k = ts.searchsorted(edges, side="left")
    cycle = np.maximum(update_cycles(ts, values, k), min_cycle_s)
    v, ok = values_at(ts, values, edges, cycle, scan_s, k)
    return EdgeTable(edges, v, ok, cycle, k, ts.searchsorted(edges, side="right"))


def _split_part(ts: FloatArray, values: FloatArray, t: float, v_at: float, i: int, *, end: bool) -> float:
    """Mass of an increment cut by a window edge at t that falls inside the window (i: ts.searchsorted(t, "right"))."""
    if i == 0 or i >= ts.size or ts[i - 1] == t:
        return 0.0
    v0, v1 = float(values[i - 1]), float(values[i])
    if not v0 < v_at < v1:
        return 0.0
    return v_at - v0 if end else v1 - v_at


def _edge(
    ts: FloatArray,
    values: FloatArray,
    t: float,
    k: int,
    given: float | None,
    read: EdgeRead | None,
    min_cycle_s: float,
    scan_s: float,
) -> tuple[float, bool]:
    """The counter at a window's edge: as a neighbouring window cut it, as read already, else read now."""
    if given is not None:
        return given, True
    if read is not None:
        return read.value, read.observed
    return value_at(ts, values, t, max(update_cycle(ts, values, k), min_cycle_s), scan_s, k=k)


def counter_mass(
    ts: FloatArray,
    values: FloatArray,
    t0: float,
    t1: float,
    *,
    rollover: float | None = None,
    reset_fraction: float = 0.05,
    jitter: float = 1.0,
    min_cycle_s: float = 0.0,
    start_value: float | None = None,
    end_value: float | None = None,
    scan_s: float = 0.0,
    reads: EdgeTable | None = None,
) -> CounterMass:
    """Mass counted by a totalizer between t0 and t1 (kg in, kg out).

    ts must be sorted and values screened (finite, >= 0). A drop to below `reset_fraction`
    of the previous value is a reset (the new value counts); a drop across the configured
    `rollover` maximum is a wrap; a drop of at most `jitter` kg is noise (a high-water mark
    keeps it from being counted twice); a drop to no more than three typical steps of the
    window is a reset too; any other drop is an anomaly: counted as zero,
    counting resumes from the new value.

    The window edges are read with `value_at`, ramping each increment over the counter's own
    update cycle (at least `min_cycle_s`, e.g. the server's revised sampling interval); the
    part of increments cut by an edge that falls inside the window is `boundary`. An edge already
    cut by a neighbouring window passes its value in (`start_value`, `end_value`), so the windows
    and the gaps between them add up to the counter's rise exactly (monitor.core.ledger). A stamp
    within `scan_s` of an edge is the edge's own (`value_at`). `reads`: edges read already, with these
    same settings, many at once (`read_edges`: a replay reads all the edges of a poll's lots together).
    """
    if ts.size == 0:
        return CounterMass(0.0, start_observed=False, end_observed=False)
    # both edges in one search each way (a numpy call per edge and side was a tenth of a lot's finalisation)
    a, b = (reads.get(t0), reads.get(t1)) if reads is not None else (None, None)
    if a is not None and b is not None:
        i, j, r0, r1 = a.left, b.left, a.right, b.right
    else:
        i, j = ts.searchsorted((t0, t1), side="left").tolist()  # t0 <= ts < t1
        r0, r1 = ts.searchsorted((t0, t1), side="right").tolist()
    # an edge a neighbouring window already cut is not read again (its update cycle is the costly part)
    v_start, start_ok = _edge(ts, values, t0, i, start_value, a, min_cycle_s, scan_s)
    v_end, end_ok = _edge(ts, values, t1, j, end_value, b, min_cycle_s, scan_s)
    if j > i and v_end < values[j - 1] and t1 - ts[j - 1] <= scan_s:
        j -= 1  # a step from idle of the end edge's own scan: after the edge, not a drop inside the window
    boundary = _split_part(ts, values, t0, v_start, r0, end=False) + _split_part(ts, values, t1, v_end, r1, end=True)
    inner = values[i:j]
    if _rises_only(v_start, inner, v_end):  # the common case: a monotonic counter over the window
        return CounterMass(
            mass=max(float(v_end - v_start), 0.0),
            start_observed=start_ok,
            end_observed=end_ok,
            boundary=boundary,
            v_start=v_start,
            v_end=v_end,
        )
    series = np.concatenate(([v_start], inner, [v_end]))
    drop = series[1:] < series[:-1]
    mass, is_roll, is_reset, is_anom = _through_drops(series, drop, rollover, reset_fraction, jitter)
    return CounterMass(
        mass=max(mass, 0.0),
        resets=int(is_reset.sum()),
        rollovers=int(is_roll.sum()),
        anomalies=int(is_anom.sum()),
        start_observed=start_ok,
        end_observed=end_ok,
        boundary=boundary,
        v_start=v_start,
        v_end=v_end,
    )


def _rises_only(v_start: float, inner: FloatArray, v_end: float) -> bool:
    """No step of v_start, inner..., v_end drops (without building that series: this runs per lot edge)."""
    if inner.size == 0:
        return not v_end < v_start
    return not (inner[0] < v_start or v_end < inner[-1] or (inner[1:] < inner[:-1]).any())


def _through_drops(
    series: FloatArray, drop: NDArray[np.bool_], rollover: float | None, reset_fraction: float, jitter: float
) -> tuple[float, NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """The mass of a series with drops: (mass, rollovers, resets, anomalies) as masks of its steps."""
    prev, nxt = series[:-1], series[1:]
    # Running high-water mark so that jitter below it is not counted twice.
    hw = np.maximum.accumulate(series)
    is_roll = np.zeros_like(drop)
    if rollover is not None:
        is_roll = drop & ((prev - nxt) > 0.5 * rollover)
    # After a reset the counter holds what came since it: small against the old value, or
    # no more than a few ordinary steps of this window.
    rises = nxt - prev
    typical = float(np.median(rises[rises > 0])) if np.any(rises > 0) else 0.0
    is_reset = drop & ~is_roll & (nxt <= np.maximum(reset_fraction * prev, 3.0 * typical))
    is_jitter = drop & ~is_roll & ~is_reset & ((prev - nxt) <= jitter)
    is_anom = drop & ~is_roll & ~is_reset & ~is_jitter
    breaks = np.flatnonzero(is_roll | is_reset | is_anom)
    if breaks.size == 0:
        mass = float(hw[-1] - series[0])
    else:
        mass, seg_start = 0.0, 0
        for b in breaks:
            seg = series[seg_start : b + 1]
            top = float(seg.max())
            mass += top - float(seg[0])
            new = float(series[b + 1])
            if is_roll[b]:
                assert rollover is not None
                mass += (rollover - top) + new
            elif is_reset[b]:
                mass += new
            seg_start = int(b) + 1
        seg = series[seg_start:]
        mass += float(seg.max() - seg[0])
    return mass, is_roll, is_reset, is_anom
