"""Upkeep: what the monitor's own failures look like on /metrics (serve/exposition_ops.py).

LIMS files imported and refused, checkpoint failures, disk space, lots waiting for final assays,
and the URL alerts link back to. A part the Monitor (runs/app.py) owns and tells what happened,
kept apart so the wiring reads on its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.accounting.assay_import import Accountant, ImportSummary
from monitor.config import MonitorConfig
from monitor.core.results import BatchResult
from monitor.errors import StoreError
from monitor.serve.exposition_ops import OpsSnapshot
from monitor.store.checkpoint import write_checkpoint

log = logging.getLogger("monitor.runs.app")  # the service's log


class Upkeep:
    """The Monitor's upkeep counters and the snapshot the ops collector reads per scrape. The Monitor
    owns one and tells it what happened (a lot stored, a checkpoint that failed); it reads nothing of
    the Monitor's."""

    def __init__(self, cfg: MonitorConfig, data_dir: Path, accountant: Accountant, clock: Callable[[], float]) -> None:
        self.cfg, self.data_dir, self.accountant = cfg, data_dir, accountant
        self._clock = clock  # the clock lots are stamped on (the demo's is the plant's)
        self.lims_imported = 0
        self.lims_rejected = 0
        self.checkpoint_failures = 0
        self._assays_pending: dict[str, float] = {}  # completed lot without final assays -> its end
        self._assays_oldest: tuple[int, float] = (0, math.nan)  # (count, oldest end), read by scrapes
        self._assays_dirty = False
        h = cfg.http
        self.external_url = h.external_url or base_url(h.host, h.port, tls=h.tls_certificate is not None)

    async def keep_checkpoint(
        self, path: Path, state: Callable[[], dict[str, Any]], moved: Callable[[], float]
    ) -> None:
        """Save `state()` every `checkpoint_every_s` whenever `moved()` changed; the file write leaves the loop."""
        saved_at = float("nan")
        while True:
            await asyncio.sleep(self.cfg.checkpoint_every_s)
            if moved() == saved_at:
                continue
            try:
                await asyncio.to_thread(write_checkpoint, path, state())
            except OSError as exc:  # keep accounting; the alert on the counter tells a person
                self.checkpoint_failures += 1
                log.error(
                    "%s: checkpoint not written: %s (hint: free space or fix permissions on the data "
                    "directory; until then a crash loses the lots in progress)",
                    path,
                    exc,
                )
            else:
                saved_at = moved()

    def note_assay_wait(self, r: BatchResult) -> None:
        if r.assay_status == "final":
            self._assays_dirty |= self._assays_pending.pop(r.batch_id, None) is not None
        elif r.batch_id not in self._assays_pending:
            self._assays_pending[r.batch_id] = r.end
            self._assays_dirty = True

    def assays_waiting(self) -> tuple[int, float]:
        """(lots waiting for final assays, the oldest one's end); recomputed on the loop when changed."""
        if self._assays_dirty:
            self._assays_dirty = False
            ends = self._assays_pending.values()
            self._assays_oldest = (len(ends), min(ends) if ends else math.nan)
        return self._assays_oldest

    def ops_snapshot(self) -> OpsSnapshot:
        """Built per scrape (in the scrape thread): it only reads numbers the loop replaced whole."""
        try:
            disk = shutil.disk_usage(self.data_dir)
            free, size = float(disk.free), float(disk.total)
        except OSError as exc:
            log.warning("%s: disk usage unknown: %s", self.data_dir, exc)
            free = size = math.nan
        count, oldest = self._assays_oldest
        age = self._clock() - oldest if count else 0.0  # the clock lots are stamped on, as for pending lots
        return OpsSnapshot(
            line=self.cfg.line.line,
            version=__version__,
            external_url=self.external_url,
            lims_files_imported=self.lims_imported,
            lims_files_rejected=self.lims_rejected,
            checkpoint_failures=self.checkpoint_failures,
            data_dir_free_bytes=free,
            data_dir_size_bytes=size,
            assays_pending_batches=count,
            assays_pending_age_s=max(0.0, age) if math.isfinite(age) else 0.0,
        )

    def import_inbox_file(self, path: Path) -> ImportSummary:
        """The inbox importer, counting outcomes (runs in the inbox thread; ints only)."""
        try:
            # the inbox is this line monitor's own: files without a line column are its line's
            summary = self.accountant.import_file(path, line=self.accountant.spec.line)
        except StoreError:  # retried by the inbox, not a refusal
            raise
        except Exception:  # any other failure moves the file to rejected/
            self.lims_rejected += 1
            raise
        self.lims_imported += 1
        return summary


def base_url(host: str, port: int, *, tls: bool) -> str:
    """How this monitor is reached when [http] external_url is not set: its bound host, or the
    machine's name when it listens on every interface."""
    name = socket.getfqdn() if host in ("", "0.0.0.0", "::") else host
    if ":" in name:  # an IPv6 literal
        name = f"[{name}]"
    return f"{'https' if tls else 'http'}://{name}:{port}"
