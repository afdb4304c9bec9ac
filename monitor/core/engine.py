"""The streaming core: samples in, batch results out. The same code serves live and replay.

Source timestamps are the only clock here: a batch is finalised once data past the end of
every one of its stream windows has been seen (the watermark), so a replay of a historian
export produces exactly the batches live processing would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.core.batches import FeedWindow
from monitor.core.edges import place_open_edge
from monitor.core.engine_state import EngineState, EngineStats
from monitor.core.finalise import attribute, open_mass, settle_idle, update_cycle_s
from monitor.core.finalise_batch import finalise_many
from monitor.core.ledger import StreamLedger
from monitor.core.results import BatchResult, LiveBatch
from monitor.core.samples import SERVER_CLOCK, Quality, Sample, lot_id_text, text_value
from monitor.core.screening import Reject, screen_block, screen_numeric
from monitor.core.series import NumericSeries
from monitor.core.spec import LineSpec, SourceKind, StreamSpec


class Engine:
    """Batch tracking plus per-stream mass accounting for one line.

    Its lot buffers are a value it owns (`EngineState`): finalisation takes them, the checkpoint
    is their dump.
    """

    def __init__(self, spec: LineSpec, *, settle_s: float = 0.0, state: EngineState | None = None) -> None:
        self.spec = spec
        self.settle_s = settle_s
        self._state = EngineState.fresh(spec, settle_s=settle_s) if state is None else state
        self._stream_by_tag: dict[str, StreamSpec] = {s.tag: s for s in spec.streams if s.tag}

    @property
    def state(self) -> EngineState:
        """The lot buffers, for inspection (sizes, what is held); the engine alone changes them."""
        return self._state

    @property
    def stats(self) -> EngineStats:
        return self._state.stats

    @property
    def ledger(self) -> StreamLedger:
        """Counter mass in no lot: lots + unattributed = each counter's rise."""
        return self._state.ledger

    @property
    def resumed_at(self) -> float | None:
        """Source time of the checkpoint this engine was restored from (None: started fresh)."""
        return self._state.resumed_at

    @property
    def server_vouched(self) -> float:
        """The latest time the server's own clock vouched for."""
        return self._state.server_vouched

    # -- input ---------------------------------------------------------------------------
    @property
    def watermark(self) -> float:
        """Latest source timestamp seen on any tag."""
        return self._state.watermark

    def ingest(self, samples: Iterable[Sample]) -> None:
        """Take samples in any order; out-of-order and repeated samples are handled."""
        self.ingest_rows((s.tag, s.ts, s.value, s.quality, s) for s in samples)

    def ingest_rows(self, rows: Iterable[tuple[str, float, float | str | None, Quality, Sample | None]]) -> None:
        """ingest() of (tag, ts, value, quality, sample) rows; sample None: a plain one (on time, certain),
        built only where a numeric tag or a refusal needs it (replay's text tags: no Sample per row)."""
        st, lot_tag = self._state, self.spec.batch_id_tag
        ids: list[tuple[float, str, float]] = []
        for tag, ts, value, quality, s in rows:
            if tag == SERVER_CLOCK:
                self.vouch(ts, ours=s is not None and s.retimed)
                continue
            if ts > st.watermark and quality is not Quality.BAD:
                st.watermark = ts
            if s is not None and s.retimed and (tag in st.numeric or tag in st.text or tag == lot_tag):
                st.retimed.append((ts, tag))
            if tag == lot_tag:
                lot = lot_id_text(value, self.spec.idle_ids) if quality is Quality.GOOD else None
                if lot is None:
                    why = Reject.BAD_QUALITY if quality is not Quality.GOOD else Reject.NOT_NUMERIC
                    self._reject(s if s is not None else Sample(tag, ts, value, quality), why)
                else:
                    ids.append((ts, lot, s.uncertain_s if s is not None else 0.0))
                continue
            series = st.numeric.get(tag)
            if series is not None:
                self._ingest_numeric(s if s is not None else Sample(tag, ts, value, quality), series)
                continue
            text = st.text.get(tag)
            if text is not None and quality is Quality.GOOD:
                said = text_value(value, self.spec.codes.get(tag))
                if said is not None:
                    text.add(ts, said)
        self._observe_ids(ids)

    def _observe_ids(self, ids: list[tuple[float, str, float]]) -> None:
        """Lot-id changes (stamp, id, uncertainty) in stamp order; an uncertain start is placed by the feed."""
        st = self._state
        for ts, lot, uncertain in sorted(ids):
            since = st.tracker.last_ts
            closed, resumed = st.tracker.observe(ts, lot)
            if uncertain > 0 and lot and st.tracker.current is not None and st.tracker.current.start == ts:
                st.open_edge = (max(ts - uncertain, since), ts)
            st.pending.extend(closed)
            if resumed is not None:
                self._take_back(resumed)
            place_open_edge(st, self.spec.feed)
        place_open_edge(st, self.spec.feed)

    def _take_back(self, w: FeedWindow) -> None:
        """A lot fed again under its id: out of the pending lots, or to be stored as a new version."""
        st = self._state
        still = [p for p in st.pending if p.batch_id == w.batch_id]
        for p in still:
            st.pending.remove(p)
        if not still:  # finalised already: its bags count again in the version to come
            bags = st.bags_of.pop(w.batch_id, ())
            st.counted_bags.discard_all(bags)

    def seed_ids(self, batch_ids: list[str]) -> None:
        """Batch ids already stored (oldest first): a PLC reusing one of them makes a new batch."""
        self._state.tracker.seed(batch_ids)

    def vouch(self, ts: float, *, ours: bool = False) -> None:
        """The server's clock read ts (`ours`: our clock stood in for a frozen one): all stamped up to ts arrived."""
        st = self._state
        if not ours:
            st.server_vouched = max(st.server_vouched, ts)
        if ts > st.vouched:
            st.vouched = ts
            self.advance(ts)

    def learn_counter(self, tag: str, *, wrap: float | None = None, min_cycle_s: float | None = None) -> None:
        """What the server says of a counter node: where its data type wraps, its revised sampling interval."""
        st = self._state
        stream = self._stream_by_tag.get(tag)
        if stream is None:
            return
        if wrap is not None and stream.rollover is None:
            st.rollover[tag] = wrap * stream.scale
        if min_cycle_s is not None:
            st.min_cycle[tag] = min_cycle_s

    def _ingest_numeric(self, s: Sample, series: NumericSeries) -> None:
        st = self._state
        stream = self._stream_by_tag.get(s.tag)  # None: the energy or nitrogen meter
        why = screen_numeric(s, stream.plausible_max if stream else None)
        if why is not None:
            self._reject(s, why)
            return
        assert isinstance(s.value, int | float)
        prev = series.last_value
        value = float(s.value) * (stream.scale if stream else 1.0)
        if not series.add(s.ts, value):
            st.stats.duplicates += 1
            return
        st.stats.accepted[s.tag] += 1
        if stream is not None and stream.direction == "in" and s.ts >= series.last_ts:
            active = value > 0 if stream.source is SourceKind.FLOW else (prev is None or value > prev)
            if active:
                self._feed_active(s.ts)

    def _feed_active(self, ts: float) -> None:
        st = self._state
        st.last_feed_activity = max(st.last_feed_activity, ts)
        resumed = st.tracker.resume_on_activity(ts)
        if resumed is not None:
            self._take_back(resumed)

    @property
    def numeric_tags(self) -> frozenset[str]:
        """Tags whose values enter mass or energy sums (block ingest takes these)."""
        return frozenset(self._state.numeric)

    @property
    def text_tags(self) -> frozenset[str]:
        """The batch-id tag and the text tags (attributes, bag ids): per-sample ingest takes these."""
        return frozenset((*self._state.text, self.spec.batch_id_tag))

    def advance(self, ts: float) -> None:
        """Samples of tags the core does not use still move source time forward."""
        st = self._state
        st.watermark = max(st.watermark, ts)

    def ingest_block(
        self, tag: str, ts: NDArray[np.float64], values: NDArray[np.float64], quality: NDArray[np.uint8]
    ) -> None:
        """One numeric tag's samples, sorted by time, at once (replay): the screening of ingest(), vectorised."""
        st = self._state
        series = st.numeric[tag]
        stream = self._stream_by_tag.get(tag)
        refusals = screen_block(values, quality, stream.plausible_max if stream is not None else None)
        usable = quality != Quality.BAD if refusals else None  # none refused: none is Bad
        if ts.size and (usable is None or usable.any()):
            self.advance(float((ts if usable is None else ts[usable]).max()))
        if refusals:
            refused = np.zeros(ts.size, dtype=bool)
            for why, mask in refusals:
                st.stats.rejected[(tag, why.value)] += int(mask.sum())
                st.rejects.extend((t, tag) for t in ts[mask].tolist())
                refused |= mask
            ts, values = ts[~refused], values[~refused]
        if stream is not None and stream.scale != 1.0:
            values = values * stream.scale
        prev, last = series.last_value, series.last_ts
        dup = series.extend(ts, values)
        st.stats.duplicates += dup
        st.stats.accepted[tag] += int(ts.size) - dup
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
        self._state.gaps.append((start, end, recovered))

    def _reject(self, s: Sample, why: Reject) -> None:
        st = self._state
        st.stats.rejected[(s.tag, why.value)] += 1
        st.rejects.append((s.ts, s.tag))

    # -- output --------------------------------------------------------------------------
    def poll(self, gate: Callable[[FeedWindow], bool] | None = None, until: float = math.inf) -> list[BatchResult]:
        """Batches whose every stream window has closed (and `gate` lets go); each returned exactly once.
        `until`: the line's time when several sources feed it (their slowest watermark, core/watermarks.py):
        a lot is abandoned, an id expires and buffers are trimmed on it, not on another source's newer stamp."""
        st = self._state
        now = min(st.watermark, until)
        self._check_abandoned(now)
        ready: list[FeedWindow] = []  # each lot's readiness reads the clocks and buffers, which finalising leaves
        while st.pending and self._ready(st.pending[0]) and (gate is None or gate(st.pending[0])):
            ready.append(st.pending.popleft())
        done = finalise_many(st, ready)  # the counters' edges of all of them read in one pass each
        if st.tracker.current is None and st.tracker.reopenable is None and not st.pending:
            settle_idle(st)
        st.trim(now)
        return done

    def live(self) -> LiveBatch | None:
        st = self._state
        cur = st.tracker.current
        if cur is None:
            return None
        end = st.watermark
        masses = {s.name: open_mass(st, s, cur.start, end) for s in self.spec.streams if s.tag}
        return LiveBatch(
            batch_id=cur.batch_id,
            start=cur.start,
            chemistry=attribute(st, self.spec.chemistry_tag, cur),
            feed_form=attribute(st, self.spec.feed_form_tag, cur),
            masses_kg=masses,
            start_observed=cur.start_observed,
        )

    @property
    def flushing(self) -> tuple[str, ...]:
        return tuple(w.batch_id for w in self._state.pending)

    @property
    def oldest_pending_end(self) -> float | None:
        """When the oldest lot still waiting for its products stopped feeding (None: none waits)."""
        ends = [w.end for w in self._state.pending if w.end is not None]
        return min(ends) if ends else None

    @property
    def vouched(self) -> float:
        return self._state.vouched

    # -- checkpoint (the codec lives in monitor.core.engine_state) ----------------------------
    def dump(self) -> dict[str, Any]:
        """Everything needed to resume the lots in progress after a restart (JSON-ready)."""
        return self._state.dump()

    @classmethod
    def load(cls, spec: LineSpec, state: dict[str, Any], *, settle_s: float = 0.0) -> Engine:
        """An engine resumed from `dump()`; ValueError when the checkpoint is not this line's."""
        return cls(spec, settle_s=settle_s, state=EngineState.load(spec, state, settle_s=settle_s))

    # -- internals -----------------------------------------------------------------------
    def _check_abandoned(self, now: float) -> None:
        st = self._state
        st.tracker.expire(now)
        cur = st.tracker.current
        if cur is None:
            return
        quiet_since = max(st.last_feed_activity, cur.start)
        if now - quiet_since > self.spec.abandon_after_s:
            closed = st.tracker.abandon(quiet_since)
            if closed is not None:
                st.pending.append(closed)

    def _ready(self, w: FeedWindow) -> bool:
        assert w.end is not None
        st = self._state
        for s in self.spec.streams:
            if not s.tag:
                continue
            t1 = w.end + s.delay_s
            if st.watermark <= t1 + self.settle_s + self.spec.scan_s:  # stamps of the edge's scan may follow it
                return False
            if s.source is SourceKind.WEIGHING:
                # bags come rarely: other tags' values moving the watermark on do not say theirs are in
                # (a tag's values may wait for its clock), the server's clock does, where there is one
                if math.isfinite(st.vouched) and st.vouched < t1 + self.settle_s + self.spec.scan_s:
                    return False
            elif st.numeric[s.tag].last_ts < t1 and not (
                # a value after t1 is in, or it has been quiet for long, or the server's clock vouches
                # that none came for one update cycle past t1 (report-by-exception: a quiet counter
                # holds); in that order: the update cycle is estimated only when no value after t1 is in
                st.watermark >= t1 + self.spec.stale_after_s
                or st.vouched >= t1 + self.settle_s + update_cycle_s(st, s, t1)
            ):
                return False
        return True
