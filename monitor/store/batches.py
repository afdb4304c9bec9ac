"""The embedded batch store: SQLite at <data-dir>/blackmass.db (the default; one line, demos, tests).

The semantics live in store_sql.Store; this module holds the SQLite schema, its upgrades from
older stores, and the connection (one, behind a lock; WAL, synchronous=FULL).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.store.codec import msgpack_of_json, results_of
from monitor.store.projection import Projection, projections
from monitor.store.rows import PROJECTION_VERSION
from monitor.store.schema import exchange_tables, tables
from monitor.store.shipments import UPSERT_LOT_BAG, lot_bag_rows
from monitor.store.sql import (
    INSERT_VERSION,
    RESULT,
    SCHEMA_VERSION,
    VERSION_COLUMNS,
    Store,
    refresh_sheets,
    write_meta,
)

log = logging.getLogger(__name__)

_SCHEMA = tables(key="TEXT", real="REAL", row_id="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB")
_CHUNK = 2000  # versions converted per statement (schema 4): a store of years never sits in memory whole


def _result_column(db: _Tx) -> None:
    """Schema 4: batch_versions is rebuilt with each result as MessagePack (result_msgpack BLOB) where
    result_json TEXT was, chunk by chunk in rowid order, inside the opening transaction (all or nothing)."""
    n = db.q("SELECT COUNT(*) FROM batch_versions")[0][0]
    log.info("storing the results of %d batch versions as MessagePack, not JSON (one-time)", n)
    db.q("ALTER TABLE batch_versions RENAME TO batch_versions_json")
    db.q("DROP INDEX IF EXISTS batch_versions_start")
    for statement in _SCHEMA.split(";"):
        if " batch_versions " in statement:  # its CREATE TABLE and its index
            db.q(statement)
    columns = VERSION_COLUMNS.replace("result_msgpack", "result_json")
    last = -1
    while rows := db.q(
        f"SELECT rowid, {columns} FROM batch_versions_json WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, _CHUNK)
    ):
        last = rows[-1][0]
        db.many(
            INSERT_VERSION,
            [(*r[1 : RESULT + 1], msgpack_of_json(r[RESULT + 1], *r[1:4]), *r[RESULT + 2 :]) for r in rows],
        )
    db.q("DROP TABLE batch_versions_json")


def _exchange_tables(db: _Tx, before: int) -> None:
    """Schema 3: the shipment tables an earlier program kept beside the batches join the schema.

    The first shipment schema keyed shipment_bags by bag id alone (one lot's BB-1 blocked every
    other lot's); its rows move to the (line, lot, bag) key. The bag index is rebuilt from every
    stored version once (the store keeps it current from then on, as it saves each version).
    """
    row = db.q("SELECT sql FROM sqlite_master WHERE name = 'shipment_bags'")
    old = bool(row) and "bag_id TEXT PRIMARY KEY" in row[0][0]
    if old:
        db.q("ALTER TABLE shipment_bags RENAME TO shipment_bags_v1")
        db.q("DROP INDEX IF EXISTS shipment_bags_shipment")
    columns = {r[1] for r in db.q("PRAGMA table_info(shipments)")}  # none: no shipments table yet
    if columns and "customer" not in columns:
        db.q("ALTER TABLE shipments ADD COLUMN customer TEXT NOT NULL DEFAULT ''")
    for statement in filter(str.strip, exchange_tables(key="TEXT", real="REAL").split(";")):
        db.q(statement)
    if old:
        db.q(
            "INSERT INTO shipment_bags (bag_id, shipment_id, position, line, batch_id, net_kg) "
            "SELECT bag_id, shipment_id, position, line, batch_id, net_kg FROM shipment_bags_v1"
        )
        db.q("DROP TABLE shipment_bags_v1")
    for gone in ("lot_bags_state", "bag_index", "bag_index_state"):
        db.q(f"DROP TABLE IF EXISTS {gone}")
    if before < 3:  # noqa: PLR2004 - the schema step that introduced the bag index
        rows = db.q(
            "SELECT line, batch_id, version, result_msgpack FROM batch_versions ORDER BY line, batch_id, version"
        )
        db.many(UPSERT_LOT_BAG, lot_bag_rows(results_of(rows)))


def _projections(todo: list[tuple[Any, ...]]) -> list[Projection]:
    """The projections of (rowid, line, batch_id, version, result) rows, built in bulk."""
    return projections(results_of([t[1:] for t in todo]))


def _migrate(db: _Tx) -> None:
    """Bring an older store up to date: (re)build the report projection and the assay sheets."""
    cols = {r[1] for r in db.q("PRAGMA table_info(batch_versions)")}
    for col in ("report_batch", "report_streams", "report_recoveries"):
        if col not in cols:
            db.q(f"ALTER TABLE batch_versions ADD COLUMN {col} TEXT")
    if "result_json" in cols:
        _result_column(db)
    meta = dict(db.q("SELECT key, value FROM meta"))
    _exchange_tables(db, int(meta.get("schema_version", "0")))
    stale = "" if meta.get("projection_version") == str(PROJECTION_VERSION) else " OR 1"
    last = -1  # chunk by chunk, as the result column: a store of years never sits in memory decoded
    while todo := db.q(
        "SELECT rowid, line, batch_id, version, result_msgpack FROM batch_versions "
        f"WHERE rowid > ? AND (report_batch IS NULL{stale}) ORDER BY rowid LIMIT ?",
        (last, _CHUNK),
    ):
        if last < 0:
            log.info("building the report projection of the batch versions (one-time)")
        db.many(
            "UPDATE batch_versions SET report_batch=?, report_streams=?, report_recoveries=? WHERE rowid=?",
            [(p.batch, p.streams, p.recoveries, row) for p, (row, *_) in zip(_projections(todo), todo, strict=True)],
        )
        last = todo[-1][0]
    # Imports keep the sheets current in their own transaction, so only a store from before the
    # sheets existed (or a stale projection) needs this scan of every assay row (0.8 s at 2.6 M rows).
    if stale or meta.get("schema_version") != str(SCHEMA_VERSION):
        having = "" if stale else " WHERE batch_id NOT IN (SELECT batch_id FROM assay_sheets)"
        refresh_sheets(db, {r[0] for r in db.q(f"SELECT DISTINCT batch_id FROM assays{having}")})
    wanted = {"schema_version": str(SCHEMA_VERSION), "projection_version": str(PROJECTION_VERSION)}
    if any(meta.get(k) != v for k, v in wanted.items()):  # an up-to-date store is not written to at all
        write_meta(db)


class _Tx:
    """store_sql.Tx over the one SQLite connection (BEGIN IMMEDIATE already serialises writers)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def q(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, args).fetchall()

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self.db.executemany(sql, rows)

    def lock(self, key: str) -> None:
        pass

    def after_copy(self) -> None:
        pass  # AUTOINCREMENT follows explicitly inserted ids by itself

    def copy(self, table: str, columns: str, rows: Iterable[Sequence[object]]) -> None:
        marks = ",".join("?" * len(columns.split(",")))
        self.db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        yield from self.db.execute(sql)


class BatchStore(Store):
    """The SQLite store (sqlite:///path)."""

    errors = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0, read_only: bool | None = None) -> None:
        """read_only None: decided by the file (a store this user cannot write is opened read-only,
        so a backup or another user's store can still be reported from)."""
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._lock = threading.Lock()
        self._transactions = 0  # counted under the lock: our own commits (data_version counts others')
        if read_only is None:
            read_only = self.path.exists() and not (
                os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
            )
        if read_only:
            self._open_read_only(busy_timeout_s)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self.upgrade()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open the batch store: {exc}") from exc

    def _open_read_only(self, busy_timeout_s: float) -> None:
        base = f"{self.path.resolve().as_uri()}?mode=ro"
        # mode=ro needs the WAL index (-shm), which a folder this user cannot write may lack: then the
        # file is read as immutable (a backup, a copy; a live store's writer keeps its -shm beside it)
        for uri in (base, base + "&immutable=1"):
            try:
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
                )
            except sqlite3.Error as exc:
                error = exc
                continue
            try:
                version = self.schema_version()
                break
            except sqlite3.Error as exc:
                self._db.close()
                error = exc
        else:
            raise StoreError(f"{self.path}: cannot open the batch store read-only: {error}") from error
        if version != SCHEMA_VERSION:
            self._db.close()
            raise StoreError(
                f"{self.url}: read-only store at schema version {version}, this program reads {SCHEMA_VERSION} "
                "(hint: `blackmass store upgrade` by a user who may write it, or a matching blackmass-monitor)"
            )
        log.info("%s: opened read-only (this user cannot write it)", self.path)

    def upgrade(self) -> tuple[int, int]:
        """Bring the schema up to SCHEMA_VERSION (runs on open); (version before, version after)."""
        found = self._db.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchone()
        before = self.schema_version() if found else 0
        if before > SCHEMA_VERSION:
            raise StoreError(
                f"{self.url}: schema version {before} is newer than this program's {SCHEMA_VERSION} "
                "(hint: upgrade blackmass-monitor)"
            )
        self._db.executescript(_SCHEMA)
        with self._tx() as db:
            _migrate(db)
        return before, SCHEMA_VERSION

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def change_mark(self, *, wait: bool = True) -> object | None:
        """Our transactions and SQLite's data_version (which moves with other connections' commits);
        wait=False: None while another thread holds the connection."""
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            return self._transactions, self._db.execute("PRAGMA data_version").fetchone()[0]
        finally:
            self._lock.release()

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        with self._lock:
            self._transactions += 1  # under the lock the whole transaction: no reader sees it half done
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield _Tx(self._db)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # BEGIN itself may have failed (locked): keep its error
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def iter_rows(self, table: str, columns: str, chunk: int = 20_000) -> Iterator[tuple[Any, ...]]:
        last = -1
        while rows := self._read(
            f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, chunk)
        ):
            last = rows[-1][0]
            yield from (r[1:] for r in rows)
