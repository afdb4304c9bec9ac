"""Durable, versioned batch results in SQLite (<data-dir>/blackmass.db).

Every change is a new version row; nothing is overwritten. Saving a result identical to the
latest version is a no-op, so a monitor that re-derives a batch after a restart never doubles it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor.core.assays import Assay
from monitor.core.results import BatchResult
from monitor.errors import StoreError
from monitor.report_rows import PROJECTION_VERSION, Projection, assay_rows, projection
from monitor.store_codec import num as _num
from monitor.store_codec import result_from_json, result_to_json

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: report projection per version (report_*) and assay sheet per batch
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batch_versions (
    line TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    chemistry TEXT NOT NULL,
    feed_form TEXT NOT NULL,
    feed_kg REAL,
    black_mass_kg REAL,
    black_mass_yield REAL,
    closure REAL,
    reason TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    result_json TEXT NOT NULL,
    report_batch TEXT,
    report_streams TEXT,
    report_recoveries TEXT,
    PRIMARY KEY (line, batch_id, version)
);
CREATE INDEX IF NOT EXISTS batch_versions_start ON batch_versions (start_ts);
CREATE TABLE IF NOT EXISTS assay_files (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    rows INTEGER NOT NULL,
    imported_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS assays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    element TEXT NOT NULL,
    value_pct REAL NOT NULL,
    status TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    bag_id TEXT NOT NULL,
    lab TEXT NOT NULL,
    method TEXT NOT NULL,
    moisture_pct REAL,
    source TEXT NOT NULL,
    imported_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS assays_batch ON assays (batch_id);
CREATE TABLE IF NOT EXISTS assay_sheets (batch_id TEXT PRIMARY KEY, rows_json TEXT NOT NULL);
"""
_INSERT_VERSION = (
    "INSERT INTO batch_versions (line, batch_id, version, state, start_ts, end_ts, chemistry, feed_form, feed_kg, "
    "black_mass_kg, black_mass_yield, closure, reason, recorded_at, result_json, report_batch, report_streams, "
    "report_recoveries) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_ASSAY_COLUMNS = "batch_id, stream, element, value_pct, status, sample_id, bag_id, lab, method, moisture_pct"


def _version_row(r: BatchResult, reason: str, when: float) -> tuple[object, ...]:
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
        result_to_json(r),
        *_report(r),
    )


def _report(r: BatchResult) -> tuple[str, str, str]:
    p = projection(r)
    return p.batch, p.streams, p.recoveries


def _effective(rows: list[tuple[Any, ...]], wanted: set[str] | None) -> list[Assay]:
    """A later import of the same assay (same identity) replaces the earlier; rows in import order."""
    latest: dict[tuple[str, ...], Assay] = {}
    for r in rows:
        if wanted is None or r[0] in wanted:
            a = Assay(*r)
            latest[(a.batch_id, a.stream, a.element, a.status, a.sample_id, a.bag_id)] = a
    return list(latest.values())


def _refresh_sheets(db: sqlite3.Connection, batch_ids: set[str]) -> None:
    """Rewrite the assay sheet of each batch from its effective assays (inside the caller's transaction)."""
    for bid in sorted(batch_ids):
        rows = db.execute(f"SELECT {_ASSAY_COLUMNS} FROM assays WHERE batch_id=? ORDER BY id", (bid,)).fetchall()
        db.execute("INSERT OR REPLACE INTO assay_sheets VALUES (?,?)", (bid, assay_rows(_effective(rows, None))))


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older store up to date: (re)build the report projection and the assay sheets."""
    cols = {r[1] for r in db.execute("PRAGMA table_info(batch_versions)")}
    for col in ("report_batch", "report_streams", "report_recoveries"):
        if col not in cols:
            db.execute(f"ALTER TABLE batch_versions ADD COLUMN {col} TEXT")
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    stale = "" if meta.get("projection_version") == str(PROJECTION_VERSION) else " OR 1"
    todo = db.execute(f"SELECT rowid, result_json FROM batch_versions WHERE report_batch IS NULL{stale}").fetchall()
    if todo:
        log.info("building the report projection of %d batch versions (one-time)", len(todo))
    db.executemany(
        "UPDATE batch_versions SET report_batch=?, report_streams=?, report_recoveries=? WHERE rowid=?",
        [(*_report(result_from_json(text)), rowid) for rowid, text in todo],
    )
    # Imports keep the sheets current in their own transaction, so only a store from before the
    # sheets existed (or a stale projection) needs this scan of every assay row (0.8 s at 2.6 M rows).
    if stale or meta.get("schema_version") != str(SCHEMA_VERSION):
        having = "" if stale else " WHERE batch_id NOT IN (SELECT batch_id FROM assay_sheets)"
        _refresh_sheets(db, {r[0] for r in db.execute(f"SELECT DISTINCT batch_id FROM assays{having}")})
    wanted = {"schema_version": str(SCHEMA_VERSION), "projection_version": str(PROJECTION_VERSION)}
    if any(meta.get(k) != v for k, v in wanted.items()):  # an up-to-date store is not written to at all
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(wanted.items()))


def _same(a: BatchResult, b: BatchResult) -> bool:
    return result_to_json(replace(a, version=0)) == result_to_json(replace(b, version=0))


def _insert_assays(db: sqlite3.Connection, assays: list[Assay], source: str, when: float) -> None:
    db.executemany(
        "INSERT INTO assays (batch_id, stream, element, value_pct, status, sample_id, bag_id, lab, method, "
        "moisture_pct, source, imported_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
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
        ],
    )


class BatchStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            with self._tx() as db:
                _migrate(db)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open the batch store: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def save(self, result: BatchResult, reason: str = "completed", *, now: float | None = None) -> BatchResult | None:
        """Store a new version of the batch, in one transaction; None when nothing changed."""
        return self.save_many([result], reason, now=now)[0]

    def save_many(
        self, results: list[BatchResult], reason: str = "completed", *, now: float | None = None
    ) -> list[BatchResult | None]:
        """Several batches in one transaction (replay): all stored or none; None where nothing changed."""
        when = time.time() if now is None else now
        out: list[BatchResult | None] = []
        try:
            with self._tx() as db:
                for result in results:
                    row = db.execute(
                        "SELECT version, result_json FROM batch_versions WHERE line=? AND batch_id=? "
                        "ORDER BY version DESC LIMIT 1",
                        (result.line, result.batch_id),
                    ).fetchone()
                    if row is not None and _same(result_from_json(row[1]), result):
                        out.append(None)
                        continue
                    stored = replace(result, version=1 if row is None else row[0] + 1)
                    db.execute(_INSERT_VERSION, _version_row(stored, reason, when))
                    out.append(stored)
        except sqlite3.Error as exc:
            ids = ", ".join(r.batch_id for r in results[:3])
            raise StoreError(f"{self.path}: cannot save batch(es) {ids}: {exc}") from exc
        return out

    def latest(
        self,
        *,
        line: str | None = None,
        batch_id: str | None = None,
        chemistry: str | None = None,
        start_from: float | None = None,
        start_to: float | None = None,
        include_partial: bool = True,
    ) -> list[BatchResult]:
        """The latest version of each batch matching the filters, oldest start first."""
        rows = self._select("result_json", locals())
        return [result_from_json(r[0]) for r in rows]

    def report_texts(
        self,
        *,
        line: str | None = None,
        batch_id: str | None = None,
        chemistry: str | None = None,
        start_from: float | None = None,
        start_to: float | None = None,
        include_partial: bool = True,
    ) -> list[Projection]:
        """The report projection (see report_rows) of the batches `latest` would return, same order."""
        rows = self._select("report_batch, report_streams, report_recoveries", locals())
        return [Projection(*r) for r in rows]

    def _select(self, columns: str, f: dict[str, Any]) -> list[tuple[Any, ...]]:
        where = [
            "v.version = (SELECT MAX(version) FROM batch_versions w WHERE w.line = v.line AND w.batch_id = v.batch_id)"
        ]
        args: list[object] = []
        for col in ("line", "batch_id", "chemistry"):
            if f[col] is not None:
                where.append(f"v.{col} = ?")
                args.append(f[col])
        if f["start_from"] is not None:
            where.append("v.start_ts >= ?")
            args.append(f["start_from"])
        if f["start_to"] is not None:
            where.append("v.start_ts < ?")
            args.append(f["start_to"])
        if not f["include_partial"]:
            where.append("v.state != 'partial'")
        sql = f"SELECT {columns} FROM batch_versions v WHERE {' AND '.join(where)} ORDER BY v.start_ts, v.batch_id"
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def assay_sheets(self, batch_ids: list[str]) -> list[str]:
        """Each listed batch's assays as JSON rows (see report_rows.assay_rows), in the order given."""
        with self._lock:
            sheets = dict(self._db.execute("SELECT batch_id, rows_json FROM assay_sheets").fetchall())
        return [sheets[b] for b in batch_ids if b in sheets]

    def bulk_load(self, results: list[BatchResult], assays: list[Assay], *, now: float = 0.0) -> None:
        """Load generated history in one transaction (benchmarks, demos); every row a first version."""
        with self._tx() as db:
            db.executemany(_INSERT_VERSION, [_version_row(replace(r, version=1), "generated", now) for r in results])
            _insert_assays(db, assays, "generated", now)
            _refresh_sheets(db, {a.batch_id for a in assays})

    def import_assays(self, records: list[Assay], source: str, sha256: str, *, now: float | None = None) -> int | None:
        """Store a file's assays in one transaction; None when this exact file was imported before."""
        when = time.time() if now is None else now
        try:
            with self._tx() as db:
                if db.execute("SELECT 1 FROM assay_files WHERE sha256=?", (sha256,)).fetchone():
                    return None
                _insert_assays(db, records, source, when)
                _refresh_sheets(db, {a.batch_id for a in records})
                db.execute("INSERT INTO assay_files VALUES (?,?,?,?)", (sha256, source, len(records), when))
                return len(records)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot store assays from {source}: {exc}") from exc

    def assays(self, batch_id: str) -> list[Assay]:
        """The batch's assays; a later import of the same assay (same identity) replaces the earlier."""
        return self._effective_assays("WHERE batch_id=?", (batch_id,), None)

    def assays_for(self, batch_ids: list[str]) -> list[Assay]:
        """The effective assays of many batches in one pass (reports)."""
        return self._effective_assays("", (), set(batch_ids))

    def _effective_assays(self, where: str, args: tuple[object, ...], wanted: set[str] | None) -> list[Assay]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_ASSAY_COLUMNS} FROM assays {where} ORDER BY id", args).fetchall()
        return _effective(rows, wanted)

    def history(self, line: str, batch_id: str) -> list[tuple[BatchResult, str, float]]:
        """Every version of one batch with the reason and time it was recorded, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT result_json, reason, recorded_at FROM batch_versions WHERE line=? AND batch_id=? "
                "ORDER BY version",
                (line, batch_id),
            ).fetchall()
        return [(result_from_json(r[0]), r[1], r[2]) for r in rows]
