"""Mass from a flow rate (kg/h) integrated over a window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class FlowMass:
    mass: float
    gaps: int = 0  # intervals longer than max_gap, bridged linearly
    covered: bool = True  # samples exist at or beyond both ends of the window


def flow_mass(
    ts: NDArray[np.float64], rate_kg_h: NDArray[np.float64], t0: float, t1: float, *, max_gap_s: float
) -> FlowMass:
    """Trapezoidal integral of a kg/h rate from t0 to t1; gaps > max_gap_s are flagged."""
    if ts.size == 0 or t1 <= t0:
        return FlowMass(0.0, covered=ts.size > 0)
    # the samples strictly inside by one search each way, both edges interpolated in one call, differences
    # by slicing: the same sums as filtering, two interp calls and np.diff, with a third of the numpy calls
    lo, hi = int(ts.searchsorted(t0, side="right")), int(ts.searchsorted(t1, side="left"))
    edges = np.interp((t0, t1), ts, rate_kg_h)
    t = np.concatenate(((t0,), ts[lo:hi], (t1,)))
    r = np.concatenate((edges[:1], rate_kg_h[lo:hi], edges[1:]))
    dt = t[1:] - t[:-1]
    mass = float((0.5 * (r[1:] + r[:-1]) * dt).sum() / 3600.0)
    covered = bool(ts[0] <= t0 and ts[-1] >= t1)
    return FlowMass(mass=mass, gaps=int(np.count_nonzero(dt > max_gap_s)), covered=covered)
