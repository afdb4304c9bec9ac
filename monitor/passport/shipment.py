"""A shipment passport: the bags that left together, summed per bag (pure, given lots and assays).

Each bag's element masses come from its own assays where the lab assayed that bag, else from its
lot's black-mass grade (the lot's element kg per kg of black mass). Each bag carries its lot's
CO2e in proportion to its mass (the lot's whole preprocessing CO2e is put on its black mass, see
docs/passports.md) and its lot's origin shares; origin shares per element weight each bag by its
mass of that element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.core.assays import Assay, stream_grade
from monitor.core.carbon import allocate_by_mass
from monitor.core.results import BatchResult
from monitor.passport.lot import (
    FORMAT,
    PASSPORT_ELEMENTS,
    Issuer,
    known,
    lot_status,
    result_digest,
    software,
    stated_co2e,
    stated_total,
)
from monitor.passport.origin import UNKNOWN, mix
from monitor.passport.precision import CO2E_DIGITS, KG_DIGITS, rounded, total
from monitor.store.query import iso
from monitor.store.shipments import Shipment

SHIPMENT_SCHEMA = "urn:blackmass-monitor:schema:shipment-passport:1"  # $id of schemas/shipment-passport.schema.json


def bag_elements(bag_id: str, net_kg: float, lot: BatchResult, assays: Sequence[Assay]) -> tuple[dict[str, float], str]:
    """kg of each element in one bag, and where the grade came from ("bag_assay" or "lot")."""
    mine = [a for a in assays if a.stream == "black_mass" and a.bag_id == bag_id]
    out: dict[str, float] = {}
    used_bag = False
    bm_kg = lot.mass("black_mass")
    for el in PASSPORT_ELEMENTS:
        g = stream_grade(mine, "black_mass", el, net_kg, {bag_id: net_kg}) if mine else None
        if g is not None:
            out[el] = g.fraction * g.dry_kg
            used_bag = True
            continue
        m = lot.metal(el)
        if m is not None:
            out[el] = m.black_mass_kg * net_kg / bm_kg if bm_kg > 0 else float("nan")
    return out, "bag_assay" if used_bag else "lot"


def _lot_entry(line: str, batch_id: str, lot: BatchResult, origin: tuple[tuple[str, float], ...]) -> dict[str, Any]:
    """A lot's line in the shipment passport, before its bags are added up."""
    return {
        "line": line,
        "batch_id": batch_id,
        "result_digest": result_digest(lot),
        "status": lot_status(lot, {m.element: {"assay_status": m.status} for m in lot.metals}),
        "origin_shares": dict(origin),
        "bags": 0,
        "net_kg": 0.0,
        "co2e_kg": 0.0,
    }


def shipment_passport(
    shipment: Shipment,
    lots: Mapping[tuple[str, str], BatchResult],
    assays: Mapping[str, Sequence[Assay]],
    issuer: Issuer,
    *,
    issued_at: float,
) -> dict[str, Any]:
    """The unsigned passport of a recorded shipment; `lots` by (line, batch id), `assays` by batch id."""
    bags: list[dict[str, Any]] = []
    el_parts: dict[str, list[tuple[float, tuple[tuple[str, float], ...]]]] = {}
    el_kg: dict[str, list[float | None]] = {}
    per_lot: dict[tuple[str, str], dict[str, Any]] = {}
    lot_parts: dict[tuple[str, str], tuple[list[float | None], list[float | None]]] = {}
    for b in shipment.bags:
        lot = lots[(b.line, b.batch_id)]
        origin = lot.origin or ((UNKNOWN, 1.0),)
        elements, source = bag_elements(b.bag_id, b.net_kg, lot, assays.get(b.batch_id, ()))
        lot_co2e = stated_total(stated_co2e(lot)) if lot.carbon else None
        co2e = allocate_by_mass(lot_co2e, b.net_kg, lot.mass("black_mass")) if lot_co2e is not None else float("nan")
        bag_kg = {el: rounded(kg, KG_DIGITS) for el, kg in elements.items()}
        bags.append(
            {
                "bag_id": b.bag_id,
                "net_kg": rounded(b.net_kg, KG_DIGITS),
                "line": b.line,
                "batch_id": b.batch_id,
                "grade_source": source,
                "co2e_kg": rounded(co2e, CO2E_DIGITS),
                "elements_kg": bag_kg,
            }
        )
        for el, kg in elements.items():
            el_kg.setdefault(el, []).append(bag_kg[el])
            el_parts.setdefault(el, []).append((kg, origin))
        key = (b.line, b.batch_id)
        if key not in per_lot:
            per_lot[key] = _lot_entry(b.line, b.batch_id, lot, origin)
            lot_parts[key] = ([], [])
        per_lot[key]["bags"] += 1
        lot_parts[key][0].append(b.net_kg)
        lot_parts[key][1].append(co2e)
    for key, (masses, co2es) in lot_parts.items():  # each total is the sum of the parts it shows
        per_lot[key]["net_kg"] = total(masses, KG_DIGITS)
        per_lot[key]["co2e_kg"] = total(co2es, CO2E_DIGITS)
    net = total((b.net_kg for b in shipment.bags), KG_DIGITS) or 0.0
    co2e_total = total((e["co2e_kg"] for e in per_lot.values()), CO2E_DIGITS)
    flags = [f"preliminary:{e['batch_id']}" for e in per_lot.values() if e["status"] != "final"]
    flags += [f"origin_unknown:{e['batch_id']}" for e in per_lot.values() if UNKNOWN in e["origin_shares"]]
    el_total = {el: total(parts, KG_DIGITS) for el, parts in el_kg.items()}
    return {
        "schema": SHIPMENT_SCHEMA,
        "passport_type": "shipment",
        "format": FORMAT,
        "status": "final" if all(e["status"] == "final" for e in per_lot.values()) else "preliminary",
        "issued_at": iso(issued_at),
        "plant": issuer.plant,
        "operator": issuer.operator,
        "shipment_id": shipment.shipment_id,
        "created_at": iso(shipment.created_at),
        "bag_count": len(bags),
        "net_kg": net,
        "elements": {
            el: {
                "kg": kg,
                "grade": known(kg / net) if kg is not None and net > 0 else None,
                "origin_shares": mix(el_parts[el]) if kg is not None else None,
            }
            for el, kg in el_total.items()
        },
        "origin_shares": mix((b.net_kg, lots[(b.line, b.batch_id)].origin or ((UNKNOWN, 1.0),)) for b in shipment.bags),
        "co2e_kg": co2e_total,
        "co2e_kg_per_t": known(co2e_total / (net / 1000.0)) if co2e_total is not None and net > 0 else None,
        "lots": list(per_lot.values()),
        "bags": bags,
        "data_quality": {"flags": flags},
        "software": software(),
    }
