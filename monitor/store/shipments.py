"""Shipments in the batch store: which bags left in which shipment, to which customer.

A bag ships once: (line, lot, bag id) is `shipment_bags`' primary key — a line with bag_scope =
"lot" numbers its bags afresh in every lot, so the bag id alone names no bag — and a shipment is
written in one transaction after every bag was checked, so an unknown, ambiguous or
already-shipped bag refuses the whole shipment and changes nothing. A bag id found in several
lots must be named LOT/BAG. Bags are found through `lot_bags` ((line, lot, bag) → net kg), which
the store fills in the transaction that saves each batch version (store/sql.py), on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.errors import InputError, NotFoundError, StoreError
from monitor.store.tx import StoreHalf

if TYPE_CHECKING:
    from monitor.core.results import BatchResult
    from monitor.store.tx import Tx

log = logging.getLogger(__name__)

SHIPMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
CUSTOMER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._&:/-]{0,79}$")
UPSERT_LOT_BAG = (
    "INSERT INTO lot_bags (line, batch_id, bag_id, net_kg) VALUES (?,?,?,?) "
    "ON CONFLICT (line, batch_id, bag_id) DO UPDATE SET net_kg = excluded.net_kg"
)


class ShipmentConflict(InputError):
    """The shipment id, or a bag, is already taken by an earlier shipment."""


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
    customer: str = ""


def lot_bag_rows(results: Sequence[BatchResult]) -> list[tuple[object, ...]]:
    """The `lot_bags` rows of stored batch versions: (line, lot, bag, net kg) of their black mass."""
    return [(r.line, r.batch_id, str(bag), float(kg)) for r in results for bag, kg in r.bags.items()]


def _find(db: Tx, bag: str) -> tuple[tuple[str, str, str] | None, str]:
    """(line, lot, bag id) of a bag named by its id, or LOT/BAG where the id is in several lots."""
    hits = db.q("SELECT line, batch_id, bag_id FROM lot_bags WHERE bag_id = ? ORDER BY line, batch_id", (bag,))
    if not hits and "/" in bag:
        lot, _, bag_id = bag.rpartition("/")
        hits = db.q("SELECT line, batch_id, bag_id FROM lot_bags WHERE batch_id = ? AND bag_id = ?", (lot, bag_id))
    if not hits:
        return None, f"bag {bag!r} is not a black-mass bag of any stored batch"
    if len(hits) > 1:
        lots = ", ".join(f"{h[1]} ({h[0]})" for h in hits[:5])
        return None, f"bag {bag!r} is in several lots ({lots}): name it LOT/{bag}, e.g. {hits[0][1]}/{bag}"
    return (str(hits[0][0]), str(hits[0][1]), str(hits[0][2])), ""


def _check_request(shipment_id: str, bag_ids: Sequence[str], customer: str) -> None:
    where = f"shipment {shipment_id!r}"
    if not SHIPMENT_ID.match(shipment_id):
        raise InputError(where, "expected an id of letters, digits and ._:/- (at most 64)", "e.g. SHIP-2026-0042")
    if customer and not CUSTOMER.match(customer):
        raise InputError(where, f"customer {customer!r}: expected letters, digits, spaces and ._&:/-", "e.g. ACME")
    if not bag_ids:
        raise InputError(where, "no bags given", "--bags FILE (one bag id a line) or --bag ID ...")
    twice = [b for b, n in Counter(bag_ids).items() if n > 1]
    if twice:
        raise InputError(where, f"bag {twice[0]!r} is listed twice", "each bag ships once")


def _resolve(db: Tx, where: str, bag_ids: Sequence[str]) -> list[ShippedBag]:
    """Every bag found and unshipped, or the first problem raised (with a count of the others)."""
    found: list[ShippedBag] = []
    problems: list[str] = []
    taken = False  # the first problem is a bag an earlier shipment took (a conflict, not a bad request)
    for bag in bag_ids:
        hit, problem = _find(db, bag)
        if hit is not None and hit in {(b.line, b.batch_id, b.bag_id) for b in found}:
            problem = f"bag {bag!r} is listed twice"
        if problem or hit is None:
            problems.append(problem)
            continue
        key = "line = ? AND batch_id = ? AND bag_id = ?"
        shipped = db.q(f"SELECT shipment_id FROM shipment_bags WHERE {key}", hit)
        if shipped:
            taken = taken or not problems
            problems.append(f"bag {bag!r} already shipped in {shipped[0][0]}")
            continue
        kg = db.q(f"SELECT net_kg FROM lot_bags WHERE {key}", hit)[0][0]
        found.append(ShippedBag(hit[2], hit[0], hit[1], float(kg)))
    if problems:
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:4])})" if len(problems) > 1 else ""
        error = ShipmentConflict if taken else InputError
        raise error(where, f"{problems[0]}{more}; nothing changed", "a shipment is all bags or none")
    return found


class ShipmentTables(StoreHalf):
    """The shipment half of the store's interface (mixed into store.sql.Store)."""

    def create_shipment(
        self, shipment_id: str, bag_ids: Sequence[str], *, customer: str = "", now: float | None = None
    ) -> Shipment:
        """Record a shipment of these bags (sold to `customer`), all or none; InputError names the first bad bag."""
        _check_request(shipment_id, bag_ids, customer)
        where = f"shipment {shipment_id!r}"
        when = time.time() if now is None else now
        try:
            with self._tx() as db:
                db.lock("shipments")  # one shipment at a time: a bag is checked and taken together
                if db.q("SELECT 1 FROM shipments WHERE shipment_id = ?", (shipment_id,)):
                    raise ShipmentConflict(where, "already exists; nothing changed", "choose a new shipment id")
                found = _resolve(db, where, bag_ids)
                db.many(
                    "INSERT INTO shipments (shipment_id, created_at, bags, customer) VALUES (?,?,?,?)",
                    [(shipment_id, when, len(found), customer)],
                )
                db.many(
                    "INSERT INTO shipment_bags (bag_id, shipment_id, position, line, batch_id, net_kg) "
                    "VALUES (?,?,?,?,?,?)",
                    [(b.bag_id, shipment_id, i, b.line, b.batch_id, b.net_kg) for i, b in enumerate(found)],
                )
        except self.errors as exc:
            raise StoreError(f"{self.url}: cannot record {where}: {exc}") from exc
        log.info("shipment %s: %d bags, %.1f kg", shipment_id, len(found), sum(b.net_kg for b in found))
        return Shipment(shipment_id, when, tuple(found), customer)

    def shipment(self, shipment_id: str) -> Shipment:
        """A recorded shipment; NotFoundError when there is none (over HTTP a 404)."""
        head = self._read("SELECT created_at, customer FROM shipments WHERE shipment_id = ?", (shipment_id,))
        if not head:
            raise NotFoundError(f"shipment {shipment_id!r}", "not found", "blackmass shipment create --id ...")
        rows = self._read(
            "SELECT bag_id, line, batch_id, net_kg FROM shipment_bags WHERE shipment_id = ? ORDER BY position",
            (shipment_id,),
        )
        bags = tuple(ShippedBag(str(b), str(ln), str(bid), float(kg)) for b, ln, bid, kg in rows)
        return Shipment(shipment_id, float(head[0][0]), bags, str(head[0][1]))

    def shipment_ids(self, customer: str | None = None) -> list[str]:
        """Every shipment id (of one customer), oldest first."""
        if customer is None:
            rows = self._read("SELECT shipment_id FROM shipments ORDER BY created_at, shipment_id")
        else:
            rows = self._read(
                "SELECT shipment_id FROM shipments WHERE customer = ? ORDER BY created_at, shipment_id", (customer,)
            )
        return [str(r[0]) for r in rows]

    def unshipped(self, lots: Sequence[tuple[str, str]]) -> list[ShippedBag]:
        """The black-mass bags of these (line, lot)s that no shipment took yet, lot by lot, each
        lot's bags in bag-number order (BB-2 before BB-10) (the web's shipments page)."""
        out: list[ShippedBag] = []
        try:
            for line, lot in lots:
                rows = self._read(
                    "SELECT b.bag_id, b.net_kg FROM lot_bags b LEFT JOIN shipment_bags s "
                    "ON s.line = b.line AND s.batch_id = b.batch_id AND s.bag_id = b.bag_id "
                    "WHERE b.line = ? AND b.batch_id = ? AND s.bag_id IS NULL",
                    (line, lot),
                )
                bags = sorted(rows, key=lambda r: _natural(str(r[0])))
                out += [ShippedBag(str(bag), line, lot, float(kg)) for bag, kg in bags]
        except self.errors as exc:
            raise StoreError(f"{self.url}: cannot read the unshipped bags: {exc}") from exc
        return out


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that orders the digit runs of a bag id as numbers (BB-2 before BB-10)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)
