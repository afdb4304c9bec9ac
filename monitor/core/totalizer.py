"""Mass from a monotonic PLC counter over a window, with resets, rollovers and jitter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CounterMass:
    mass: float
    resets: int = 0
    rollovers: int = 0
    anomalies: int = 0
    start_observed: bool = True
    end_observed: bool = True


def value_at(ts: FloatArray, values: FloatArray, t: float) -> tuple[float, bool]:
    """Counter value at time t, linearly interpolated; (value, observed).

    Outside the samples the nearest value is used and observed is False. Across a drop
    (a reset between the two samples) the earlier value is kept: the mass after the reset
    is counted from the reset itself.
    """
    n = ts.size
    if n == 0:
        return float("nan"), False
    i = int(np.searchsorted(ts, t, side="right"))  # ts[i-1] <= t < ts[i]
    if i == 0:
        return float(values[0]), False
    if ts[i - 1] == t or i == n:
        return float(values[i - 1]), i < n or ts[i - 1] == t
    t0, t1, v0, v1 = ts[i - 1], ts[i], values[i - 1], values[i]
    if v1 < v0:
        return float(v0), True
    return float(v0 + (v1 - v0) * (t - t0) / (t1 - t0)), True


def counter_mass(
    ts: FloatArray,
    values: FloatArray,
    t0: float,
    t1: float,
    *,
    rollover: float | None = None,
    reset_fraction: float = 0.05,
    jitter: float = 1.0,
) -> CounterMass:
    """Mass counted by a totalizer between t0 and t1 (kg in, kg out).

    ts must be sorted and values screened (finite, >= 0). A drop to below `reset_fraction`
    of the previous value is a reset (the new value counts); a drop across the configured
    `rollover` maximum is a wrap; a drop of at most `jitter` kg is noise (a high-water mark
    keeps it from being counted twice); a drop to no more than three typical steps of the
    window is a reset too; any other drop is an anomaly: counted as zero,
    counting resumes from the new value.
    """
    v_start, start_ok = value_at(ts, values, t0)
    v_end, end_ok = value_at(ts, values, t1)
    if np.isnan(v_start):
        return CounterMass(0.0, start_observed=False, end_observed=False)
    i, j = np.searchsorted(ts, t0, side="right"), np.searchsorted(ts, t1, side="left")  # t0 < ts < t1
    series = np.concatenate(([v_start], values[i:j], [v_end]))
    prev, nxt = series[:-1], series[1:]
    drop = nxt < prev
    if not drop.any():  # the common case: a monotonic counter over the window
        return CounterMass(mass=max(float(series[-1] - series[0]), 0.0), start_observed=start_ok, end_observed=end_ok)
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
    return CounterMass(
        mass=max(mass, 0.0),
        resets=int(is_reset.sum()),
        rollovers=int(is_roll.sum()),
        anomalies=int(is_anom.sum()),
        start_observed=start_ok,
        end_observed=end_ok,
    )
