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
    inside = (ts > t0) & (ts < t1)
    r0 = float(np.interp(t0, ts, rate_kg_h))
    r1 = float(np.interp(t1, ts, rate_kg_h))
    t = np.concatenate(([t0], ts[inside], [t1]))
    r = np.concatenate(([r0], rate_kg_h[inside], [r1]))
    dt = np.diff(t)
    mass = float(np.sum(0.5 * (r[1:] + r[:-1]) * dt) / 3600.0)
    covered = bool(ts[0] <= t0 and ts[-1] >= t1)
    return FlowMass(mass=mass, gaps=int(np.sum(dt > max_gap_s)), covered=covered)
