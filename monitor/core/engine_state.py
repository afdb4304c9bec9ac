"""What one line's engine holds between samples, as a value: the lot buffers and their checkpoint codec.

The Engine (monitor.core.engine) owns one `EngineState` and hands it to the functions of
monitor.core.finalise, which read the buffers and record in them what a stored lot consumed (its
counted bags, the ledger's edges). Nothing here knows the Engine: the state is plain data.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from monitor.core.batches import BatchTracker, FeedWindow
from monitor.core.bounded import RecentSet
from monitor.core.ledger import StreamLedger
from monitor.core.series import NumericSeries, TextSeries
from monitor.core.spec import LineSpec

CHECKPOINT_FORMAT = 1
COUNTED_BAGS_KEPT = 20_000  # bag ids already attributed to a lot (the newest: memory stays flat)
_NEVER = float("-inf")


@dataclass
class EngineStats:
    accepted: Counter[str] = field(default_factory=Counter)  # by tag
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (tag, reason)
    duplicates: int = 0
    edges_placed_by_feed: int = 0  # lot starts moved to where the feed started within their stamp's uncertainty


@dataclass(eq=False)
class EngineState:
    """One line's lots in progress: the sample buffers, the clocks, the tracker and what was counted."""

    spec: LineSpec
    settle_s: float
    tracker: BatchTracker
    numeric: dict[str, NumericSeries]  # mass, energy and nitrogen tags
    text: dict[str, TextSeries]  # attributes and bag ids
    pending: deque[FeedWindow] = field(default_factory=deque)  # stopped feeding, products still coming
    rejects: deque[tuple[float, str]] = field(default_factory=deque)  # (ts, tag) of refused samples
    counted_bags: RecentSet = field(default_factory=lambda: RecentSet(COUNTED_BAGS_KEPT))
    bags_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # bags counted for the latest finalised lots
    watermark: float = _NEVER  # the latest source timestamp seen on any tag
    vouched: float = _NEVER  # the server's clock: every value stamped up to here has arrived
    server_vouched: float = _NEVER  # the latest time the server's own clock (not ours) vouched for
    retimed: deque[tuple[float, str]] = field(default_factory=deque)  # (ts, tag) of samples whose ts was replaced
    rollover: dict[str, float] = field(default_factory=dict)  # counter tag -> wrap in kg, from the node's data type
    min_cycle: dict[str, float] = field(default_factory=dict)  # counter tag -> the server's revised sampling interval
    last_feed_activity: float = _NEVER
    gaps: deque[tuple[float, float, bool]] = field(default_factory=deque)  # (start, end, recovered) of collector gaps
    resumed_at: float | None = None  # source time of the checkpoint this state was restored from
    open_edge: tuple[float, float] | None = None  # (earliest, stamp) of a lot start still to place (core/edges.py)
    ledger: StreamLedger = field(default_factory=StreamLedger)  # counter mass in no lot
    stats: EngineStats = field(default_factory=EngineStats)
    max_delay: float = field(init=False)  # the longest stream delay: products still come this long after a lot

    def __post_init__(self) -> None:
        self.max_delay = max((s.delay_s for s in self.spec.streams), default=0.0)

    @classmethod
    def fresh(cls, spec: LineSpec, *, settle_s: float = 0.0) -> EngineState:
        """Empty buffers for every tag the line's spec names."""
        numeric: dict[str, NumericSeries] = {}
        text_tags = [spec.chemistry_tag, spec.feed_form_tag, spec.supplier_tag]
        for s in spec.streams:
            if s.tag:
                numeric[s.tag] = NumericSeries()
            if s.bag_id_tag:
                text_tags.append(s.bag_id_tag)
        text = {t: TextSeries() for t in text_tags if t}
        for t in (spec.energy_tag, spec.nitrogen_tag):
            if t:
                numeric[t] = NumericSeries()
        return cls(spec, settle_s, BatchTracker(resume_within_s=spec.resume_within_s), numeric, text)

    def trim(self, now: float) -> None:
        """Drop what no lot can use any more: before the oldest lot still open or pending (when none,
        the longest delay + stale_after_s before `now`), and before the ledger's earliest edge."""
        cur, reopenable = self.tracker.current, self.tracker.reopenable
        starts = [w.start for w in self.pending] + [w.start for w in (cur, reopenable) if w is not None]
        keep_from = min(starts) if starts else now - self.max_delay - self.spec.stale_after_s
        keep_from = min(keep_from, self.ledger.earliest_edge)  # the gap after the last stored window
        if not math.isfinite(keep_from):
            return
        for series in self.numeric.values():
            series.trim_before(keep_from)
        for text in self.text.values():
            text.trim_before(keep_from)
        while self.rejects and self.rejects[0][0] < keep_from:
            self.rejects.popleft()
        while self.retimed and self.retimed[0][0] < keep_from:
            self.retimed.popleft()
        while self.gaps and self.gaps[0][1] < keep_from:
            self.gaps.popleft()

    def dump(self) -> dict[str, Any]:
        """Everything needed to resume the lots in progress after a restart (JSON-ready)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "line": self.spec.line,
            "watermark": self.watermark,
            "vouched": self.vouched,
            "server_vouched": self.server_vouched,
            "retimed": list(self.retimed),
            "last_feed_activity": self.last_feed_activity,
            "tracker": self.tracker.dump(),
            "pending": [asdict(w) for w in self.pending],
            "numeric": {tag: series.dump() for tag, series in self.numeric.items()},
            "text": {tag: series.dump() for tag, series in self.text.items()},
            "rejects": list(self.rejects),
            "counted_bags": list(self.counted_bags),
            "gaps": list(self.gaps),
            "accepted": dict(self.stats.accepted),
            "rejected": [[tag, why, n] for (tag, why), n in self.stats.rejected.items()],
            "duplicates": self.stats.duplicates,
            "ledger": self.ledger.dump(),
        }

    @classmethod
    def load(cls, spec: LineSpec, state: dict[str, Any], *, settle_s: float = 0.0) -> EngineState:
        """The state a `dump()` saved, in this line's buffers; ValueError when it is not this line's."""
        check_state(spec, state)
        st = cls.fresh(spec, settle_s=settle_s)
        st.watermark = float(state["watermark"])
        st.vouched = float(state.get("vouched", _NEVER))
        st.server_vouched = float(state.get("server_vouched", st.vouched))
        st.retimed = deque((float(t), str(tag)) for t, tag in state.get("retimed", []))
        st.last_feed_activity = float(state["last_feed_activity"])
        st.tracker = BatchTracker.load(state["tracker"], resume_within_s=spec.resume_within_s)
        st.pending = deque(FeedWindow(**w) for w in state["pending"])
        for tag, data in state["numeric"].items():
            if tag in st.numeric:  # a tag dropped from the config is simply not resumed
                st.numeric[tag] = NumericSeries.load(data)
        for tag, data in state["text"].items():
            if tag in st.text:
                st.text[tag] = TextSeries.load(data)
        st.rejects = deque((float(t), str(tag)) for t, tag in state["rejects"])
        for bag in state["counted_bags"]:
            st.counted_bags.add(str(bag))
        st.gaps = deque((float(a), float(b), bool(r)) for a, b, r in state["gaps"])
        st.stats.accepted.update(state["accepted"])
        for tag, why, n in state["rejected"]:
            st.stats.rejected[(tag, why)] += int(n)
        st.stats.duplicates = int(state["duplicates"])
        st.ledger = StreamLedger.load(state.get("ledger", {}))
        st.resumed_at = st.watermark
        return st


def check_state(spec: LineSpec, state: dict[str, Any]) -> None:
    """ValueError when the checkpoint is not this line's or not this format."""
    if state.get("format") != CHECKPOINT_FORMAT or state.get("line") != spec.line:
        raise ValueError(
            f"checkpoint of line {state.get('line')!r} format {state.get('format')!r}, "
            f"expected line {spec.line!r} format {CHECKPOINT_FORMAT}"
        )
