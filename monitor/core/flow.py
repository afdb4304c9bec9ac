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

    Each window is the rate at t0 (interpolated), the samples strictly inside, the rate at t1. Windows
    with the same number of points are integrated as the rows of one array: numpy sums each row as it
    sums that row alone (pairwise), so a window's mass has the same bits whatever windows come with it.
    """
    n = t0.size
    mass, gaps = np.zeros(n), np.zeros(n, dtype=np.intp)
    if ts.size == 0:
        return FlowMasses(mass, gaps, np.zeros(n, dtype=bool))
    covered = (ts[0] <= t0) & (ts[-1] >= t1)
    lo, hi = ts.searchsorted(t0, side="right"), ts.searchsorted(t1, side="left")
    edges = np.interp(np.concatenate((t0, t1)), ts, rate_kg_h)  # both edges of every window in one call
    inside = np.where(t1 > t0, np.maximum(hi - lo, 0), -1)  # -1: an empty window, mass 0
    for m in np.unique(inside[inside >= 0]).tolist():
        rows = np.flatnonzero(inside == m)
        at = lo[rows, None] + np.arange(m)
        t = np.concatenate((t0[rows, None], ts[at], t1[rows, None]), axis=1)
        r = np.concatenate((edges[rows, None], rate_kg_h[at], edges[n + rows, None]), axis=1)
        dt = t[:, 1:] - t[:, :-1]
        mass[rows] = (0.5 * (r[:, 1:] + r[:, :-1]) * dt).sum(axis=1) / 3600.0
        gaps[rows] = np.count_nonzero(dt > max_gap_s, axis=1)
    covered[inside < 0] = True
    return FlowMasses(mass, gaps, covered)
