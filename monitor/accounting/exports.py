"""Catena-X and Battery Pass documents of a lot or shipment from the store (CLI `passport export`).

Built from the same passport documents the signed passports are made of, so the masses and shares
agree with them to their stated precision.
"""

from __future__ import annotations

import math
from typing import Any

from monitor.accounting.footprints import FootprintContext
from monitor.core.results import BatchResult
from monitor.errors import InputError
from monitor.passport.batterypass import circularity_document
from monitor.passport.catenax import Parties, catenax_document
from monitor.passport.issue import find_lot, issuer
from monitor.passport.lot import lot_passport
from monitor.passport.precision import human_numbers
from monitor.passport.shipment import shipment_passport
from monitor.store.sql import Store

FORMATS = ("catenax-recycling", "batterypass-circularity")


def _products_kg(r: BatchResult) -> float:
    """The measured products' kg (closure × feed), else the black mass alone."""
    kg = r.closure * r.feed_kg
    return kg if math.isfinite(kg) and kg > 0 else r.mass("black_mass")


def _lot_parts(
    store: Store, kind: str, subject_id: str, ctx: FootprintContext, now: float, line: str | None
) -> tuple[list[tuple[dict[str, Any], list[dict[str, Any]], float]], dict[str, Any]]:
    """(lot passport, its bags in this delivery, products kg) per lot, and the subject's own passport."""
    who = issuer(ctx.passport)
    if kind == "lot":
        r = find_lot(store, subject_id, line)
        doc = human_numbers(lot_passport(r, who, issued_at=now))
        return [(doc, list(doc["black_mass_bags"]), _products_kg(r))], doc
    shipment = store.shipment(subject_id)
    lots = {(b.line, b.batch_id): find_lot(store, b.batch_id, b.line) for b in shipment.bags}
    assays = {bid: store.assays(bid) for _, bid in lots}
    doc = human_numbers(shipment_passport(shipment, lots, assays, who, issued_at=now))
    parts = []
    for (ln, bid), r in lots.items():
        bags = [b for b in doc["bags"] if b["line"] == ln and b["batch_id"] == bid]
        parts.append((human_numbers(lot_passport(r, who, issued_at=now)), bags, _products_kg(r)))
    return parts, doc


def export_document(
    store: Store,
    fmt: str,
    kind: str,
    subject_id: str,
    ctx: FootprintContext,
    *,
    now: float,
    line: str | None = None,
    parties: Parties | None = None,
) -> dict[str, Any]:
    """The `fmt` document of lot or shipment `subject_id`."""
    if fmt not in FORMATS:
        raise InputError("--format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
    lots, doc = _lot_parts(store, kind, subject_id, ctx, now, line)
    shares = dict(doc.get("origin_shares") or {"unknown": 1.0})
    if fmt == "catenax-recycling":
        parties = parties or Parties(domain=ctx.pact.domain)
        return catenax_document(lots, shares, f"{kind}:{subject_id}", parties, ctx.pact.geography_country)
    if kind == "lot":  # one lot: every element of its black mass has the lot's origin
        return circularity_document(f"lot:{subject_id}", {}, shares, {})
    per_element = {el: e["origin_shares"] for el, e in doc["elements"].items() if e.get("origin_shares")}
    basis = {el: "element mass per bag, weighted by each lot's origin shares" for el in per_element}
    return circularity_document(f"shipment:{subject_id}", per_element, shares, basis)
