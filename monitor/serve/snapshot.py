"""What one scrape of /metrics shows: an immutable snapshot the app swaps whole, and the unit rules.

Mass is in grams, fractions are ratios, times are epoch seconds held as values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.collectors.health import CollectorHealth
from monitor.core.results import BatchResult, LiveBatch

G_PER_KG = 1000.0


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


def gauge(name: str, doc: str, line: str, value: float, unit: str = "") -> Metric:
    g = GaugeMetricFamily(name, doc, labels=["line"], unit=unit)
    if math.isfinite(value):
        g.add_metric([line], value)
    return g
