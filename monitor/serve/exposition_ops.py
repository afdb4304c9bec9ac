"""Metrics of the monitor's own upkeep, so its silent failures can page someone.

A separate collector beside the batch/process one (exposition.py): the monitor's identity and
link base, assay files refused, checkpoint writes failing, the data directory filling up, and
lots still waiting for final assays.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily as Counter
from prometheus_client.core import GaugeMetricFamily as Gauge
from prometheus_client.core import Metric

from monitor.serve.snapshot import FamiliesCollector, counter, family, gauge


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


class OpsCollector(FamiliesCollector[OpsSnapshot]):
    def families(self, s: OpsSnapshot) -> Iterator[Metric]:
        line = s.line
        doc = "This monitor: its version and the external URL its runbook links start with"
        info = [((s.version, s.external_url), 1.0)]
        yield family(Gauge, "blackmass_monitor_info", doc, line, info, ["version", "external_url"])
        doc = "LIMS assay files taken from the inbox, by outcome"
        files = [(("imported",), s.lims_files_imported), (("rejected",), s.lims_files_rejected)]
        yield family(Counter, "blackmass_lims_files", doc, line, files, ["outcome"])
        doc = "Checkpoint writes that failed (disk full, permissions)"
        yield counter("blackmass_checkpoint_write_failures", doc, line, s.checkpoint_failures)
        if math.isfinite(s.data_dir_free_bytes) and math.isfinite(s.data_dir_size_bytes):
            doc = "Bytes free to the monitor on its data directory's disk"
            yield gauge("blackmass_data_dir_free_bytes", doc, line, s.data_dir_free_bytes)
            doc = "Size of the data directory's file system"
            yield gauge("blackmass_data_dir_size_bytes", doc, line, s.data_dir_size_bytes)
        doc = "Completed lots without final assays yet"
        yield gauge("blackmass_assays_pending_batches", doc, line, s.assays_pending_batches)
        doc = "Seconds since the oldest lot without final assays stopped feeding (0 when none)"
        yield gauge("blackmass_assays_pending_age_seconds", doc, line, s.assays_pending_age_s)
