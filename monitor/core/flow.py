"""Mass from a flow rate (kg/h) integrated over windows, one or many at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FlowMass:
    mass: float
    gaps: int = 0  # intervals longer than max_gap, bridged linearly
    covered: bool = True  # samples exist at or beyond both ends of the window


@dataclass(frozen=True, slots=True)
class FlowMasses:
    """`FlowMass` of many windows as columns."""

    mass: FloatArray
    gaps: NDArray[np.intp]
    covered: NDArray[np.bool_]


def flow_mass(ts: FloatArray, rate_kg_h: FloatArray, t0: float, t1: float, *, max_gap_s: float) -> FlowMass:
    """Trapezoidal integral of a kg/h rate from t0 to t1; gaps > max_gap_s are flagged (one window of `flow_masses`)."""
    fm = flow_masses(ts, rate_kg_h, np.array([t0]), np.array([t1]), max_gap_s=max_gap_s)
    return FlowMass(float(fm.mass[0]), int(fm.gaps[0]), bool(fm.covered[0]))


def flow_masses(
    ts: FloatArray, rate_kg_h: FloatArray, t0: FloatArray, t1: FloatArray, *, max_gap_s: float
) -> FlowMasses:
    """Trapezoidal integrals of a kg/h rate over windows (t0, t1); intervals > max_gap_s counted as gaps.

    Each window is the rate at t0 (interpolated), the samples strictly inside, the rate at t1. The
    trapezoids of all windows are computed in one flat array, windows of the same length side by
    side; each such run is summed as the rows of one array, which numpy sums as it sums each row
    alone (pairwise), so a window's mass has the same bits whatever windows come with it.
    """
    n = t0.size
    mass, gaps = np.zeros(n), np.zeros(n, dtype=np.intp)
    if ts.size == 0:
        return FlowMasses(mass, gaps, np.zeros(n, dtype=bool))
    covered = (ts[0] <= t0) & (ts[-1] >= t1) | (t1 <= t0)  # an empty window: mass 0, covered
    lo, hi = ts.searchsorted(t0, side="right"), ts.searchsorted(t1, side="left")
    rows = np.flatnonzero(t1 > t0)
    rows = rows[np.argsort(hi[rows] - lo[rows], kind="stable")]  # windows of one length side by side
    if rows.size == 0:
        return FlowMasses(mass, gaps, covered)
    points = hi[rows] - lo[rows] + 2  # t0, the samples inside, t1
    first = np.concatenate(([0], np.cumsum(points)[:-1]))
    p = np.arange(int(points.sum())) - np.repeat(first, points)  # each point's place in its window
    k = np.minimum(np.maximum(np.repeat(lo[rows], points) + p - 1, 0), ts.size - 1)
    t, r = ts[k], rate_kg_h[k]
    last = first + points - 1
    edges = np.interp(np.concatenate((t0[rows], t1[rows])), ts, rate_kg_h)  # both edges of every window at once
    t[first], t[last] = t0[rows], t1[rows]
    r[first], r[last] = edges[: rows.size], edges[rows.size :]
    keep = np.ones(t.size - 1, dtype=bool)
    keep[last[:-1]] = False  # a window's last point and the next window's first are no interval
    dt = (t[1:] - t[:-1])[keep]
    area = 0.5 * (r[1:] + r[:-1])[keep] * dt
    steps = points - 1
    gaps[rows] = np.add.reduceat((dt > max_gap_s).astype(np.intp), first - np.arange(rows.size))
    at = done = 0
    for m, count in zip(*np.unique(steps, return_counts=True), strict=True):
        block = area[at : at + m * count].reshape(count, m)
        mass[rows[done : done + count]] = block.sum(axis=1) / 3600.0
        at, done = at + m * count, done + count
    return FlowMasses(mass, gaps, covered)
