"""The streaming core: samples in, batch results out. The same code serves live and replay.

Source timestamps are the only clock here: a batch is finalised once data past the end of
every one of its stream windows has been seen (the watermark), so a replay of a historian
export produces exactly the batches live processing would.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.core.batches import BatchTracker, FeedWindow
from monitor.core.bounded import RecentSet
from monitor.core.engine_state import check_state, dump_state, restore_state
from monitor.core.finalise import attribute, finalise, settle_idle, stream_mass, update_cycle_s
from monitor.core.ledger import StreamLedger
from monitor.core.results import BatchResult, LiveBatch
from monitor.core.samples import SERVER_CLOCK, Quality, Sample, lot_id_text
from monitor.core.screening import Reject, screen_block, screen_numeric
from monitor.core.series import NumericSeries, TextSeries
from monitor.core.spec import LineSpec, SourceKind, StreamSpec

_COUNTED_BAGS_KEPT = 20_000


@dataclass
class EngineStats:
    accepted: Counter[str] = field(default_factory=Counter)  # by tag
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (tag, reason)
    duplicates: int = 0


class Engine:
    """Batch tracking plus per-stream mass accounting for one line."""

    def __init__(self, spec: LineSpec, *, settle_s: float = 0.0) -> None:
        self.spec = spec
        self.settle_s = settle_s
        self.stats = EngineStats()
        self._tracker = BatchTracker(resume_within_s=spec.resume_within_s)
        self._pending: deque[FeedWindow] = deque()  # stopped feeding, products still coming
        self._numeric: dict[str, NumericSeries] = {}
        self._text: dict[str, TextSeries] = {}
        self._rejects: deque[tuple[float, str]] = deque()  # (ts, tag) of refused samples
        # bag ids already attributed to a batch (the newest 20,000: memory stays flat)
        self._counted_bags = RecentSet(_COUNTED_BAGS_KEPT)
        self._watermark = float("-inf")
        self._vouched = float("-inf")  # the server's clock: every value stamped up to here has arrived
        self._retimed: deque[tuple[float, str]] = deque()  # (ts, tag) of samples whose timestamp was replaced
        self._rollover: dict[str, float] = {}  # counter tag -> wrap in kg, learnt from the node's data type
        self._min_cycle: dict[str, float] = {}  # counter tag -> the server's revised sampling interval (s)
        self._bags_of: dict[str, tuple[str, ...]] = {}  # bags counted for the latest finalised batches
        self._last_feed_activity = float("-inf")
        self._gaps: deque[tuple[float, float, bool]] = deque()  # (start, end, recovered) of collector gaps
        self.resumed_at: float | None = None  # source time of the checkpoint this engine was restored from
        self.ledger = StreamLedger()  # counter mass in no lot: lots + unattributed = each counter's rise
        self.server_vouched = float("-inf")  # the latest time the server's own clock vouched for
        self._stream_by_tag: dict[str, StreamSpec] = {}
        text_tags = [spec.chemistry_tag, spec.feed_form_tag, spec.supplier_tag]
        for s in spec.streams:
            if s.tag:
                self._stream_by_tag[s.tag] = s
                self._numeric[s.tag] = NumericSeries()
            if s.bag_id_tag:
                text_tags.append(s.bag_id_tag)
        for t in text_tags:
            if t:
                self._text[t] = TextSeries()
        if spec.energy_tag:
            self._numeric[spec.energy_tag] = NumericSeries()
        if spec.nitrogen_tag:
            self._numeric[spec.nitrogen_tag] = NumericSeries()
        self._max_delay = max((s.delay_s for s in spec.streams), default=0.0)

    # -- input ---------------------------------------------------------------------------
    @property
    def watermark(self) -> float:
        """Latest source timestamp seen on any tag."""
        return self._watermark

    def ingest(self, samples: Iterable[Sample]) -> None:
        """Take samples in any order; out-of-order and repeated samples are handled."""
        ids: list[tuple[float, str]] = []
        for s in samples:
            if s.tag == SERVER_CLOCK:
                self.vouch(s.ts, ours=s.retimed)
                continue
            if s.ts > self._watermark and s.quality is not Quality.BAD:
                self._watermark = s.ts
            if s.retimed and (s.tag in self._numeric or s.tag in self._text or s.tag == self.spec.batch_id_tag):
                self._retimed.append((s.ts, s.tag))
            if s.tag == self.spec.batch_id_tag:
                lot = lot_id_text(s.value, self.spec.idle_ids) if s.quality is Quality.GOOD else None
                if lot is None:
                    self._reject(s, Reject.BAD_QUALITY if s.quality is not Quality.GOOD else Reject.NOT_NUMERIC)
                else:
                    ids.append((s.ts, lot))
                continue
            series = self._numeric.get(s.tag)
            if series is not None:
                self._ingest_numeric(s, series)
                continue
            text = self._text.get(s.tag)
            if text is not None and s.quality is Quality.GOOD:
                value = self._text_value(s.tag, s.value)
                if value is not None:
                    text.add(s.ts, value)
        for ts, lot in sorted(ids):
            closed, resumed = self._tracker.observe(ts, lot)
            self._pending.extend(closed)
            if resumed is not None:
                self._take_back(resumed)

    def _text_value(self, tag: str, value: float | str | None) -> str | None:
        """Attribute and bag-id values as text: integer codes through the configured table."""
        if isinstance(value, str):
            return value.replace("\x00", "").strip()
        text = lot_id_text(value)
        if text is None:
            return None
        return self.spec.codes.get(tag, {}).get(text, text)

    def _take_back(self, w: FeedWindow) -> None:
        """A lot fed again under its id: out of the pending lots, or to be stored as a new version."""
        still = [p for p in self._pending if p.batch_id == w.batch_id]
        for p in still:
            self._pending.remove(p)
        if not still:  # finalised already: its bags count again in the version to come
            bags = self._bags_of.pop(w.batch_id, ())
            self._counted_bags.discard_all(bags)

    def seed_ids(self, batch_ids: list[str]) -> None:
        """Batch ids already stored (oldest first): a PLC reusing one of them makes a new batch."""
        self._tracker.seed(batch_ids)

    def vouch(self, ts: float, *, ours: bool = False) -> None:
        """The server's clock read ts (`ours`: our clock stood in for a frozen one): all stamped up to ts arrived."""
        if not ours:
            self.server_vouched = max(self.server_vouched, ts)
        if ts > self._vouched:
            self._vouched = ts
            self.advance(ts)

    def learn_counter(self, tag: str, *, wrap: float | None = None, min_cycle_s: float | None = None) -> None:
        """What the server says of a counter node: where its data type wraps, its revised sampling interval."""
        stream = self._stream_by_tag.get(tag)
        if stream is None:
            return
        if wrap is not None and stream.rollover is None:
            self._rollover[tag] = wrap * stream.scale
        if min_cycle_s is not None:
            self._min_cycle[tag] = min_cycle_s

    def _ingest_numeric(self, s: Sample, series: NumericSeries) -> None:
        stream = self._stream_by_tag.get(s.tag)  # None: the energy or nitrogen meter
        why = screen_numeric(s, stream.plausible_max if stream else None)
        if why is not None:
            self._reject(s, why)
            return
        assert isinstance(s.value, int | float)
        prev = series.last_value
        value = float(s.value) * (stream.scale if stream else 1.0)
        if not series.add(s.ts, value):
            self.stats.duplicates += 1
            return
        self.stats.accepted[s.tag] += 1
        if stream is not None and stream.direction == "in" and s.ts >= series.last_ts:
            active = value > 0 if stream.source is SourceKind.FLOW else (prev is None or value > prev)
            if active:
                self._feed_active(s.ts)

    def _feed_active(self, ts: float) -> None:
        self._last_feed_activity = max(self._last_feed_activity, ts)
        resumed = self._tracker.resume_on_activity(ts)
        if resumed is not None:
            self._take_back(resumed)

    @property
    def numeric_tags(self) -> frozenset[str]:
        """Tags whose values enter mass or energy sums (block ingest takes these)."""
        return frozenset(self._numeric)

    @property
    def text_tags(self) -> frozenset[str]:
        """The batch-id tag and the text tags (attributes, bag ids): per-sample ingest takes these."""
        return frozenset((*self._text, self.spec.batch_id_tag))

    def advance(self, ts: float) -> None:
        """Samples of tags the core does not use still move source time forward."""
        self._watermark = max(self._watermark, ts)

    def ingest_block(
        self, tag: str, ts: NDArray[np.float64], values: NDArray[np.float64], quality: NDArray[np.uint8]
    ) -> None:
        """One numeric tag's samples, sorted by time, at once (replay): the screening of ingest(), vectorised."""
        series = self._numeric[tag]
        usable = quality != Quality.BAD
        if usable.any():
            self.advance(float(ts[usable].max()))
        stream = self._stream_by_tag.get(tag)
        refused = np.zeros(ts.size, dtype=bool)
        for why, mask in screen_block(values, quality, stream.plausible_max if stream is not None else None):
            self.stats.rejected[(tag, why.value)] += int(mask.sum())
            self._rejects.extend((t, tag) for t in ts[mask].tolist())
            refused |= mask
        ts, values = ts[~refused], values[~refused]
        if stream is not None and stream.scale != 1.0:
            values = values * stream.scale
        prev = series.last_value
        last = series.last_ts
        dup = series.extend(ts, values)
        self.stats.duplicates += dup
        self.stats.accepted[tag] += int(ts.size) - dup
        if stream is not None and stream.direction == "in" and ts.size:
            newer = ts >= last
            if stream.source is SourceKind.FLOW:
                active = newer & (values > 0)
            else:
                before = np.concatenate(([prev if prev is not None else -np.inf], values[:-1]))
                active = newer & (values > before)
            if active.any():
                self._feed_active(float(ts[active].max()))

    def note_gap(self, start: float, end: float, *, recovered: bool) -> None:
        """A span of source time the collector had no live data for (filled from history or not)."""
        self._gaps.append((start, end, recovered))

    def _reject(self, s: Sample, why: Reject) -> None:
        self.stats.rejected[(s.tag, why.value)] += 1
        self._rejects.append((s.ts, s.tag))

    # -- output --------------------------------------------------------------------------
    def poll(self) -> list[BatchResult]:
        """Batches whose every stream window has closed; each is returned exactly once."""
        self._check_abandoned()
        done: list[BatchResult] = []
        while self._pending and self._ready(self._pending[0]):
            done.append(finalise(self, self._pending.popleft()))
        if self._tracker.current is None and self._tracker.reopenable is None and not self._pending:
            settle_idle(self)
        self._trim()
        return done

    def live(self) -> LiveBatch | None:
        cur = self._tracker.current
        if cur is None:
            return None
        end = self._watermark
        masses = {s.name: stream_mass(self, s, cur.start, end)[0].mass_kg for s in self.spec.streams if s.tag}
        return LiveBatch(
            batch_id=cur.batch_id,
            start=cur.start,
            chemistry=attribute(self, self.spec.chemistry_tag, cur),
            feed_form=attribute(self, self.spec.feed_form_tag, cur),
            masses_kg=masses,
            start_observed=cur.start_observed,
        )

    @property
    def flushing(self) -> tuple[str, ...]:
        return tuple(w.batch_id for w in self._pending)

    @property
    def oldest_pending_end(self) -> float | None:
        """When the oldest lot still waiting for its products stopped feeding (None: none waits)."""
        ends = [w.end for w in self._pending if w.end is not None]
        return min(ends) if ends else None

    @property
    def vouched(self) -> float:
        return self._vouched

    # -- checkpoint (the codec lives in monitor.core.engine_state) ----------------------------
    def dump(self) -> dict[str, Any]:
        """Everything needed to resume the lots in progress after a restart (JSON-ready)."""
        return dump_state(self)

    @classmethod
    def load(cls, spec: LineSpec, state: dict[str, Any], *, settle_s: float = 0.0) -> Engine:
        """An engine resumed from `dump()`; ValueError when the checkpoint is not this line's."""
        check_state(spec, state)
        e = cls(spec, settle_s=settle_s)
        restore_state(e, state)
        return e

    # -- internals -----------------------------------------------------------------------
    def _check_abandoned(self) -> None:
        self._tracker.expire(self._watermark)
        cur = self._tracker.current
        if cur is None:
            return
        quiet_since = max(self._last_feed_activity, cur.start)
        if self._watermark - quiet_since > self.spec.abandon_after_s:
            closed = self._tracker.abandon(quiet_since)
            if closed is not None:
                self._pending.append(closed)

    def _ready(self, w: FeedWindow) -> bool:
        assert w.end is not None
        for s in self.spec.streams:
            if not s.tag:
                continue
            t1 = w.end + s.delay_s
            if self._watermark <= t1 + self.settle_s:
                return False
            # a value after t1 is in, or the server's clock vouches that none came for one update
            # cycle past t1 (report-by-exception: a quiet counter holds), or it has been quiet for long
            # (in that order: the update cycle is estimated only when no value after t1 is in)
            if (
                s.source is not SourceKind.WEIGHING
                and self._numeric[s.tag].last_ts < t1
                and not (
                    self._watermark >= t1 + self.spec.stale_after_s
                    or self._vouched >= t1 + self.settle_s + update_cycle_s(self, s, t1)
                )
            ):
                return False
        return True

    def _trim(self) -> None:
        cur, reopenable = self._tracker.current, self._tracker.reopenable
        starts = [w.start for w in self._pending] + [w.start for w in (cur, reopenable) if w is not None]
        keep_from = min(starts) if starts else self._watermark - self._max_delay - self.spec.stale_after_s
        keep_from = min(keep_from, self.ledger.earliest_edge)  # the gap after the last stored window
        if not math.isfinite(keep_from):
            return
        for series in self._numeric.values():
            series.trim_before(keep_from)
        for text in self._text.values():
            text.trim_before(keep_from)
        while self._rejects and self._rejects[0][0] < keep_from:
            self._rejects.popleft()
        while self._retimed and self._retimed[0][0] < keep_from:
            self._retimed.popleft()
        while self._gaps and self._gaps[0][1] < keep_from:
            self._gaps.popleft()
