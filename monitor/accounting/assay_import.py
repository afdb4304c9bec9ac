"""Assays in (file, inbox or API) → stored once → affected batches recomputed as new versions."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from monitor.accounting.seeds import FeedGrades
from monitor.core.assays import Assay
from monitor.core.batch_accounting import with_accounting, with_accounting_many
from monitor.core.carbon import GhgFactors
from monitor.core.results import BatchResult
from monitor.core.spec import LineSpec
from monitor.errors import InputError
from monitor.passport.origin import OriginMap
from monitor.passport.stamp import stamp_lot, stamp_of
from monitor.store.query import BatchQuery
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
            assays = self.store.assays_of([r.batch_id for r in results])  # one read, not one per lot
            lots = [(r, assays[r.batch_id], self.grades.declared(r.chemistry, r.feed_form)) for r in results]
            # account() of each, as arrays over the lots; the stamp set in the same copy of each lot
            stamps = [stamp_of(r, self.ghg, self.origin) for r in results]
            return self.store.save_many(with_accounting_many(self.spec, lots, also=stamps))

    def account(self, result: BatchResult, assays: list[Assay] | None = None) -> BatchResult:
        """The lot's metals and balance from its assays (`assays`: read already, else from the store)."""
        declared = self.grades.declared(result.chemistry, result.feed_form)
        mine = self.store.assays(result.batch_id) if assays is None else assays
        accounted = with_accounting(result, self.spec, mine, declared)
        return stamp_lot(accounted, self.ghg, self.origin)

    def import_records(
        self, records: list[Assay], source: str, sha256: str, *, line: str | None = None
    ) -> ImportSummary:
        """Store a file's assays and recompute their lots. The line of each row: the file's `line`
        column, else `line` (--line, ?line=, a line monitor's own inbox), else the store's only line;
        a store of several lines with no way to tell is refused (InputError naming the lines)."""
        with self._lock:
            records, sha256 = self._with_lines(records, source, sha256, line)
            return self._import(records, source, sha256)

    def _with_lines(self, records: list[Assay], source: str, sha256: str, line: str | None) -> tuple[list[Assay], str]:
        told = {a.line for a in records if a.line}
        if line and told - {line}:
            raise InputError(source, f"the file's line column says {', '.join(sorted(told))}, but --line says {line}")
        if all(a.line for a in records):
            return records, sha256
        if not line:
            lines = self.store.lines()
            if len(lines) > 1:
                raise InputError(
                    source,
                    f"cannot tell which line these assays belong to: the store holds lines {', '.join(lines)} "
                    "and the file has no 'line' column",
                    f"say it: --line {lines[0]} (API: ?line={lines[0]}), or add a 'line' column",
                )
            line = lines[0] if lines else self.spec.line
        # the same file for another line is another import: its identity includes the line it was told
        keyed = hashlib.sha256(f"{sha256}|line={line}".encode()).hexdigest()
        return [a if a.line else replace(a, line=line) for a in records], keyed

    def _import(self, records: list[Assay], source: str, sha256: str) -> ImportSummary:
        n = self.store.import_assays(records, source, sha256)
        if n is None:
            return ImportSummary(source, 0, True, (), ())
        updated, pending = [], []
        status = "final" if any(a.status == "final" for a in records) else "preliminary"
        for batch_id, line in dict.fromkeys((a.batch_id, a.line) for a in records):
            found = self.store.latest(BatchQuery.lot(batch_id, line))
            if not found:
                pending.append(batch_id)
                continue
            saved = self.store.save(self.account(found[0]), reason=f"assays ({status}) from {Path(source).name}")
            if saved is not None:
                updated.append(saved)
        log.info("assays from %s: %d rows, %d batches updated, %d pending", source, n, len(updated), len(pending))
        return ImportSummary(source, n, False, tuple(updated), tuple(pending))

    def import_file(self, path: Path, *, line: str | None = None) -> ImportSummary:
        # the file readers load here: a replay accounts lots and reads no lab file (12 ms of its start)
        from monitor.collectors.lims import read_assay_file  # noqa: PLC0415

        records, sha = read_assay_file(path)
        return self.import_records(records, str(path), sha, line=line)

    def import_bytes(self, data: bytes, name: str, *, line: str | None = None) -> ImportSummary:
        from monitor.collectors.lims import parse_assays  # noqa: PLC0415 - see import_file

        return self.import_records(parse_assays(data, name), name, hashlib.sha256(data).hexdigest(), line=line)
