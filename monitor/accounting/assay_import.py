"""Assays in (file, inbox or API) → stored once → affected batches recomputed as new versions."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from monitor.accounting.seeds import FeedGrades
from monitor.collectors.lims import parse_assays, read_assay_file
from monitor.core.assays import Assay
from monitor.core.batch_accounting import with_accounting
from monitor.core.carbon import GhgFactors
from monitor.core.results import BatchResult
from monitor.core.spec import LineSpec
from monitor.passport.origin import OriginMap
from monitor.passport.stamp import stamp_lot
from monitor.store.sql import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportSummary:
    source: str
    rows: int
    duplicate_file: bool
    updated: tuple[BatchResult, ...]  # new versions of batches the assays belong to
    pending: tuple[str, ...]  # batch ids not (yet) in the store


class Accountant:
    """Recomputes a batch's metal accounting from the store's assays and the seeds."""

    def __init__(
        self,
        store: Store,
        spec: LineSpec,
        grades: FeedGrades,
        *,
        ghg: GhgFactors | None = None,
        origin: OriginMap | None = None,
    ) -> None:
        self.store, self.spec, self.grades = store, spec, grades
        self.ghg, self.origin = ghg, origin  # stamped on a lot once (carbon, origin shares)
        # a batch completing while its assays are imported must see them: one at a time
        self._lock = threading.Lock()

    def finalise(self, result: BatchResult) -> BatchResult | None:
        """Account a batch the engine just completed and store it; None when unchanged."""
        with self._lock:
            return self.store.save(self.account(result))

    def finalise_many(self, results: list[BatchResult]) -> list[BatchResult | None]:
        """finalise() for many batches, stored in one transaction (replay)."""
        with self._lock:
            return self.store.save_many([self.account(r) for r in results])

    def account(self, result: BatchResult) -> BatchResult:
        declared = self.grades.declared(result.chemistry, result.feed_form)
        accounted = with_accounting(result, self.spec, self.store.assays(result.batch_id), declared)
        return stamp_lot(accounted, self.ghg, self.origin)

    def import_records(self, records: list[Assay], source: str, sha256: str) -> ImportSummary:
        with self._lock:
            return self._import(records, source, sha256)

    def _import(self, records: list[Assay], source: str, sha256: str) -> ImportSummary:
        n = self.store.import_assays(records, source, sha256)
        if n is None:
            return ImportSummary(source, 0, True, (), ())
        updated, pending = [], []
        status = "final" if any(a.status == "final" for a in records) else "preliminary"
        for batch_id in dict.fromkeys(a.batch_id for a in records):
            found = self.store.latest(line=self.spec.line, batch_id=batch_id)
            if not found:
                pending.append(batch_id)
                continue
            saved = self.store.save(self.account(found[0]), reason=f"assays ({status}) from {Path(source).name}")
            if saved is not None:
                updated.append(saved)
        log.info("assays from %s: %d rows, %d batches updated, %d pending", source, n, len(updated), len(pending))
        return ImportSummary(source, n, False, tuple(updated), tuple(pending))

    def import_file(self, path: Path) -> ImportSummary:
        records, sha = read_assay_file(path)
        return self.import_records(records, str(path), sha)

    def import_bytes(self, data: bytes, name: str) -> ImportSummary:
        return self.import_records(parse_assays(data, name), name, hashlib.sha256(data).hexdigest())
