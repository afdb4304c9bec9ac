"""Prometheus exposition: fresh metric families on every scrape from an immutable snapshot.

Mass is in grams, fractions are ratios, times are epoch seconds held as values (DESIGN §8).
No batch id appears on a time series except blackmass_batch_info (the batch in progress) and
blackmass_batch_last_info (the last completed one): one series per line at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.collectors.opcua import CollectorHealth, ConnState
from monitor.core.engine import LiveBatch
from monitor.core.results import BatchResult
from monitor.core.rules import BALANCE_P_FAIL
from monitor.core.screening import Reject

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
    metal_grams_total: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (metal, stream) -> g
    yield_baseline: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (chemistry, form) -> ratio
    yield_floors: Mapping[str, float] = field(default_factory=dict)  # feed form -> ratio
    live: LiveBatch | None = None
    flushing: int = 0
    plant_time: float = math.nan
    process: tuple[ProcessValue, ...] = ()
    collectors: tuple[CollectorHealth, ...] = ()
    rejected: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (source, reason) -> n
    pending_age_s: float = 0.0  # how long the oldest lot has waited to be finalised since it stopped feeding


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
        yield from _metal_families(s, line)
        yield from _live_families(s, line)
        for p in s.process:
            g = GaugeMetricFamily(f"blackmass_{p.metric}", p.help or p.metric, labels=["line"])
            g.add_metric([line], p.value)
            yield g
        yield from _collector_families(s, line)
        yield from _clock_families(s, line)


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
    yield _gauge(
        "blackmass_batch_co2e",
        "CO2e of the preprocessing step of the last completed batch (electricity, nitrogen, other inputs), grams",
        line,
        co2e,
        unit="grams",
    )


def _gauge(name: str, doc: str, line: str, value: float, unit: str = "") -> Metric:
    g = GaugeMetricFamily(name, doc, labels=["line"], unit=unit)
    if math.isfinite(value):
        g.add_metric([line], value)
    return g


def _metal_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    grams = CounterMetricFamily(
        "blackmass_metal_mass",
        "Element mass of batches with final assays, grams",
        labels=["line", "metal", "stream"],
        unit="grams",
    )
    for (metal, stream), g in sorted(s.metal_grams_total.items()):
        grams.add_metric([line, metal, stream], g)
    yield grams
    base = GaugeMetricFamily(
        "blackmass_yield_baseline",
        "Median black-mass yield of the batches before the latest one of a chemistry and feed form",
        labels=["line", "chemistry", "feed_form"],
        unit="ratio",
    )
    for (chem, form), v in sorted(s.yield_baseline.items()):
        base.add_metric([line, chem, form], v)
    yield base
    floor = GaugeMetricFamily(
        "blackmass_yield_floor",
        "Lowest acceptable black-mass yield of a feed form (configured)",
        labels=["line", "feed_form"],
        unit="ratio",
    )
    for form, v in sorted(s.yield_floors.items()):
        floor.add_metric([line, form], v)
    yield floor
    b = s.last_batch
    if b is not None:
        info = GaugeMetricFamily(
            "blackmass_batch_last_info",
            "Id, chemistry and feed form of the last completed batch (alerts name the lot from it)",
            labels=["line", "batch_id", "chemistry", "feed_form"],
        )
        info.add_metric([line, b.batch_id, b.chemistry, b.feed_form], 1)
        yield info
        measured = sum(x.mass_kg for x in b.streams if x.source not in ("balance",) and x.stream != "feed")
        yield _gauge(
            "blackmass_batch_unaccounted_loss_grams",
            "Feed minus every measured product of the last completed batch",
            line,
            (b.feed_kg - measured) * G_PER_KG,
        )
        if b.balance is not None:
            yield _gauge(
                "blackmass_batch_balance_p_value",
                "p-value of the last completed batch's balance test "
                f"(chi-squared); below {BALANCE_P_FAIL:g} the data are inconsistent",
                line,
                b.balance.p_value,
            )
            yield _gauge(
                "blackmass_batch_yield_reconciled_ratio",
                "Reconciled black-mass yield of the last completed batch",
                line,
                b.balance.yield_reconciled,
            )
            yield _gauge(
                "blackmass_batch_yield_sd_ratio",
                "Standard deviation of the reconciled black-mass yield",
                line,
                b.balance.yield_sd,
            )
    a = s.last_assayed
    if a is not None:
        rec = GaugeMetricFamily(
            "blackmass_batch_recovery",
            "Recovery into black mass of the last assayed batch",
            labels=["line", "metal"],
            unit="ratio",
        )
        for m in a.metals:
            if math.isfinite(m.recovery):
                rec.add_metric([line, m.element], m.recovery)
        yield rec
        yield _gauge(
            "blackmass_batch_assays_final",
            "1 when the last assayed batch's assays are final, 0 when preliminary",
            line,
            1.0 if a.assay_status == "final" else 0.0,
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


def _collector_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "blackmass_collector_connected", "1 when the collector is connected and subscribed", labels=["line", "source"]
    )
    rc = CounterMetricFamily(
        "blackmass_collector_reconnects", "Reconnections after a lost session", labels=["line", "source"]
    )
    n = CounterMetricFamily(
        "blackmass_collector_samples", "Samples received by quality", labels=["line", "source", "quality"]
    )
    age = GaugeMetricFamily(
        "blackmass_collector_last_sample_age_seconds", "Wall seconds since the last sample", labels=["line", "source"]
    )
    bad = GaugeMetricFamily(
        "blackmass_collector_failed_nodes", "Configured nodes that could not be subscribed", labels=["line", "source"]
    )
    gaps = CounterMetricFamily(
        "blackmass_collector_gaps",
        "Spans without live data, by whether the server's history filled them",
        labels=["line", "source", "recovered"],
    )
    back = CounterMetricFamily(
        "blackmass_collector_backfilled_samples",
        "Values read back from the server's history",
        labels=["line", "source"],
    )
    for h in s.collectors:
        gaps.add_metric([line, h.source, "true"], h.gaps - h.unrecovered_gaps)
        gaps.add_metric([line, h.source, "false"], h.unrecovered_gaps)
        back.add_metric([line, h.source], h.backfilled)
        up.add_metric([line, h.source], 1.0 if h.state is ConnState.CONNECTED else 0.0)
        rc.add_metric([line, h.source], h.reconnects)
        for quality in ("good", "uncertain", "bad"):
            n.add_metric([line, h.source, quality], h.samples.get(quality, 0))
        if h.last_sample_wall is not None:
            age.add_metric([line, h.source], max(0.0, s.wall_now - h.last_sample_wall))
        bad.add_metric([line, h.source], h.failed_nodes)
    yield from (up, rc, n, age, bad, gaps, back)
    rej = CounterMetricFamily(
        "blackmass_samples_rejected",
        "Samples kept out of every mass sum, by reason",
        labels=["line", "source", "reason"],
    )
    # every (source, reason) pair exists from the start, at 0: rate() works before the first reject
    counts = {(h.source, r.value): 0 for h in s.collectors for r in Reject}
    counts.update(s.rejected)
    for (source, reason), count in sorted(counts.items()):
        rej.add_metric([line, source, reason], count)
    yield rej


def _clock_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    """Time as the servers keep it: lots waiting, clock offsets, replaced timestamps, unresolved tags."""
    pend = GaugeMetricFamily(
        "blackmass_batch_pending_age_seconds",
        "Seconds since the oldest lot still waiting to be finalised stopped feeding (0: none waits)",
        labels=["line"],
    )
    pend.add_metric([line], s.pending_age_s)
    yield pend
    off = GaugeMetricFamily(
        "blackmass_collector_clock_offset_seconds",
        "The server's clock minus ours, last measured",
        labels=["line", "source"],
    )
    aligned = GaugeMetricFamily(
        "blackmass_collector_clock_aligned_seconds",
        "Seconds subtracted from the server's timestamps to put them on our clock",
        labels=["line", "source"],
    )
    unres = GaugeMetricFamily(
        "blackmass_collector_unresolved_tags",
        "Configured tags that did not resolve or were refused by the server",
        labels=["line", "source"],
    )
    repl = CounterMetricFamily(
        "blackmass_collector_timestamps_replaced",
        "Values whose source timestamp was missing or implausible, by reason",
        labels=["line", "source", "reason"],
    )
    for h in s.collectors:
        if h.clock_offset_s is not None:
            off.add_metric([line, h.source], h.clock_offset_s)
        aligned.add_metric([line, h.source], h.clock_aligned_s)
        unres.add_metric([line, h.source], len(h.unresolved))
        for reason, n in sorted(h.timestamps_replaced.items()):
            repl.add_metric([line, h.source, reason], n)
    yield from (off, aligned, unres, repl)
