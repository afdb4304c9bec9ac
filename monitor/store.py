"""Durable, versioned batch results in SQLite (<data-dir>/blackmass.db).

Every change is a new version row; nothing is overwritten. Saving a result identical to the
latest version is a no-op, so a monitor that re-derives a batch after a restart never doubles it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from monitor.core.assays import Assay
from monitor.core.metals import Balance, ElementAccount, StreamBalance
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.errors import StoreError

SCHEMA_VERSION = 1
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
"""


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def result_to_json(r: BatchResult) -> str:
    d = asdict(r)
    d["state"] = r.state.value
    return json.dumps(d, sort_keys=True, allow_nan=True)


def result_from_json(text: str) -> BatchResult:
    d: dict[str, Any] = json.loads(text)
    d["state"] = BatchState(d["state"])
    d["streams"] = tuple(
        StreamMass(**{**s, "flags": tuple(s["flags"]), "items": tuple(tuple(i) for i in s.get("items", ()))})
        for s in d["streams"]
    )
    d["flags"] = tuple(d["flags"])
    d["metals"] = tuple(ElementAccount(**m) for m in d.get("metals", ()))
    if d.get("balance") is not None:
        b = d["balance"]
        d["balance"] = Balance(
            **{
                **b,
                "streams": tuple(StreamBalance(**x) for x in b["streams"]),
                "elements_used": tuple(b["elements_used"]),
            }
        )
    return BatchResult(**d)


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
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
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
        try:
            with self._tx() as db:
                row = db.execute(
                    "SELECT version, result_json FROM batch_versions WHERE line=? AND batch_id=? "
                    "ORDER BY version DESC LIMIT 1",
                    (result.line, result.batch_id),
                ).fetchone()
                if row is not None and _same(result_from_json(row[1]), result):
                    return None
                version = 1 if row is None else row[0] + 1
                stored = replace(result, version=version)
                db.execute(
                    "INSERT INTO batch_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        stored.line,
                        stored.batch_id,
                        version,
                        stored.state.value,
                        stored.start,
                        stored.end,
                        stored.chemistry,
                        stored.feed_form,
                        _num(stored.feed_kg),
                        _num(stored.mass("black_mass")),
                        _num(stored.black_mass_yield),
                        _num(stored.closure),
                        reason,
                        time.time() if now is None else now,
                        result_to_json(stored),
                    ),
                )
                return stored
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot save batch {result.batch_id}: {exc}") from exc

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
        where = [
            "v.version = (SELECT MAX(version) FROM batch_versions w WHERE w.line = v.line AND w.batch_id = v.batch_id)"
        ]
        args: list[object] = []
        for col, val in (("line", line), ("batch_id", batch_id), ("chemistry", chemistry)):
            if val is not None:
                where.append(f"v.{col} = ?")
                args.append(val)
        if start_from is not None:
            where.append("v.start_ts >= ?")
            args.append(start_from)
        if start_to is not None:
            where.append("v.start_ts < ?")
            args.append(start_to)
        if not include_partial:
            where.append("v.state != 'partial'")
        sql = f"SELECT result_json FROM batch_versions v WHERE {' AND '.join(where)} ORDER BY v.start_ts, v.batch_id"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [result_from_json(r[0]) for r in rows]

    def bulk_load(self, results: list[BatchResult], assays: list[Assay], *, now: float = 0.0) -> None:
        """Load generated history in one transaction (benchmarks, demos); every row a first version."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO batch_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r.line,
                        r.batch_id,
                        1,
                        r.state.value,
                        r.start,
                        r.end,
                        r.chemistry,
                        r.feed_form,
                        _num(r.feed_kg),
                        _num(r.mass("black_mass")),
                        _num(r.black_mass_yield),
                        _num(r.closure),
                        "generated",
                        now,
                        result_to_json(replace(r, version=1)),
                    )
                    for r in results
                ],
            )
            _insert_assays(db, assays, "generated", now)

    def import_assays(self, records: list[Assay], source: str, sha256: str, *, now: float | None = None) -> int | None:
        """Store a file's assays in one transaction; None when this exact file was imported before."""
        when = time.time() if now is None else now
        try:
            with self._tx() as db:
                if db.execute("SELECT 1 FROM assay_files WHERE sha256=?", (sha256,)).fetchone():
                    return None
                _insert_assays(db, records, source, when)
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
            rows = self._db.execute(
                "SELECT batch_id, stream, element, value_pct, status, sample_id, bag_id, lab, method, moisture_pct "
                f"FROM assays {where} ORDER BY id",
                args,
            ).fetchall()
        latest: dict[tuple[str, ...], Assay] = {}
        for r in rows:
            if wanted is None or r[0] in wanted:
                a = Assay(*r)
                latest[(a.batch_id, a.stream, a.element, a.status, a.sample_id, a.bag_id)] = a
        return list(latest.values())

    def history(self, line: str, batch_id: str) -> list[tuple[BatchResult, str, float]]:
        """Every version of one batch with the reason and time it was recorded, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT result_json, reason, recorded_at FROM batch_versions WHERE line=? AND batch_id=? "
                "ORDER BY version",
                (line, batch_id),
            ).fetchall()
        return [(result_from_json(r[0]), r[1], r[2]) for r in rows]
