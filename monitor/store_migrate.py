"""`blackmass store migrate`: every batch version and assay from one store into another, checked.

The copy runs in one transaction of the destination; before it commits, each table is counted and
checksummed on both sides (SHA-256 over its rows in key order, values as text). Any difference,
or a destination that already holds data, and nothing is changed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from monitor.errors import StoreError
from monitor.store_sql import ASSAY_COLUMNS, VERSION_COLUMNS, Store, Tx

log = logging.getLogger(__name__)

# table -> (columns copied, the key rows are ordered by for the checksum)
TABLES: dict[str, tuple[str, int]] = {
    "batch_versions": (VERSION_COLUMNS, 3),  # (line, batch_id, version)
    "assays": (f"id, {ASSAY_COLUMNS}, source, imported_at", 1),
    "assay_files": ("sha256, name, rows, imported_at", 1),
    "assay_sheets": ("batch_id, rows_json", 1),
}
CHUNK = 2000


@dataclass(frozen=True)
class TableCheck:
    table: str
    rows: int
    sha256: str


def _digest(table: str, rows: list[tuple[Any, ...]]) -> TableCheck:
    key = TABLES[table][1]
    h = hashlib.sha256()
    for row in sorted(rows, key=lambda r: tuple(str(x) for x in r[:key])):
        h.update(repr(tuple(row)).encode())
        h.update(b"\n")
    return TableCheck(table, len(rows), h.hexdigest())


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
        with dest._tx() as db:
            _check_empty(db, f"--to {dest.url}")
            for table, (columns, _) in TABLES.items():
                rows = list(source.iter_rows(table, columns))
                marks = ",".join("?" * len(columns.split(",")))
                for i in range(0, len(rows), CHUNK):
                    db.many(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows[i : i + CHUNK])
                want = _digest(table, rows)
                got = _digest(table, db.q(f"SELECT {columns} FROM {table}"))
                if got != want:
                    raise StoreError(
                        f"--to {dest.url}: table {table}: expected {want.rows} rows with checksum "
                        f"{want.sha256[:16]}…, got {got.rows} rows with {got.sha256[:16]}…; "
                        "rolled back, nothing changed"
                    )
                log.info("%s: %d rows, sha256 %s", table, want.rows, want.sha256)
                checks.append(want)
            db.after_copy()
    except dest.errors as exc:
        raise StoreError(f"--to {dest.url}: copy failed, nothing changed: {exc}") from exc
    return checks
