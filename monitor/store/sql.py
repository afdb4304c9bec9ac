"""The batch store's semantics, once, over any SQL engine (SQLite and PostgreSQL subclass it).

Every change of a batch is a new version row; nothing is overwritten. Saving a result identical
to the latest version is a no-op, so a monitor that re-derives a batch after a restart never
doubles it. A subclass supplies a transaction (`_tx`), a read (`_read`) and its engine's errors;
the SQL here is the common subset of both engines, written with `?` placeholders.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Self, cast

from monitor.core.assays import Assay
from monitor.core.results import BatchResult
from monitor.errors import StoreError
from monitor.store.codec import num as _num
from monitor.store.codec import result_from_msgpack, result_to_msgpack, results_of, same_but_version
from monitor.store.footprints import FootprintTables
from monitor.store.paging import PagedReads, where
from monitor.store.projection import projections
from monitor.store.query import EVERY, BatchQuery
from monitor.store.rows import PROJECTION_VERSION, Projection, assay_rows
from monitor.store.shipments import UPSERT_LOT_BAG, ShipmentTables, lot_bag_rows
from monitor.store.tx import Tx

# 2: report projection per version (report_*) and assay sheet per batch
# 3: shipments, the bag index and the PACT footprints and clients live in the store (either engine)
# 4: each version's full result as MessagePack bytes (result_msgpack), no longer JSON text (result_json)
SCHEMA_VERSION = 4
VERSION_COLUMNS = (
    "line, batch_id, version, state, start_ts, end_ts, chemistry, feed_form, feed_kg, black_mass_kg, "
    "black_mass_yield, closure, reason, recorded_at, result_msgpack, report_batch, report_streams, report_recoveries"
)
RESULT = VERSION_COLUMNS.split(", ").index("result_msgpack")  # its place in a version row
LOOKUP_CHUNK = 200  # (line, lot) pairs per read of the latest versions: 400 parameters, under any engine's limit
INSERT_VERSION = f"INSERT INTO batch_versions ({VERSION_COLUMNS}) VALUES ({','.join('?' * 18)})"
ASSAY_COLUMNS = "batch_id, stream, element, value_pct, status, sample_id, bag_id, lab, method, moisture_pct"
INSERT_ASSAY = f"INSERT INTO assays ({ASSAY_COLUMNS}, source, imported_at) VALUES ({','.join('?' * 12)})"
UPSERT_SHEET = (
    "INSERT INTO assay_sheets (batch_id, rows_json) VALUES (?,?) "
    "ON CONFLICT (batch_id) DO UPDATE SET rows_json = excluded.rows_json"
)
UPSERT_META = "INSERT INTO meta (key, value) VALUES (?,?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"


@dataclass(frozen=True, slots=True)
class ImportedFile:
    """One assay file the store took whole: its name as imported, content hash, rows, when (epoch s)."""

    name: str
    sha256: str
    rows: int
    imported_at: float


def version_row(r: BatchResult, reason: str, when: float) -> tuple[object, ...]:
    """A version's columns up to its result (with_reports adds the report projection)."""
    return (
        r.line,
        r.batch_id,
        r.version,
        r.state.value,
        r.start,
        r.end,
        r.chemistry,
        r.feed_form,
        _num(r.feed_kg),
        _num(r.mass("black_mass")),
        _num(r.black_mass_yield),
        _num(r.closure),
        reason,
        when,
        result_to_msgpack(r),
    )


def with_reports(rows: list[tuple[object, ...]], results: Sequence[BatchResult]) -> list[tuple[object, ...]]:
    """Each version row (version_row of the result at its place) with its report projection, built in bulk."""
    return [(*row, p.batch, p.streams, p.recoveries) for row, p in zip(rows, projections(results), strict=True)]


def effective(rows: list[tuple[Any, ...]], wanted: set[str] | None) -> list[Assay]:
    """A later import of the same assay (same identity) replaces the earlier; rows in import order."""
    latest: dict[tuple[str, ...], Assay] = {}
    for r in rows:
        if wanted is None or r[0] in wanted:
            a = Assay(*r)
            latest[(a.batch_id, a.stream, a.element, a.status, a.sample_id, a.bag_id)] = a
    return list(latest.values())


def refresh_sheets(db: Tx, batch_ids: set[str]) -> None:
    """Rewrite the assay sheet of each batch from its effective assays (inside the caller's transaction)."""
    for bid in sorted(batch_ids):
        rows = db.q(f"SELECT {ASSAY_COLUMNS} FROM assays WHERE batch_id=? ORDER BY id", (bid,))
        db.many(UPSERT_SHEET, [(bid, assay_rows(effective(rows, None)))])


def write_meta(db: Tx) -> None:
    wanted = {"schema_version": str(SCHEMA_VERSION), "projection_version": str(PROJECTION_VERSION)}
    db.many(UPSERT_META, list(wanted.items()))


def _latest_versions(db: Tx, results: Sequence[BatchResult]) -> dict[tuple[str, str], tuple[int, bytes]]:
    """(line, batch id) -> (version, stored result) of the latest stored version of each, in few reads."""
    out: dict[tuple[str, str], tuple[int, bytes]] = {}
    keys = sorted({(r.line, r.batch_id) for r in results})
    for i in range(0, len(keys), LOOKUP_CHUNK):
        part = keys[i : i + LOOKUP_CHUNK]
        pairs = " OR ".join(["(v.line=? AND v.batch_id=?)"] * len(part))
        rows = db.q(
            "SELECT v.line, v.batch_id, v.version, v.result_msgpack FROM batch_versions v "
            f"WHERE ({pairs}) AND v.version = (SELECT MAX(w.version) FROM batch_versions w "
            "WHERE w.line = v.line AND w.batch_id = v.batch_id)",
            [x for k in part for x in k],
        )
        out.update({(line, lot): (version, bytes(blob)) for line, lot, version, blob in rows})
    return out


def _assay_rows(assays: list[Assay], source: str, when: float) -> list[tuple[object, ...]]:
    return [
        (
            a.batch_id,
            a.stream,
            a.element,
            a.value_pct,
            a.status,
            a.sample_id,
            a.bag_id,
            a.lab,
            a.method,
            a.moisture_pct,
            source,
            when,
        )
        for a in assays
    ]


class Store(ShipmentTables, FootprintTables, PagedReads):
    """Versioned batch results, assays, the report projection, shipments and footprints (module docstring)."""

    url: str
    errors: tuple[type[Exception], ...] = ()

    def _tx(self) -> AbstractContextManager[Tx]:
        raise NotImplementedError

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:  # `with open_store(url) as store:` closes it however the block ends
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[Tx]:
        """The raw transaction, for a whole-store copy (store/migrate.py): all of it lands or none."""
        return self._tx()

    def upgrade(self) -> tuple[int, int]:
        """Run the schema migrations the store lacks (on open too); (version before, version after)."""
        raise NotImplementedError

    def change_mark(self, *, wait: bool = True) -> object | None:
        """A token that differs whenever what this store reads may have changed since it was taken
        (a write here or by another connection); None: this store cannot tell (read-side caches skip),
        or, with wait=False, not without waiting (a lock, the network: an event loop must not block).
        Take it before the read it vouches for: a write in between only makes a cache miss."""
        return None

    def schema_version(self) -> int:
        rows = self._read("SELECT value FROM meta WHERE key='schema_version'")
        return int(rows[0][0]) if rows else 0

    def save(self, result: BatchResult, reason: str = "completed", *, now: float | None = None) -> BatchResult | None:
        """Store a new version of the batch, in one transaction; None when nothing changed."""
        return self.save_many([result], reason, now=now)[0]

    def save_many(
        self, results: list[BatchResult], reason: str = "completed", *, now: float | None = None
    ) -> list[BatchResult | None]:
        """Several batches in one transaction (replay): all stored or none; None where nothing changed.

        Writers of one line serialise on a per-line lock (PostgreSQL: an advisory lock), so two
        writers never both take the same next version; other lines go on in parallel.
        """
        when = time.time() if now is None else now
        out: list[BatchResult | None] = []
        try:
            with self._tx() as db:
                for line in sorted({r.line for r in results}):  # always the same order: no deadlock
                    db.lock(f"line:{line}")
                latest = _latest_versions(db, results)
                versions, bags = [], []
                for result in results:  # in order: a lot twice in one call compares with its first
                    key = (result.line, result.batch_id)
                    row = latest.get(key)
                    if row and same_but_version(row, key, result):
                        out.append(None)
                        continue
                    version = 1 if not row else row[0] + 1
                    stored = result if result.version == version else replace(result, version=version)
                    versions.append(version_row(stored, reason, when))
                    latest[key] = (stored.version, cast(bytes, versions[-1][RESULT]))
                    bags += lot_bag_rows([stored])
                    out.append(stored)
                if versions:  # one statement each for the whole call
                    db.many(INSERT_VERSION, with_reports(versions, [s for s in out if s is not None]))
                if bags:
                    db.many(UPSERT_LOT_BAG, bags)
        except self.errors as exc:
            ids = ", ".join(r.batch_id for r in results[:3])
            raise StoreError(f"{self.url}: cannot save batch(es) {ids}: {exc}") from exc
        return out

    def latest(self, q: BatchQuery = EVERY) -> list[BatchResult]:
        """The latest version of each batch the query takes, oldest start first."""
        return results_of(self._select("v.line, v.batch_id, v.version, v.result_msgpack", q))

    def report_texts(self, q: BatchQuery = EVERY) -> list[Projection]:
        """The report projection (see report_rows) of the batches `latest` would return, same order."""
        return [Projection(*r) for r in self._select("report_batch, report_streams, report_recoveries", q)]

    def batch_texts(self, q: BatchQuery = EVERY) -> list[str]:
        """Only the batch row of each projection `report_texts` would return (listings)."""
        return [r[0] for r in self._select("report_batch", q)]

    def lines(self) -> list[str]:
        """Every line with a batch in the store."""
        return [r[0] for r in self._read("SELECT DISTINCT line FROM batch_versions ORDER BY line")]

    def _select(self, columns: str, q: BatchQuery) -> list[tuple[Any, ...]]:
        conditions, args = where(q)
        order = "v.start_ts, v.batch_id, v.line"
        cond = " AND ".join(conditions)
        return self._read(f"SELECT {columns} FROM batch_versions v WHERE {cond} ORDER BY {order}", args)

    def assay_sheets(self, batch_ids: list[str]) -> list[str]:
        """Each listed batch's assays as JSON rows (see report_rows.assay_rows), in the order given."""
        sheets = dict(self._read("SELECT batch_id, rows_json FROM assay_sheets"))
        return [sheets[b] for b in batch_ids if b in sheets]

    def bulk_load(self, results: list[BatchResult], assays: list[Assay], *, now: float = 0.0) -> None:
        """Load generated history in one transaction (benchmarks, demos); every row a first version."""
        with self._tx() as db:
            firsts = [replace(r, version=1) for r in results]
            db.many(INSERT_VERSION, with_reports([version_row(r, "generated", now) for r in firsts], firsts))
            db.many(UPSERT_LOT_BAG, lot_bag_rows(results))
            db.many(INSERT_ASSAY, _assay_rows(assays, "generated", now))
            refresh_sheets(db, {a.batch_id for a in assays})

    def import_assays(self, records: list[Assay], source: str, sha256: str, *, now: float | None = None) -> int | None:
        """Store a file's assays in one transaction; None when this exact file was imported before."""
        when = time.time() if now is None else now
        try:
            with self._tx() as db:
                db.lock("assays")  # one import at a time: the file check and the sheets stay consistent
                if db.q("SELECT 1 FROM assay_files WHERE sha256=?", (sha256,)):
                    return None
                db.many(INSERT_ASSAY, _assay_rows(records, source, when))
                refresh_sheets(db, {a.batch_id for a in records})
                db.many(
                    "INSERT INTO assay_files (sha256, name, rows, imported_at) VALUES (?,?,?,?)",
                    [(sha256, source, len(records), when)],
                )
                return len(records)
        except self.errors as exc:
            raise StoreError(f"{self.url}: cannot store assays from {source}: {exc}") from exc

    def imported_files(self, limit: int = 20) -> list[ImportedFile]:
        """The assay files imported into the store (inbox, API, web, CLI), newest first, at most `limit`."""
        try:
            rows = self._read(
                "SELECT name, sha256, rows, imported_at FROM assay_files ORDER BY imported_at DESC, name LIMIT ?",
                (limit,),
            )
        except self.errors as exc:
            raise StoreError(f"{self.url}: cannot read the imported assay files: {exc}") from exc
        return [ImportedFile(str(n), str(h), int(r), float(t)) for n, h, r, t in rows]

    def assays(self, batch_id: str) -> list[Assay]:
        """The batch's assays; a later import of the same assay (same identity) replaces the earlier."""
        rows = self._read(f"SELECT {ASSAY_COLUMNS} FROM assays WHERE batch_id=? ORDER BY id", (batch_id,))
        return effective(rows, None)

    def assays_of(self, batch_ids: Sequence[str]) -> dict[str, list[Assay]]:
        """`assays(b)` of each batch b, in a read per LOOKUP_CHUNK batches (replay accounts lots in bulk)."""
        out: dict[str, list[Assay]] = {b: [] for b in batch_ids}
        ids = sorted(out)
        for i in range(0, len(ids), LOOKUP_CHUNK):
            part = ids[i : i + LOOKUP_CHUNK]
            marks = ",".join("?" * len(part))
            rows = self._read(f"SELECT {ASSAY_COLUMNS} FROM assays WHERE batch_id IN ({marks}) ORDER BY id", part)
            for a in effective(rows, None):  # in import order per batch, as assays() lists them
                out[a.batch_id].append(a)
        return out

    def assays_for(self, batch_ids: list[str]) -> list[Assay]:
        """The effective assays of many batches in one pass (reports)."""
        return effective(self._read(f"SELECT {ASSAY_COLUMNS} FROM assays ORDER BY id"), set(batch_ids))

    def history(self, line: str, batch_id: str) -> list[tuple[BatchResult, str, float]]:
        """Every version of one batch with the reason and time it was recorded, oldest first."""
        rows = self._read(
            "SELECT version, result_msgpack, reason, recorded_at FROM batch_versions "
            "WHERE line=? AND batch_id=? ORDER BY version",
            (line, batch_id),
        )
        return [(result_from_msgpack(r[1], line, batch_id, r[0]), r[2], r[3]) for r in rows]

    def iter_rows(self, table: str, columns: str) -> Iterator[tuple[Any, ...]]:
        """Every row of a table, streamed in chunks (store migrate: millions of assay rows)."""
        raise NotImplementedError
