"""What /metrics counts across batches: completed lots, stream and metal grams, yield baselines, last batches."""

from __future__ import annotations

import math
import statistics
from collections import deque

from monitor.core.bounded import RecentSet
from monitor.core.results import BatchResult
from monitor.core.rules import BASELINE_BATCHES, BASELINE_MIN_BATCHES
from monitor.serve.snapshot import G_PER_KG


class Tallies:
    """Totals folded from stored batch versions; each batch counts once, its final metals once."""

    def __init__(self) -> None:
        # batches whose masses (final metal masses) are in the counters; the newest 50,000 are ample:
        # a batch gets new versions for days, not years
        self._counted = RecentSet(50_000)
        self._final = RecentSet(50_000)
        self.completed = 0
        self.grams: dict[str, float] = {}
        self.metal_grams: dict[tuple[str, str], float] = {}
        self._history: dict[tuple[str, str], deque[float]] = {}  # (chemistry, feed form) -> recent yields
        self.baseline: dict[tuple[str, str], float] = {}
        self.last: BatchResult | None = None
        self.last_assayed: BatchResult | None = None

    def note(self, r: BatchResult) -> None:
        """Fold one stored version (not a partial lot) into counters, baselines and the 'last batch' values."""
        if r.batch_id not in self._counted:
            self._counted.add(r.batch_id)
            self.completed += 1
            for sm in r.streams:
                if math.isfinite(sm.mass_kg) and sm.source != "balance":
                    self.grams[sm.stream] = self.grams.get(sm.stream, 0.0) + sm.mass_kg * G_PER_KG
            if math.isfinite(r.black_mass_yield) and r.chemistry:
                # the baseline a batch is judged against is made of the batches before it
                past = self._history.setdefault((r.chemistry, r.feed_form), deque(maxlen=BASELINE_BATCHES))
                if len(past) >= BASELINE_MIN_BATCHES:
                    self.baseline[(r.chemistry, r.feed_form)] = statistics.median(past)
                past.append(r.black_mass_yield)
            self.last = r
        elif self.last is not None and self.last.batch_id == r.batch_id:
            self.last = r
        if r.assay_status != "none":
            self.last_assayed = r
        if r.assay_status == "final" and r.batch_id not in self._final:
            self._final.add(r.batch_id)
            for m in r.metals:
                for stream, kg in (("feed", m.feed_kg), ("black_mass", m.black_mass_kg)):
                    if math.isfinite(kg):
                        key = (m.element, stream)
                        self.metal_grams[key] = self.metal_grams.get(key, 0.0) + kg * G_PER_KG
