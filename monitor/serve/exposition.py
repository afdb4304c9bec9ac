"""Prometheus exposition: fresh metric families on every scrape from an immutable snapshot.

Mass is in grams, fractions are ratios, times are epoch seconds held as values (serve/snapshot.py).
No batch id appears on a time series except blackmass_batch_info (the batch in progress) and
blackmass_batch_last_info (the last completed one): one series per line at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.serve.exposition_collectors import clock_families, collector_families
from monitor.serve.exposition_metals import metal_families
from monitor.serve.snapshot import G_PER_KG, MetricsSnapshot, gauge


class SnapshotCollector(Collector):
    """A one-method collector; the app swaps the snapshot, scrapes never see a half update."""

    def __init__(self, snapshot: Callable[[], MetricsSnapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        line = s.line
        yield from _batch_families(s, line)
        yield from metal_families(s, line)
        yield from _live_families(s, line)
        for p in s.process:
            g = GaugeMetricFamily(f"blackmass_{p.metric}", p.help or p.metric, labels=["line"])
            g.add_metric([line], p.value)
            yield g
        yield from collector_families(s, line)
        yield from clock_families(s, line)


def _batch_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    done = CounterMetricFamily("blackmass_batches_completed", "Batches completed (masses final)", labels=["line"])
    done.add_metric([line], s.completed_total)
    yield done
    total = CounterMetricFamily(
        "blackmass_stream_mass", "Mass of completed batches per stream, grams", labels=["line", "stream"], unit="grams"
    )
    for stream, grams in sorted(s.stream_grams_total.items()):
        total.add_metric([line, stream], grams)
    yield total
    lost = CounterMetricFamily(
        "blackmass_stream_unattributed",
        "Mass a stream's counter rose that no lot received, grams (docs/timestamps.md: conservation)",
        labels=["line", "stream", "reason"],
        unit="grams",
    )
    for stream in sorted(s.stream_grams_total):  # every stream from the start, at 0: increase() works
        lost.add_metric([line, stream, "no_lot"], s.unattributed_grams_total.get((stream, "no_lot"), 0.0))
    for (stream, why), grams in sorted(s.unattributed_grams_total.items()):
        if why != "no_lot" or stream not in s.stream_grams_total:
            lost.add_metric([line, stream, why], grams)
    yield lost
    b = s.last_batch
    if b is None:
        return
    y = GaugeMetricFamily(
        "blackmass_batch_yield",
        "Stream yield of the last completed batch (M_s / M_feed)",
        labels=["line", "stream"],
        unit="ratio",
    )
    m = GaugeMetricFamily(
        "blackmass_batch_mass",
        "Stream mass of the last completed batch, grams",
        labels=["line", "stream"],
        unit="grams",
    )
    for sm in b.streams:
        if math.isfinite(sm.mass_kg):
            m.add_metric([line, sm.stream], sm.mass_kg * G_PER_KG)
    for stream, value in sorted(b.yields.items()):
        if math.isfinite(value):
            y.add_metric([line, stream], value)
    yield y
    yield m
    c = GaugeMetricFamily(
        "blackmass_batch_closure",
        "Mass balance closure of the last completed batch (measured products / feed)",
        labels=["line"],
        unit="ratio",
    )
    if math.isfinite(b.closure):
        c.add_metric([line], b.closure)
    yield c
    end = GaugeMetricFamily(
        "blackmass_batch_end_timestamp_seconds",
        "When the last completed batch stopped feeding (plant source time)",
        labels=["line"],
    )
    end.add_metric([line], b.end)
    yield end
    q = GaugeMetricFamily(
        "blackmass_batch_data_quality_flags", "Data-quality flags on the last completed batch", labels=["line"]
    )
    q.add_metric([line], len(b.flags))
    yield q
    co2e = b.carbon.co2e_kg * G_PER_KG if b.carbon else math.nan  # kg on the lot, grams here (base unit)
    yield gauge(
        "blackmass_batch_co2e",
        "CO2e of the preprocessing step of the last completed batch (electricity, nitrogen, other inputs), grams",
        line,
        co2e,
        unit="grams",
    )


def _live_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    flushing = GaugeMetricFamily("blackmass_batches_flushing", "Batches fed, products still arriving", labels=["line"])
    flushing.add_metric([line], s.flushing)
    yield flushing
    if math.isfinite(s.plant_time):
        pt = GaugeMetricFamily(
            "blackmass_source_time_seconds", "Latest source timestamp seen (plant time)", labels=["line"]
        )
        pt.add_metric([line], s.plant_time)
        yield pt
    live = s.live
    if live is None:
        return
    info = GaugeMetricFamily(
        "blackmass_batch_info",
        "The batch being fed now (the only series with a batch id)",
        labels=["line", "batch_id", "chemistry", "feed_form"],
    )
    info.add_metric([line, live.batch_id, live.chemistry, live.feed_form], 1)
    yield info
    mass = GaugeMetricFamily(
        "blackmass_batch_in_progress_mass",
        "Mass so far of the batch being fed, grams",
        labels=["line", "stream"],
        unit="grams",
    )
    for stream, kg in sorted(live.masses_kg.items()):
        mass.add_metric([line, stream], kg * G_PER_KG)
    yield mass
    ry = GaugeMetricFamily(
        "blackmass_batch_in_progress_yield",
        "Running black-mass yield of the batch being fed",
        labels=["line"],
        unit="ratio",
    )
    if math.isfinite(live.running_yield):
        ry.add_metric([line], live.running_yield)
    yield ry
    st = GaugeMetricFamily(
        "blackmass_batch_in_progress_start_timestamp_seconds",
        "When the batch being fed started (plant source time)",
        labels=["line"],
    )
    st.add_metric([line], live.start)
    yield st
