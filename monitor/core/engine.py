"""The streaming core: samples in, batch results out. The same code serves live and replay.

Source timestamps are the only clock here: a batch is finalised once data past the end of
every one of its stream windows has been seen (the watermark), so a replay of a historian
export produces exactly the batches live processing would.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.core.accounting import closure, stream_yields
from monitor.core.batches import BatchTracker, FeedWindow
from monitor.core.bounded import RecentSet
from monitor.core.flow import flow_mass
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.core.samples import SERVER_CLOCK, Quality, Sample, lot_id_text
from monitor.core.screening import Reject, screen_numeric
from monitor.core.series import NumericSeries, TextSeries
from monitor.core.spec import LineSpec, SourceKind, StreamSpec
from monitor.core.totalizer import counter_mass, update_cycle
from monitor.core.weighings import Weighing, bag_weighings, weighed_mass

CHECKPOINT_FORMAT = 1
_BAG_ID_TOLERANCE_S = 1.0
_COUNTED_BAGS_KEPT = 20_000
_FINALISED_KEPT = 50  # batches whose bags are remembered in case the lot is fed again
LiveWindow = FeedWindow


@dataclass(frozen=True, slots=True)
class LiveBatch:
    """The batch in progress, as far as it has accrued."""

    batch_id: str
    start: float
    chemistry: str
    feed_form: str
    masses_kg: dict[str, float]
    start_observed: bool

    @property
    def running_yield(self) -> float:
        feed = self.masses_kg.get("feed", 0.0)
        return self.masses_kg.get("black_mass", math.nan) / feed if feed > 0 else math.nan


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
                self.vouch(s.ts)
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

    def vouch(self, ts: float) -> None:
        """The server's clock read ts: every value stamped up to then has been delivered."""
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
        stream = self._stream_by_tag.get(s.tag)  # None: the energy meter
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
        finite = np.isfinite(values)
        reasons = [
            (Reject.BAD_QUALITY, ~usable),
            (Reject.UNCERTAIN, quality == Quality.UNCERTAIN),
            (Reject.NOT_FINITE, (quality == Quality.GOOD) & ~finite),
            (Reject.NEGATIVE, (quality == Quality.GOOD) & finite & (values < 0)),
        ]
        if stream is not None and stream.plausible_max is not None:
            reasons.append((Reject.IMPLAUSIBLE, (quality == Quality.GOOD) & finite & (values > stream.plausible_max)))
        refused = np.zeros(ts.size, dtype=bool)
        for why, candidates in reasons:
            mask = candidates & ~refused
            if mask.any():
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
            done.append(self._finalise(self._pending.popleft()))
        self._trim()
        return done

    def live(self) -> LiveBatch | None:
        cur = self._tracker.current
        if cur is None:
            return None
        end = self._watermark
        masses = {s.name: self._stream_mass(s, cur.start, end)[0].mass_kg for s in self.spec.streams if s.tag}
        return LiveBatch(
            batch_id=cur.batch_id,
            start=cur.start,
            chemistry=self._attr(self.spec.chemistry_tag, cur),
            feed_form=self._attr(self.spec.feed_form_tag, cur),
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

    # -- checkpoint ---------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """Everything needed to resume the lots in progress after a restart (JSON-ready)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "line": self.spec.line,
            "watermark": self._watermark,
            "vouched": self._vouched,
            "retimed": list(self._retimed),
            "last_feed_activity": self._last_feed_activity,
            "tracker": self._tracker.dump(),
            "pending": [asdict(w) for w in self._pending],
            "numeric": {tag: series.dump() for tag, series in self._numeric.items()},
            "text": {tag: series.dump() for tag, series in self._text.items()},
            "rejects": list(self._rejects),
            "counted_bags": list(self._counted_bags),
            "gaps": list(self._gaps),
            "accepted": dict(self.stats.accepted),
            "rejected": [[tag, why, n] for (tag, why), n in self.stats.rejected.items()],
            "duplicates": self.stats.duplicates,
        }

    @classmethod
    def load(cls, spec: LineSpec, state: dict[str, Any], *, settle_s: float = 0.0) -> Engine:
        """An engine resumed from `dump()`; ValueError when the checkpoint is not this line's."""
        if state.get("format") != CHECKPOINT_FORMAT or state.get("line") != spec.line:
            raise ValueError(
                f"checkpoint of line {state.get('line')!r} format {state.get('format')!r}, "
                f"expected line {spec.line!r} format {CHECKPOINT_FORMAT}"
            )
        e = cls(spec, settle_s=settle_s)
        e._watermark = float(state["watermark"])
        e._vouched = float(state.get("vouched", float("-inf")))
        e._retimed = deque((float(t), str(tag)) for t, tag in state.get("retimed", []))
        e._last_feed_activity = float(state["last_feed_activity"])
        e._tracker = BatchTracker.load(state["tracker"], resume_within_s=spec.resume_within_s)
        e._pending = deque(FeedWindow(**w) for w in state["pending"])
        for tag, data in state["numeric"].items():
            if tag in e._numeric:  # a tag dropped from the config is simply not resumed
                e._numeric[tag] = NumericSeries.load(data)
        for tag, data in state["text"].items():
            if tag in e._text:
                e._text[tag] = TextSeries.load(data)
        e._rejects = deque((float(t), str(tag)) for t, tag in state["rejects"])
        for bag in state["counted_bags"]:
            e._counted_bags.add(str(bag))
        e._gaps = deque((float(a), float(b), bool(r)) for a, b, r in state["gaps"])
        e.stats.accepted.update(state["accepted"])
        for tag, why, n in state["rejected"]:
            e.stats.rejected[(tag, why)] += int(n)
        e.stats.duplicates = int(state["duplicates"])
        e.resumed_at = e._watermark
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
            if s.source is not SourceKind.WEIGHING:
                # a value after t1 is in, or the server's clock vouches that none came for one update
                # cycle past t1 (report-by-exception: a quiet counter holds), or it has been quiet for long
                quiet_long_enough = self._watermark >= t1 + self.spec.stale_after_s
                vouched = self._vouched >= t1 + self.settle_s + self._cycle(s, t1)
                if self._numeric[s.tag].last_ts < t1 and not (quiet_long_enough or vouched):
                    return False
        return True

    def _stream_mass(self, s: StreamSpec, start: float, end: float) -> tuple[StreamMass, list[str]]:
        assert s.tag is not None
        t0, t1 = start + s.delay_s, end + s.delay_s
        ts, v = self._numeric[s.tag].arrays()
        flags: list[str] = []
        items: tuple[tuple[str, float], ...] = ()
        boundary = 0.0
        if s.source is SourceKind.TOTALIZER:
            rollover = s.rollover * s.scale if s.rollover is not None else self._rollover.get(s.tag)
            cm = counter_mass(ts, v, t0, t1, rollover=rollover, min_cycle_s=self._min_cycle_s(s))
            mass, boundary = cm.mass, cm.boundary
            flags += ["boundary_split"] * (boundary > 0)
            flags += ["reset"] * bool(cm.resets) + ["rollover"] * bool(cm.rollovers)
            flags += ["counter_anomaly"] * bool(cm.anomalies)
            if not cm.start_observed:
                flags.append("start_not_observed")
            if not cm.end_observed:
                flags.append("end_not_observed")
        elif s.source is SourceKind.FLOW:
            fm = flow_mass(ts, v, t0, t1, max_gap_s=s.max_gap_s)
            mass = fm.mass
            flags += ["estimated"] * bool(fm.gaps) + ["window_not_covered"] * (not fm.covered)
        else:
            counted = self._counted_bags if s.bag_scope == "plant" else frozenset[str]()
            wm = weighed_mass(self._weighings(s, t0, t1), t0, t1, already_counted=counted)
            mass, items = wm.mass, wm.items
            flags += ["duplicate_bags"] * bool(wm.duplicates)
        n = int(np.searchsorted(ts, t1, side="right") - np.searchsorted(ts, t0, side="right"))  # t0 < ts <= t1
        return StreamMass(s.name, mass, s.source.value, t0, t1, n, tuple(flags), items, boundary), flags

    def _min_cycle_s(self, s: StreamSpec) -> float:
        return max(s.min_cycle_s, self._min_cycle.get(s.tag or "", 0.0))

    def _cycle(self, s: StreamSpec, t: float) -> float:
        """How long after t an increment cut by t can still be reported (the counter's update cycle)."""
        if s.source is not SourceKind.TOTALIZER or s.tag is None:
            return 0.0
        ts, v = self._numeric[s.tag].arrays()
        return max(update_cycle(ts, v, int(np.searchsorted(ts, t))), self._min_cycle_s(s))

    def _weighings(self, s: StreamSpec, t0: float, t1: float) -> list[Weighing]:
        """The bags weighed in (t0, t1]: each new bag id paired with the net weight in force."""
        assert s.tag is not None
        ids = self._text.get(s.bag_id_tag) if s.bag_id_tag else None
        t_arr, v_arr = self._numeric[s.tag].arrays()
        return bag_weighings(ids, t_arr, v_arr, t0, t1, tolerance_s=_BAG_ID_TOLERANCE_S)

    def _attr(self, tag: str | None, w: FeedWindow | LiveWindow) -> str:
        """An attribute of a lot: the value in force shortly after its start (PLCs write it after the id)."""
        if not tag or tag not in self._text:
            return ""
        settle = self.spec.attributes_settle_s
        if w.end is not None:
            settle = min(settle, 0.5 * (w.end - w.start))
        t = w.start + settle
        return self._text[tag].at(t) or self._text[tag].exact(t, 1.0) or ""

    def _finalise(self, w: FeedWindow) -> BatchResult:
        assert w.end is not None
        streams: list[StreamMass] = []
        flags: list[str] = []
        for s in self.spec.streams:
            if not s.tag:
                continue
            sm, sflags = self._stream_mass(s, w.start, w.end)
            streams.append(sm)
            flags += [f"{s.name}:{f}" for f in sflags]
            if s.bag_scope == "plant":
                for bag, _ in sm.items:
                    self._counted_bags.add(bag)
                self._bags_of[w.batch_id] = tuple(b for b, _ in sm.items)
                while len(self._bags_of) > _FINALISED_KEPT:
                    del self._bags_of[next(iter(self._bags_of))]
        masses = {sm.stream: sm.mass_kg for sm in streams}
        feed_kg = masses.get(self.spec.feed.name, math.nan)
        measured = {k: m for k, m in masses.items() if k != self.spec.feed.name}
        for s in self.spec.products:
            if s.source in (SourceKind.UNMEASURED, SourceKind.ESTIMATE):
                est = feed_kg - sum(measured.values())
                streams.append(StreamMass(s.name, est, "balance", w.start, w.end, 0, ("estimated",)))
                masses[s.name] = est
        yields = stream_yields({k: m for k, m in masses.items() if k != self.spec.feed.name}, feed_kg)
        if not w.start_observed:
            flags.append("start_not_observed")
        if w.abandoned:
            flags.append("abandoned")
        if w.resumed:
            flags.append("resumed")
        horizon = w.end + self._max_delay
        for g0, g1, recovered in self._gaps:
            if g0 < horizon and g1 > w.start:
                flags.append("collector_gap_backfilled" if recovered else "collector_gap")
        if self.resumed_at is not None and w.start < self.resumed_at < horizon:
            flags.append("resumed_from_checkpoint")
        rejected = sum(1 for ts, _ in self._rejects if w.start <= ts <= horizon)
        if rejected:
            flags.append("rejected_samples")
        retimed = {tag for ts, tag in self._retimed if w.start <= ts <= horizon}
        if retimed:  # values stood in at the server's or our receive time: said per stream, and once for the lot
            flags.append("timestamps_replaced")
            flags += [f"{s.name}:timestamp_replaced" for s in self.spec.streams if {s.tag, s.bag_id_tag} & retimed]
        return BatchResult(
            line=self.spec.line,
            batch_id=w.batch_id,
            start=w.start,
            end=w.end,
            state=BatchState.COMPLETE if w.start_observed else BatchState.PARTIAL,
            chemistry=self._attr(self.spec.chemistry_tag, w),
            feed_form=self._attr(self.spec.feed_form_tag, w),
            supplier=self._attr(self.spec.supplier_tag, w),
            streams=tuple(streams),
            yields=yields,
            closure=closure(measured, feed_kg),
            flags=tuple(dict.fromkeys(flags)),
            rejected_samples=rejected,
            energy_kwh=self._energy(w.start, w.end),
        )

    def _energy(self, start: float, end: float) -> float:
        """kWh the line's meter counted while the batch was fed; NaN without a meter or its readings."""
        tag = self.spec.energy_tag
        if not tag:
            return math.nan
        ts, v = self._numeric[tag].arrays()
        cm = counter_mass(ts, v, start, end)  # a kWh meter is a totalizer like any other
        return cm.mass if cm.start_observed and cm.end_observed else math.nan

    def _trim(self) -> None:
        cur, reopenable = self._tracker.current, self._tracker.reopenable
        starts = [w.start for w in self._pending] + [w.start for w in (cur, reopenable) if w is not None]
        keep_from = min(starts) if starts else self._watermark - self._max_delay - self.spec.stale_after_s
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
