"""Prometheus exposition: fresh metric families on every scrape from an immutable snapshot.

Mass is in grams, fractions are ratios, times are epoch seconds held as values (serve/snapshot.py).
No batch id appears on a time series except blackmass_batch_info (the batch in progress) and
blackmass_batch_last_info (the last completed one): one series per line at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily as Counter
from prometheus_client.core import GaugeMetricFamily as Gauge
from prometheus_client.core import Metric

from monitor.serve.exposition_collectors import clock_families, collector_families
from monitor.serve.exposition_metals import metal_families
from monitor.serve.snapshot import G_PER_KG, FamiliesCollector, MetricsSnapshot, counter, family, gauge, lot_info


class SnapshotCollector(FamiliesCollector[MetricsSnapshot]):
    """The batch, metal, live, process and collector families of one line."""

    def families(self, s: MetricsSnapshot) -> Iterator[Metric]:
        line = s.line
        yield from _batch_families(s, line)
        yield from metal_families(s, line)
        yield from _live_families(s, line)
        yield from (gauge(f"blackmass_{p.metric}", p.help or p.metric, line, p.value) for p in s.process)
        yield from collector_families(s, line)
        yield from clock_families(s, line)


def _batch_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    yield counter("blackmass_batches_completed", "Batches completed (masses final)", line, s.completed_total)
    doc = "Mass of completed batches per stream, grams"
    rows = [((stream,), g) for stream, g in sorted(s.stream_grams_total.items())]
    yield family(Counter, "blackmass_stream_mass", doc, line, rows, ["stream"], unit="grams")
    # every stream from the start, at 0: increase() works
    lost = [
        ((stream, "no_lot"), s.unattributed_grams_total.get((stream, "no_lot"), 0.0))
        for stream in sorted(s.stream_grams_total)
    ]
    lost += [
        ((stream, why), g)
        for (stream, why), g in sorted(s.unattributed_grams_total.items())
        if why != "no_lot" or stream not in s.stream_grams_total
    ]
    doc = "Mass a stream's counter rose that no lot received, grams (docs/timestamps.md: conservation)"
    yield family(Counter, "blackmass_stream_unattributed", doc, line, lost, ["stream", "reason"], unit="grams")
    b = s.last_batch
    if b is None:
        return
    yields = [((stream,), v) for stream, v in sorted(b.yields.items())]
    doc = "Stream yield of the last completed batch (M_s / M_feed)"
    yield family(Gauge, "blackmass_batch_yield", doc, line, yields, ["stream"], unit="ratio")
    masses = [((sm.stream,), sm.mass_kg * G_PER_KG) for sm in b.streams]
    doc = "Stream mass of the last completed batch, grams"
    yield family(Gauge, "blackmass_batch_mass", doc, line, masses, ["stream"], unit="grams")
    doc = "Mass balance closure of the last completed batch (measured products / feed)"
    yield gauge("blackmass_batch_closure", doc, line, b.closure, unit="ratio")
    doc = "When the last completed batch stopped feeding (plant source time)"
    yield gauge("blackmass_batch_end_timestamp_seconds", doc, line, b.end)
    yield gauge(
        "blackmass_batch_data_quality_flags", "Data-quality flags on the last completed batch", line, len(b.flags)
    )
    co2e = b.carbon.co2e_kg * G_PER_KG if b.carbon else math.nan  # kg on the lot, grams here (base unit)
    doc = "CO2e of the preprocessing step of the last completed batch (electricity, nitrogen, other inputs), grams"
    yield gauge("blackmass_batch_co2e", doc, line, co2e, unit="grams")


def _live_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    yield gauge("blackmass_batches_flushing", "Batches fed, products still arriving", line, s.flushing)
    if math.isfinite(s.plant_time):
        yield gauge("blackmass_source_time_seconds", "Latest source timestamp seen (plant time)", line, s.plant_time)
    live = s.live
    if live is None:
        return
    yield lot_info("blackmass_batch_info", "The batch being fed now (the only series with a batch id)", line, live)
    doc = "Mass so far of the batch being fed, grams"
    masses = [((stream,), kg * G_PER_KG) for stream, kg in sorted(live.masses_kg.items())]
    yield family(Gauge, "blackmass_batch_in_progress_mass", doc, line, masses, ["stream"], unit="grams")
    doc = "Running black-mass yield of the batch being fed"
    yield gauge("blackmass_batch_in_progress_yield", doc, line, live.running_yield, unit="ratio")
    doc = "When the batch being fed started (plant source time)"
    yield gauge("blackmass_batch_in_progress_start_timestamp_seconds", doc, line, live.start)
