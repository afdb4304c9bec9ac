"""Reading a counter at lot edges, many edges at once: the lot-edge rule and the update-cycle estimate.

This is the one home of both rules (docs/timestamps.md). They take arrays of edges so that a replay
reads every edge of a counter that one poll finalises in one pass; the live path reads one edge
through the same functions (monitor.core.totalizer.value_at and .update_cycle wrap them).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]


def update_cycles(ts: FloatArray, values: FloatArray, k: IntArray, *, span: int = 32) -> FloatArray:
    """The counter's own update cycle near each index k: a low quantile of the spacing of its rises.

    A PLC that counts every 5 s, a deadband of 10 kg or a server that samples every minute
    all show as a regular spacing between rising notifications while material flows; the
    spacing across an idle gap is the rare long one, so a low quantile ignores it. For each k the
    spacings between readings max(k - span, 0) .. min(k + span, n) - 1 that rose are taken, and the
    lower quartile of them (the smallest of fewer than four); 0 when none rose.
    """
    n = ts.size
    out = np.zeros(k.size)
    if k.size == 0:
        return out
    lo, hi = max(int(k.min()) - span, 0), min(int(k.max()) + span, n)
    if hi - lo < 2:  # noqa: PLR2004 - an interval needs two readings
        return out
    seg_t, seg_v = ts[lo:hi], values[lo:hi]
    pad = np.full(span, np.inf)  # no spacing before the first reading or after the last
    gaps = np.concatenate((pad, np.where(seg_v[1:] > seg_v[:-1], seg_t[1:] - seg_t[:-1], np.inf), pad))
    table = sliding_window_view(gaps, 2 * span - 1)[k - lo]  # row r: spacings k - span .. k + span - 2
    rose = np.isfinite(table).sum(axis=1)
    table.sort(axis=1)
    q = np.minimum(rose // 4, table.shape[1] - 1)
    return np.where(rose > 0, table[np.arange(k.size), q], 0.0)


def idle_before(ts: FloatArray, values: FloatArray, k: IntArray, ramp_s: FloatArray) -> BoolArray:
    """Whether each step k is the counter's first after an idle spell: no change within `ramp_s` before it.

    A property of the step, not of the edge being cut, so the counter's value stays monotonic in
    time and neighbouring windows meet. A spell that reaches back to the first reading held
    cannot tell (that reading may itself have been a step): the counter is taken as running then.
    """
    j = ts.searchsorted(ts[k] - ramp_s, side="left")
    idle = j >= k
    look = ~idle & (j > 0)
    if look.any():
        idle[look] = _unchanged(values, j[look] - 1, k[look] - 1)  # no change among readings j-1 .. k-1
    return idle


def _unchanged(values: FloatArray, a: IntArray, b: IntArray) -> BoolArray:
    """Whether readings a .. b (a < b) all hold one value, for each pair.

    A spell is a few readings: they are compared side by side (as many columns as the longest
    spell); across a long one, a running count of changes between the first and the last reading.
    """
    width = int((b - a).max())
    if width * a.size <= int(b.max()) - int(a.min()):
        steps = np.arange(width)
        x = np.minimum(a[:, None] + steps, b[:, None] - 1)  # readings a .. b - 1, the last repeated
        changed: BoolArray = (values[x + 1] != values[x]).any(axis=1)
        return ~changed
    lo, hi = int(a.min()), int(b.max()) + 1
    seg = values[lo:hi]
    changes = np.concatenate(([0], np.cumsum(seg[1:] != seg[:-1])))  # changes among readings lo.. before
    same: BoolArray = changes[b - lo] == changes[a - lo]
    return same


def values_at(
    ts: FloatArray, values: FloatArray, t: FloatArray, ramp_s: FloatArray, scan_s: float, k: IntArray
) -> tuple[FloatArray, BoolArray]:
    """Counter values at the edges t, the mass counted before each; (values, observed). k: ts.searchsorted(t).

    Report-by-exception: a value holds until its next notification, and the increment a
    notification reports happened within `ramp_s` seconds before it (the tag's update cycle),
    never spread across an idle gap. Inside that ramp the value is interpolated in proportion
    to time. `ramp_s` = inf is plain linear interpolation between samples.

    The lot-edge rule (docs/timestamps.md): the first step after an idle spell (no change within
    `ramp_s` before it) happened when it is stamped, so it lies wholly after an edge at or before
    its stamp: the first step of a lot written in the same scan as its id, or just after, is that lot's.

    One scan, several stamps: a stamp within `scan_s` of the edge is taken as the edge's own (a
    server stamping on receipt spreads one scan's values over milliseconds, in any order). An idle
    step stamped up to `scan_s` before the edge is after it; a running step stamped up to `scan_s`
    after it, or whose ramp starts up to `scan_s` before it, is wholly before or wholly after it.
    The idle spell of a step is judged on the ramp widened by twice the scan: two stamps each up to
    `scan_s` off their scan make a running counter's spacing look up to `scan_s` longer.

    Outside the samples the nearest value is used and observed is False (a first reading exactly at
    t is the counter at t). Across a drop (a reset between the two samples) the earlier value is
    kept: the mass after the reset is counted from the reset itself.
    """
    n = ts.size
    if n == 0:
        return np.full(t.size, np.nan), np.zeros(t.size, dtype=bool)
    v, ok, todo = np.empty(t.size), np.ones(t.size, dtype=bool), k > 0
    v[~todo], ok[~todo] = values[0], ts[0] == t[~todo]  # nothing before the first reading is known
    finite = np.isfinite(ramp_s)
    if scan_s > 0 and n > 1:  # a step from idle stamped within the scan before the edge: the edge's own, after it
        p = np.minimum(np.maximum(k - 1, 1), n - 1)  # (np.clip is slow on a few hundred ints)
        own = todo & (k >= 2) & finite & (t - ts[p] <= scan_s) & (values[p] > values[p - 1])  # noqa: PLR2004
        if own.any():
            at = np.flatnonzero(own)
            at = at[idle_before(ts, values, p[at], ramp_s[at] + 2.0 * scan_s)]
            v[at], todo[at] = values[p[at] - 1], False
    past = todo & (k == n)
    v[past], ok[past], todo[past] = values[n - 1], False, False
    at = np.flatnonzero(todo)
    ki, tt, ramp = k[at], t[at], ramp_s[at]
    t0, t1, v0, v1 = ts[ki - 1], ts[ki], values[ki - 1], values[ki]
    held = v1 <= v0
    ask = ~held & finite[at]
    if ask.any():
        held[ask] = idle_before(ts, values, ki[ask], ramp[ask] + 2.0 * scan_s)
    start = np.maximum(t0, t1 - ramp)
    with np.errstate(divide="ignore", invalid="ignore"):
        part = v0 + (v1 - v0) * (tt - start) / (t1 - start)
    v[at] = np.where(held | (tt <= start + scan_s), v0, np.where(tt >= t1 - scan_s, v1, part))
    return v, ok
