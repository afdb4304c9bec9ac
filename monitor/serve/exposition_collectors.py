"""/metrics by subject: the collectors' connection, sample counts, gaps, rejects, the server clock and limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily as Counter
from prometheus_client.core import GaugeMetricFamily as Gauge
from prometheus_client.core import Metric

from monitor.collectors.health import CollectorHealth, ConnState
from monitor.core.screening import Reject
from monitor.serve.snapshot import Kind, MetricsSnapshot, family, per_source

# the families with one sample per collector: (kind, name, help, the collector's value)
PER_SOURCE: tuple[tuple[Kind, str, str, Callable[[CollectorHealth], float]], ...] = (
    (
        Gauge,
        "blackmass_collector_connected",
        "1 when the collector is connected and subscribed",
        lambda h: 1.0 if h.state is ConnState.CONNECTED else 0.0,
    ),
    (Counter, "blackmass_collector_reconnects", "Reconnections after a lost session", lambda h: h.reconnects),
    (
        Gauge,
        "blackmass_collector_failed_nodes",
        "Configured nodes that could not be subscribed",
        lambda h: h.failed_nodes,
    ),
    (
        Counter,
        "blackmass_collector_backfilled_samples",
        "Values read back from the server's history",
        lambda h: h.backfilled,
    ),
)
CLOCKS: tuple[tuple[Kind, str, str, Callable[[CollectorHealth], float]], ...] = (
    (
        Gauge,
        "blackmass_collector_clock_aligned_seconds",
        "Seconds subtracted from the server's timestamps to put them on our clock",
        lambda h: h.clock_aligned_s,
    ),
    (
        Gauge,
        "blackmass_collector_unresolved_tags",
        "Configured tags that did not resolve or were refused by the server",
        lambda h: len(h.unresolved),
    ),
    (
        Gauge,
        "blackmass_collector_samples_waiting",
        "Samples held until their tag's controller clock is decided (docs/timestamps.md)",
        lambda h: h.samples_waiting,
    ),
    (
        Gauge,
        "blackmass_collector_server_clock_frozen",
        "1 while the server's CurrentTime stands still and values keep arriving",
        lambda h: 1.0 if h.server_clock_frozen else 0.0,
    ),
    (
        Gauge,
        "blackmass_collector_subscriptions",
        "Subscriptions the collector holds on the server (more than one where one was full)",
        lambda h: h.subscriptions,
    ),
)


def collector_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    hs = s.collectors
    yield from (per_source(kind, name, doc, s, value) for kind, name, doc, value in PER_SOURCE)
    up = [((h.source, s.source_feeds.get(h.source, "mass")), float(h.state is ConnState.CONNECTED)) for h in hs]
    doc = (
        "1 while the source's collector is connected (OPC-UA session, Modbus TCP, MQTT broker); feeds: mass "
        "(lot ids, attributes, mass streams) or process (process values only)"
    )
    yield family(Gauge, "blackmass_collector_up", doc, line, up, ["source", "feeds"])
    quality = (((h.source, q), h.samples.get(q, 0)) for h in hs for q in ("good", "uncertain", "bad"))
    yield family(
        Counter, "blackmass_collector_samples", "Samples received by quality", line, quality, ["source", "quality"]
    )
    ages = [((h.source,), max(0.0, s.wall_now - h.last_sample_wall)) for h in hs if h.last_sample_wall is not None]
    yield family(
        Gauge,
        "blackmass_collector_last_sample_age_seconds",
        "Wall seconds since the last sample",
        line,
        ages,
        ["source"],
    )
    gaps = [
        ((h.source, r), n)
        for h in hs
        for r, n in (("true", h.gaps - h.unrecovered_gaps), ("false", h.unrecovered_gaps))
    ]
    doc = "Spans without live data, by whether the server's history filled them"
    yield family(Counter, "blackmass_collector_gaps", doc, line, gaps, ["source", "recovered"])
    # every (source, reason) pair exists from the start, at 0: rate() works before the first reject
    counts = {(h.source, r.value): 0 for h in hs for r in Reject}
    counts.update(s.rejected)
    doc = "Samples kept out of every mass sum, by reason"
    yield family(Counter, "blackmass_samples_rejected", doc, line, sorted(counts.items()), ["source", "reason"])


def clock_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    """Time as the servers keep it: lots waiting, clock offsets, replaced timestamps, unresolved tags;
    the server as the collector found it: a frozen clock, its limits, subscriptions, missed notifications."""
    hs = s.collectors
    doc = "Seconds since the oldest lot still waiting to be finalised stopped feeding (0: none waits)"
    yield family(Gauge, "blackmass_batch_pending_age_seconds", doc, line, [((), s.pending_age_s)])
    offsets = [((h.source,), h.clock_offset_s) for h in hs if h.clock_offset_s is not None]
    doc = "The server's clock minus ours, last measured"
    yield family(Gauge, "blackmass_collector_clock_offset_seconds", doc, line, offsets, ["source"])
    yield from (per_source(kind, name, doc, s, value) for kind, name, doc, value in CLOCKS)
    replaced = [((h.source, why), n) for h in hs for why, n in sorted(h.timestamps_replaced.items())]
    doc = "Values whose source timestamp was missing or implausible, by reason"
    yield family(Counter, "blackmass_collector_timestamps_replaced", doc, line, replaced, ["source", "reason"])
    tags = [((h.source, tag), o) for h in hs for tag, o in sorted(h.tag_offsets.items())]
    doc = "A tag's controller clock minus the server's, where it differs (aligned on its own)"
    yield family(Gauge, "blackmass_collector_tag_clock_offset_seconds", doc, line, tags, ["source", "tag"])
    moved = [((h.source, tag), n) for h in hs for tag, n in sorted(h.tag_clocks_redecided.items())]
    doc = "Times a tag's decided controller clock was contradicted (a PLC clock set by hand) and decided again"
    yield family(Counter, "blackmass_collector_tag_clock_redecided", doc, line, moved, ["source", "tag"])
    missed = [
        ((h.source, outcome), n)
        for h in hs
        for outcome, n in (("republished", h.notifications_republished), ("read_back", h.notifications_lost))
    ]
    doc = "Notification messages missing from the sequence: republished, or lost and the current values read back"
    yield family(Counter, "blackmass_collector_notifications_missed", doc, line, missed, ["source", "outcome"])
    limits = [((h.source, name), value) for h in hs for name, value in h.limits.advertised().items()]
    doc = "Limits the server advertises (OperationLimits, ServerCapabilities); absent when none"
    yield family(Gauge, "blackmass_collector_server_limit", doc, line, limits, ["source", "limit"])
