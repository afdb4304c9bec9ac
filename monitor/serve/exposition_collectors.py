"""/metrics by subject: the collectors' connection, sample counts, gaps, rejects, the server clock and limits."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.collectors.health import ConnState
from monitor.core.screening import Reject
from monitor.serve.snapshot import MetricsSnapshot


def collector_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "blackmass_collector_connected", "1 when the collector is connected and subscribed", labels=["line", "source"]
    )
    alive = GaugeMetricFamily(
        "blackmass_collector_up",
        "1 while the source's collector is connected (OPC-UA session, Modbus TCP, MQTT broker); feeds: mass "
        "(lot ids, attributes, mass streams) or process (process values only)",
        labels=["line", "source", "feeds"],
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
        alive.add_metric(
            [line, h.source, s.source_feeds.get(h.source, "mass")], 1.0 if h.state is ConnState.CONNECTED else 0.0
        )
        rc.add_metric([line, h.source], h.reconnects)
        for quality in ("good", "uncertain", "bad"):
            n.add_metric([line, h.source, quality], h.samples.get(quality, 0))
        if h.last_sample_wall is not None:
            age.add_metric([line, h.source], max(0.0, s.wall_now - h.last_sample_wall))
        bad.add_metric([line, h.source], h.failed_nodes)
    yield from (up, alive, rc, n, age, bad, gaps, back)
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


def clock_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
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
    wait = GaugeMetricFamily(
        "blackmass_collector_samples_waiting",
        "Samples held until their tag's controller clock is decided (docs/timestamps.md)",
        labels=["line", "source"],
    )
    tag_off = GaugeMetricFamily(
        "blackmass_collector_tag_clock_offset_seconds",
        "A tag's controller clock minus the server's, where it differs (aligned on its own)",
        labels=["line", "source", "tag"],
    )
    for h in s.collectors:
        wait.add_metric([line, h.source], h.samples_waiting)
        for tag, o in sorted(h.tag_offsets.items()):
            tag_off.add_metric([line, h.source, tag], o)
        if h.clock_offset_s is not None:
            off.add_metric([line, h.source], h.clock_offset_s)
        aligned.add_metric([line, h.source], h.clock_aligned_s)
        unres.add_metric([line, h.source], len(h.unresolved))
        for reason, n in sorted(h.timestamps_replaced.items()):
            repl.add_metric([line, h.source, reason], n)
    yield from (off, aligned, unres, repl, wait, tag_off)
    yield from server_families(s, line)


def server_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    """The server as the collector found it: a frozen clock, its limits, subscriptions, missed notifications."""
    frozen = GaugeMetricFamily(
        "blackmass_collector_server_clock_frozen",
        "1 while the server's CurrentTime stands still and values keep arriving",
        labels=["line", "source"],
    )
    subs = GaugeMetricFamily(
        "blackmass_collector_subscriptions",
        "Subscriptions the collector holds on the server (more than one where one was full)",
        labels=["line", "source"],
    )
    missed = CounterMetricFamily(
        "blackmass_collector_notifications_missed",
        "Notification messages missing from the sequence: republished, or lost and the current values read back",
        labels=["line", "source", "outcome"],
    )
    limit = GaugeMetricFamily(
        "blackmass_collector_server_limit",
        "Limits the server advertises (OperationLimits, ServerCapabilities); absent when none",
        labels=["line", "source", "limit"],
    )
    for h in s.collectors:
        frozen.add_metric([line, h.source], 1.0 if h.server_clock_frozen else 0.0)
        subs.add_metric([line, h.source], h.subscriptions)
        missed.add_metric([line, h.source, "republished"], h.notifications_republished)
        missed.add_metric([line, h.source, "read_back"], h.notifications_lost)
        for name, value in h.limits.advertised().items():
            limit.add_metric([line, h.source, name], value)
    yield from (frozen, subs, missed, limit)
