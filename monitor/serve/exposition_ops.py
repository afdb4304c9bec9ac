"""Metrics of the monitor's own upkeep, so its silent failures can page someone.

A separate collector beside the batch/process one (exposition.py): the monitor's identity and
link base, assay files refused, checkpoint writes failing, the data directory filling up, and
lots still waiting for final assays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(frozen=True, kw_only=True)
class OpsSnapshot:
    line: str
    version: str
    external_url: str  # base of the links in alert notifications (runbooks)
    lims_files_imported: int = 0
    lims_files_rejected: int = 0
    checkpoint_failures: int = 0
    data_dir_free_bytes: float = math.nan
    data_dir_size_bytes: float = math.nan
    assays_pending_batches: int = 0
    assays_pending_age_s: float = 0.0  # seconds (on the lots' clock) since the oldest such lot ended; 0: none


class OpsCollector(Collector):
    def __init__(self, snapshot: Callable[[], OpsSnapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        line = s.line
        info = GaugeMetricFamily(
            "blackmass_monitor_info",
            "This monitor: its version and the external URL its runbook links start with",
            labels=["line", "version", "external_url"],
        )
        info.add_metric([line, s.version, s.external_url], 1)
        yield info
        files = CounterMetricFamily(
            "blackmass_lims_files", "LIMS assay files taken from the inbox, by outcome", labels=["line", "outcome"]
        )
        files.add_metric([line, "imported"], s.lims_files_imported)
        files.add_metric([line, "rejected"], s.lims_files_rejected)
        yield files
        ck = CounterMetricFamily(
            "blackmass_checkpoint_write_failures",
            "Checkpoint writes that failed (disk full, permissions)",
            labels=["line"],
        )
        ck.add_metric([line], s.checkpoint_failures)
        yield ck
        if math.isfinite(s.data_dir_free_bytes) and math.isfinite(s.data_dir_size_bytes):
            free = GaugeMetricFamily(
                "blackmass_data_dir_free_bytes",
                "Bytes free to the monitor on its data directory's disk",
                labels=["line"],
            )
            free.add_metric([line], s.data_dir_free_bytes)
            size = GaugeMetricFamily(
                "blackmass_data_dir_size_bytes", "Size of the data directory's file system", labels=["line"]
            )
            size.add_metric([line], s.data_dir_size_bytes)
            yield free
            yield size
        n = GaugeMetricFamily(
            "blackmass_assays_pending_batches", "Completed lots without final assays yet", labels=["line"]
        )
        n.add_metric([line], s.assays_pending_batches)
        yield n
        age = GaugeMetricFamily(
            "blackmass_assays_pending_age_seconds",
            "Seconds since the oldest lot without final assays stopped feeding (0 when none)",
            labels=["line"],
        )
        age.add_metric([line], s.assays_pending_age_s)
        yield age
