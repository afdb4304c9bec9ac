"""What one scrape of /metrics shows: an immutable snapshot the app swaps whole, and the unit rules.

Mass is in grams, fractions are ratios, times are epoch seconds held as values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.collectors.health import CollectorHealth
from monitor.core.results import BatchResult, LiveBatch

G_PER_KG = 1000.0
T = TypeVar("T")
LOT_LABELS = ("batch_id", "chemistry", "feed_form")


@dataclass(frozen=True, kw_only=True)
class ProcessValue:
    metric: str
    help: str
    value: float


@dataclass(frozen=True, kw_only=True)
class MetricsSnapshot:
    line: str
    wall_now: float
    last_batch: BatchResult | None = None
    last_assayed: BatchResult | None = None
    completed_total: int = 0
    stream_grams_total: Mapping[str, float] = field(default_factory=dict)
    unattributed_grams_total: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (stream, reason) -> g
    metal_grams_total: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (metal, stream) -> g
    yield_baseline: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (chemistry, form) -> ratio
    yield_floors: Mapping[str, float] = field(default_factory=dict)  # feed form -> ratio
    live: LiveBatch | None = None
    flushing: int = 0
    plant_time: float = math.nan
    process: tuple[ProcessValue, ...] = ()
    collectors: tuple[CollectorHealth, ...] = ()
    source_feeds: Mapping[str, str] = field(default_factory=dict)  # source -> "mass" (lots) or "process"
    rejected: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (source, reason) -> n
    pending_age_s: float = 0.0  # how long the oldest lot has waited to be finalised since it stopped feeding


Kind = type[GaugeMetricFamily] | type[CounterMetricFamily]
Rows = Iterable[tuple[Sequence[str], float]]


def family(
    kind: Kind, name: str, doc: str, line: str, rows: Rows, labels: Sequence[str] = (), unit: str = ""
) -> Metric:
    """One family of the line's series: `labels` after "line", a sample per (label values, value) of
    `rows`; a value that is not finite gives no sample (unknown is absent, never NaN)."""
    f = kind(name, doc, labels=["line", *labels], unit=unit)
    for keys, value in rows:
        if math.isfinite(value):
            f.add_metric([line, *keys], value)
    return f


def gauge(name: str, doc: str, line: str, value: float, unit: str = "") -> Metric:
    """A family of the line's one gauge (no sample when the value is unknown)."""
    return family(GaugeMetricFamily, name, doc, line, [((), value)], unit=unit)


def counter(name: str, doc: str, line: str, value: float) -> Metric:
    return family(CounterMetricFamily, name, doc, line, [((), value)])


def lot_info(name: str, doc: str, line: str, lot: BatchResult | LiveBatch) -> Metric:
    """The family of one lot's identity (id, chemistry, feed form as labels; value 1): the only
    series that carry a batch id, one per line at a time."""
    return family(GaugeMetricFamily, name, doc, line, [((lot.batch_id, lot.chemistry, lot.feed_form), 1.0)], LOT_LABELS)


def per_source(
    kind: Kind, name: str, doc: str, s: MetricsSnapshot, value: Callable[[CollectorHealth], float], unit: str = ""
) -> Metric:
    """A family with one sample per collector (labels line, source)."""
    return family(kind, name, doc, s.line, (((h.source,), value(h)) for h in s.collectors), ["source"], unit)


class FamiliesCollector(Collector, Generic[T]):
    """A collector of fresh families from a snapshot the app swaps whole: scrapes never see a half update."""

    def __init__(self, snapshot: Callable[[], T]) -> None:
        self.snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self.families(self.snapshot())

    def families(self, s: T) -> Iterator[Metric]:
        raise NotImplementedError
