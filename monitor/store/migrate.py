"""`blackmass store migrate`: every batch version, assay, shipment and footprint into another store, checked.

The copy runs in one transaction of the destination; before it commits, each table is counted and
checksummed on both sides (the sum of each row's SHA-256, so the engines' row orders do not matter). Any difference,
or a destination that already holds data, and nothing is changed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from monitor.errors import StoreError
from monitor.store.schema import EXCHANGE_COPY
from monitor.store.sql import ASSAY_COLUMNS, VERSION_COLUMNS, Store, Tx

log = logging.getLogger(__name__)

TABLES: dict[str, str] = {  # table -> the columns copied (every column)
    "batch_versions": VERSION_COLUMNS,
    "assays": f"id, {ASSAY_COLUMNS}, source, imported_at",
    "assay_files": "sha256, name, rows, imported_at",
    "assay_sheets": "batch_id, rows_json",
    **EXCHANGE_COPY,  # shipments, the bag index, PACT footprints and clients (schema 3)
}
_MOD = 1 << 128


@dataclass(frozen=True)
class TableCheck:
    table: str
    rows: int
    sha256: str  # order-free: the sum of each row's SHA-256 (first 128 bits), as 32 hex digits


class _Digest:
    """Count and an order-independent checksum of rows: both engines stream rows in their own order."""

    def __init__(self) -> None:
        self.rows, self.total = 0, 0

    def add(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        self.rows += 1
        self.total = (self.total + int.from_bytes(hashlib.sha256(repr(tuple(row)).encode()).digest()[:16])) % _MOD
        return row

    def check(self, table: str) -> TableCheck:
        return TableCheck(table, self.rows, f"{self.total:032x}")


def _check_empty(dest: Tx, where: str) -> None:
    for table in TABLES:
        n = dest.q(f"SELECT COUNT(*) FROM {table}")[0][0]
        if n:
            raise StoreError(
                f"{where}: the destination already holds {n} row(s) in {table}; nothing was copied "
                "(hint: migrate into a new, empty database)"
            )


def migrate(source: Store, dest: Store) -> list[TableCheck]:
    """Copy `source` into the empty `dest`; the per-table checks, equal on both sides."""
    if source.url == dest.url:
        raise StoreError(f"--to {dest.url}: the same store as --from; nothing was copied")
    if source.schema_version() != dest.schema_version():
        raise StoreError(
            f"--from {source.url} has schema version {source.schema_version()}, --to {dest.url} "
            f"{dest.schema_version()}; nothing was copied (hint: run `blackmass store upgrade` on the older)"
        )
    checks: list[TableCheck] = []
    try:
        with dest.transaction() as db:
            _check_empty(db, f"--to {dest.url}")
            for table, columns in TABLES.items():
                sent = _Digest()
                db.copy(table, columns, (sent.add(r) for r in source.iter_rows(table, columns)))
                want = sent.check(table)
                got = _Digest()
                for row in db.stream(f"SELECT {columns} FROM {table}"):
                    got.add(row)
                if got.check(table) != want:
                    raise StoreError(
                        f"--to {dest.url}: table {table}: expected {want.rows} rows with checksum {want.sha256}, "
                        f"got {got.rows} rows with {got.check(table).sha256}; rolled back, nothing changed"
                    )
                log.info("%s: %d rows, checksum %s", table, want.rows, want.sha256)
                checks.append(want)
            db.after_copy()
    except dest.errors as exc:
        raise StoreError(f"--to {dest.url}: copy failed, nothing changed: {exc}") from exc
    return checks
