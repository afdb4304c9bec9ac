"""Where a lot starts when its id's stamp is known only as an interval (docs/timestamps.md, "Uncertain edges").

A lot id whose controller's clock was learnt from receive times (no server timestamps) carries a
stamp that is the latest the change can have happened: it may have come up to one delivery earlier.
Inside that interval the feed counter is exact on its own clock. If the feed was idle through the
start of the interval and began to count inside it, that start is where the lot began: the line
fed nothing before it, so the edge moves there. Otherwise the stamp stands and the edge is as
uncertain as it says.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np

from monitor.core.batches import FeedWindow
from monitor.core.engine_state import EngineState
from monitor.core.spec import SourceKind, StreamSpec
from monitor.core.totalizer import FloatArray, update_cycle


def place_open_edge(st: EngineState, feed: StreamSpec) -> None:
    """Move a lot's uncertain start to where the feed started within it, once the feed's data up
    to the stamp is in; give up once it is (or the server vouched for the stamp) and shows none."""
    if st.open_edge is None:
        return
    lo, at = st.open_edge
    series = st.numeric.get(feed.tag or "")
    if series is None or feed.source is SourceKind.FLOW:
        st.open_edge = None
        return
    start = feed_start_within(*series.arrays(), lo, at)
    if start is not None and start < at:
        st.tracker.move_edge(at, start)
        st.pending = deque(_moved(p, at, start) for p in st.pending)
        st.stats.edges_placed_by_feed += 1
    if start is not None or series.last_ts > at or st.vouched >= at:
        st.open_edge = None


def _moved(w: FeedWindow, at: float, to: float) -> FeedWindow:
    if w.start == at:
        w = replace(w, start=to)
    return replace(w, end=to) if w.end == at else w


def feed_start_within(ts: FloatArray, values: FloatArray, lo: float, hi: float) -> float | None:
    """The stamp where the counter last started from idle in (lo, hi] and ran on to hi; None if it did not.

    Idle: no change for more than two of its update cycles. The latest such start is taken, and
    only if the counter kept moving from there to hi (a start that stopped again before hi was
    another lot's tail). A counter whose readings begin too late to show the idle spell cannot tell.
    """
    if ts.size < 2 or hi <= lo:  # noqa: PLR2004 - a change needs two readings
        return None
    moved = np.flatnonzero(np.diff(values) != 0) + 1  # readings that changed (a wrap or a reset too)
    inside = moved[(ts[moved] > lo) & (ts[moved] <= hi)]
    for pos in range(inside.size - 1, -1, -1):
        k = int(inside[pos])
        idle = 2.0 * update_cycle(ts, values, k)
        if idle <= 0:
            return None
        earlier = moved[moved < k]
        since = ts[earlier[-1]] if earlier.size else ts[0]  # no change before: idle since the first reading
        if ts[k] - since <= idle:
            continue  # running: not a start
        if not earlier.size and ts[k] - ts[0] <= idle:
            return None
        run = ts[inside[pos:]]
        kept_on = bool(np.all(np.diff(run) <= idle)) and hi - run[-1] <= idle
        return float(ts[k]) if kept_on else None
    return None
