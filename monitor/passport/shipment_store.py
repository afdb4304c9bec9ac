"""Shipments kept beside the batches (<data-dir>/blackmass.db): which bags left in which shipment.

A bag ships once: (line, lot, bag id) is `shipment_bags`' primary key — a line with bag_scope =
"lot" numbers its bags afresh in every lot, so the bag id alone names no bag — and a shipment is
written in one transaction after every bag was checked, so an unknown, ambiguous or
already-shipped bag refuses the whole shipment and changes nothing. A bag id found in several
lots must be named LOT/BAG. Bags are found through `lot_bags` ((line, lot, bag) → net kg), which
follows the batch versions the monitor stores: each call indexes only the versions stored since
the last one, so a 30,000-batch store is parsed once, not on every shipment.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import InputError, NotFoundError, StoreError

log = logging.getLogger(__name__)


class ShipmentConflict(InputError):
    """The shipment id, or a bag, is already taken by an earlier shipment."""


SHIPMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS shipments (shipment_id TEXT PRIMARY KEY, created_at REAL NOT NULL, bags INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS shipment_bags (
    bag_id TEXT NOT NULL, shipment_id TEXT NOT NULL, position INTEGER NOT NULL,
    line TEXT NOT NULL, batch_id TEXT NOT NULL, net_kg REAL NOT NULL, PRIMARY KEY (line, batch_id, bag_id)
);
CREATE INDEX IF NOT EXISTS shipment_bags_shipment ON shipment_bags (shipment_id);
CREATE TABLE IF NOT EXISTS lot_bags (
    line TEXT NOT NULL, batch_id TEXT NOT NULL, bag_id TEXT NOT NULL, net_kg REAL NOT NULL,
    PRIMARY KEY (line, batch_id, bag_id)
);
CREATE INDEX IF NOT EXISTS lot_bags_bag ON lot_bags (bag_id);
CREATE TABLE IF NOT EXISTS lot_bags_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_rowid INTEGER NOT NULL);
DROP TABLE IF EXISTS bag_index;
DROP TABLE IF EXISTS bag_index_state;
"""


@dataclass(frozen=True, slots=True)
class ShippedBag:
    bag_id: str
    line: str
    batch_id: str
    net_kg: float


@dataclass(frozen=True, slots=True)
class Shipment:
    shipment_id: str
    created_at: float
    bags: tuple[ShippedBag, ...]


def _bags_of(result_json: str) -> list[tuple[str, float]]:
    d = json.loads(result_json)
    for s in d.get("streams", ()):
        if s.get("stream") == "black_mass":
            return [(str(b), float(kg)) for b, kg in s.get("items", ())]
    return []


def _find(db: sqlite3.Connection, bag: str) -> tuple[tuple[str, str, str] | None, str]:
    """(line, lot, bag id) of a bag named by its id, or LOT/BAG where the id is in several lots."""
    hits = db.execute("SELECT line, batch_id, bag_id FROM lot_bags WHERE bag_id = ?", (bag,)).fetchall()
    if not hits and "/" in bag:
        lot, _, bag_id = bag.rpartition("/")
        hits = db.execute(
            "SELECT line, batch_id, bag_id FROM lot_bags WHERE batch_id = ? AND bag_id = ?", (lot, bag_id)
        ).fetchall()
    if not hits:
        return None, f"bag {bag!r} is not a black-mass bag of any stored batch"
    if len(hits) > 1:
        lots = ", ".join(f"{h[1]} ({h[0]})" for h in hits[:5])
        return None, f"bag {bag!r} is in several lots ({lots}): name it LOT/{bag}, e.g. {hits[0][1]}/{bag}"
    return (str(hits[0][0]), str(hits[0][1]), str(hits[0][2])), ""


class ShipmentStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(str(self.path), "no batch store here", "--data-dir of a monitor or demo run")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._upgrade()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the shipment tables: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def _upgrade(self) -> None:
        """Create the tables; move shipments recorded under the first schema to the (line, lot, bag) key."""
        row = self._db.execute("SELECT sql FROM sqlite_master WHERE name = 'shipment_bags'").fetchone()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # the first schema keyed shipment_bags by bag_id alone (one lot's BB-1 blocked every other lot's)
            old = row is not None and "bag_id TEXT PRIMARY KEY" in row[0]
            if old:
                self._db.execute("ALTER TABLE shipment_bags RENAME TO shipment_bags_v1")
                self._db.execute("DROP INDEX IF EXISTS shipment_bags_shipment")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)
            if old:
                self._db.execute(
                    "INSERT INTO shipment_bags SELECT bag_id, shipment_id, position, line, batch_id, net_kg "
                    "FROM shipment_bags_v1"
                )
                self._db.execute("DROP TABLE shipment_bags_v1")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _index(self, db: sqlite3.Connection) -> None:
        """Index the bags of every batch version stored since the last call (inside the caller's tx)."""
        row = db.execute("SELECT last_rowid FROM lot_bags_state WHERE id = 1").fetchone()
        last = row[0] if row else 0
        new = db.execute(
            "SELECT rowid, line, batch_id, result_json FROM batch_versions WHERE rowid > ? ORDER BY rowid", (last,)
        ).fetchall()
        if not new:
            return
        rows = [(line, bid, bag, kg) for _, line, bid, text in new for bag, kg in _bags_of(text)]
        db.executemany("INSERT OR REPLACE INTO lot_bags VALUES (?,?,?,?)", rows)
        db.execute("INSERT OR REPLACE INTO lot_bags_state VALUES (1, ?)", (new[-1][0],))
        log.debug("bag index: %d batch versions, %d bags", len(new), len(rows))

    def create(self, shipment_id: str, bag_ids: Sequence[str], *, now: float | None = None) -> Shipment:
        """Record a shipment of these bags, all or none; InputError names the first bad bag."""
        where = f"shipment {shipment_id!r}"
        if not SHIPMENT_ID.match(shipment_id):
            raise InputError(where, "expected an id of letters, digits and ._:/- (at most 64)", "e.g. SHIP-2026-0042")
        if not bag_ids:
            raise InputError(where, "no bags given", "--bags FILE (one bag id a line) or --bag ID ...")
        twice = [b for b, n in Counter(bag_ids).items() if n > 1]
        if twice:
            raise InputError(where, f"bag {twice[0]!r} is listed twice", "each bag ships once")
        when = time.time() if now is None else now
        try:
            with self._tx() as db:
                self._index(db)
                if db.execute("SELECT 1 FROM shipments WHERE shipment_id = ?", (shipment_id,)).fetchone():
                    raise ShipmentConflict(where, "already exists; nothing changed", "choose a new shipment id")
                found: list[ShippedBag] = []
                problems: list[str] = []
                for bag in bag_ids:
                    hit, problem = _find(db, bag)
                    if hit is not None and hit in {(b.line, b.batch_id, b.bag_id) for b in found}:
                        problem = f"bag {bag!r} is listed twice"
                    if problem:
                        problems.append(problem)
                        continue
                    assert hit is not None
                    shipped = db.execute(
                        "SELECT shipment_id FROM shipment_bags WHERE line = ? AND batch_id = ? AND bag_id = ?", hit
                    ).fetchone()
                    if shipped:
                        problems.append(f"bag {bag!r} already shipped in {shipped[0]}")
                    else:
                        kg = db.execute(
                            "SELECT net_kg FROM lot_bags WHERE line = ? AND batch_id = ? AND bag_id = ?", hit
                        ).fetchone()[0]
                        found.append(ShippedBag(hit[2], hit[0], hit[1], float(kg)))
                if problems:
                    more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:4])})" if len(problems) > 1 else ""
                    error = ShipmentConflict if "already shipped" in problems[0] else InputError
                    raise error(where, f"{problems[0]}{more}; nothing changed", "a shipment is all bags or none")
                db.execute("INSERT INTO shipments VALUES (?,?,?)", (shipment_id, when, len(found)))
                db.executemany(
                    "INSERT INTO shipment_bags VALUES (?,?,?,?,?,?)",
                    [(b.bag_id, shipment_id, i, b.line, b.batch_id, b.net_kg) for i, b in enumerate(found)],
                )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot record {where}: {exc}") from exc
        log.info("shipment %s: %d bags, %.1f kg", shipment_id, len(found), sum(b.net_kg for b in found))
        return Shipment(shipment_id, when, tuple(found))

    def get(self, shipment_id: str) -> Shipment:
        head = self._db.execute("SELECT created_at FROM shipments WHERE shipment_id = ?", (shipment_id,)).fetchone()
        if head is None:
            raise NotFoundError(f"shipment {shipment_id!r}", "not found", "blackmass shipment create --id ...")
        rows = self._db.execute(
            "SELECT bag_id, line, batch_id, net_kg FROM shipment_bags WHERE shipment_id = ? ORDER BY position",
            (shipment_id,),
        ).fetchall()
        return Shipment(shipment_id, float(head[0]), tuple(ShippedBag(*r) for r in rows))

    def unshipped(self, lots: Sequence[tuple[str, str]]) -> list[ShippedBag]:
        """The black-mass bags of these (line, lot)s that no shipment took yet, lot by lot (web page)."""
        out: list[ShippedBag] = []
        try:
            with self._tx() as db:
                self._index(db)
                for line, lot in lots:
                    rows = db.execute(
                        "SELECT b.bag_id, b.net_kg FROM lot_bags b LEFT JOIN shipment_bags s "
                        "ON s.line = b.line AND s.batch_id = b.batch_id AND s.bag_id = b.bag_id "
                        "WHERE b.line = ? AND b.batch_id = ? AND s.bag_id IS NULL ORDER BY b.rowid",
                        (line, lot),
                    ).fetchall()
                    out += [ShippedBag(str(bag), line, lot, float(kg)) for bag, kg in rows]
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read the unshipped bags: {exc}") from exc
        return out
