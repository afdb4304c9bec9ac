"""The flags a lot raises as a whole (its edges, the collector's gaps, the clocks, refused and retimed
samples), for the lots one poll finalises; a stream's own flags are monitor.core.lot_streams'."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monitor.core.batches import FeedWindow
from monitor.core.engine_state import EngineState


def lot_flags(st: EngineState, windows: Sequence[FeedWindow]) -> list[tuple[list[str], int]]:
    """Per lot: its flags in the order they are reported, and how many samples were refused in its span
    (from its start to the end of its last stream window), counted for all lots in one search."""
    rejects = np.sort(np.fromiter((t for t, _ in st.rejects), dtype=float, count=len(st.rejects)))
    starts = np.array([w.start for w in windows], dtype=float)
    horizons = np.array([w.end for w in windows], dtype=float) + st.max_delay
    counts = (rejects.searchsorted(horizons, side="right") - rejects.searchsorted(starts, side="left")).tolist()
    out = []
    for w, horizon, rejected in zip(windows, horizons.tolist(), counts, strict=True):
        flags = ["start_not_observed"] * (not w.start_observed) + ["abandoned"] * w.abandoned
        flags += ["resumed"] * w.resumed
        for g0, g1, recovered in st.gaps:
            if g0 < horizon and g1 > w.start:
                flags.append("collector_gap_backfilled" if recovered else "collector_gap")
        if st.vouched >= horizon > st.server_vouched and st.watermark < horizon + st.spec.stale_after_s:
            flags.append("closed_on_our_clock")  # the server's clock stood still: ours vouched the lot's end
        if st.resumed_at is not None and w.start < st.resumed_at < horizon:
            flags.append("resumed_from_checkpoint")
        flags += ["rejected_samples"] * bool(rejected)
        retimed = {tag for ts, tag in st.retimed if w.start <= ts <= horizon}
        if retimed:  # values stood in at the server's or our receive time: said per stream, and once for the lot
            flags.append("timestamps_replaced")
            flags += [f"{s.name}:timestamp_replaced" for s in st.spec.streams if {s.tag, s.bag_id_tag} & retimed]
        out.append((flags, rejected))
    return out
