"""Issue PACT footprints of lots and shipments from the store (the CLI and the PACT API share this).

Each footprint is built from the lot's or shipment's passport document (the same figures the signed
passport carries) and registered in the store: unchanged content keeps its id, a change issues a
new id that names the previous one (store/footprints.py). The carbon (graphite) content of black
mass comes from the lab's C assays of the lot's black mass, else from the grade table: the feed's
declared carbon, all of it taken to report to the black mass (an upper bound, said in the document).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from monitor.accounting.seeds import FeedGrades
from monitor.core.assays import stream_grade
from monitor.core.results import BatchResult, BatchState
from monitor.errors import InputError
from monitor.passport.issue import find_lot, issuer
from monitor.passport.lot import lot_passport
from monitor.passport.pact import CarbonContent, content_sha, footprint, issued
from monitor.passport.pact_settings import PactSettings
from monitor.passport.precision import human_numbers
from monitor.passport.settings import PassportSettings
from monitor.passport.shipment import shipment_passport
from monitor.store.footprints import Issued
from monitor.store.query import iso
from monitor.store.sql import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FootprintContext:
    """Everything a footprint needs beside the store."""

    passport: PassportSettings
    pact: PactSettings
    grades: FeedGrades | None = None


def lot_subject(r: BatchResult) -> str:
    return f"lot:{r.line}:{r.batch_id}"


def shipment_subject(shipment_id: str) -> str:
    return f"shipment:{shipment_id}"


def carbon_content(store: Store, r: BatchResult, grades: FeedGrades | None) -> CarbonContent:
    """kg C per kg of the lot's black mass: its C assay, else the grade table's feed carbon (upper bound)."""
    bm = r.mass("black_mass")
    g = stream_grade(store.assays(r.batch_id), "black_mass", "c", bm, r.bags)
    if g is not None:
        return CarbonContent(g.fraction, "assay")
    declared = grades.declared(r.chemistry, r.feed_form) if grades else None
    if declared and "c" in declared and bm > 0 and r.feed_kg > 0:
        return CarbonContent(min(1.0, declared["c"] * r.feed_kg / bm), "grade_table")
    return CarbonContent(None, "unknown")


def _register(store: Store, subject: str, content: dict[str, Any], now: float) -> Issued:
    def build(fid: str, preceding: list[str], created: float) -> str:
        return json.dumps(issued(content, fid, preceding, created), ensure_ascii=False)

    return store.issue_footprint(subject, content_sha(content), build, now=now)


def lot_footprint(store: Store, r: BatchResult, ctx: FootprintContext, *, now: float) -> Issued:
    doc = human_numbers(lot_passport(r, issuer(ctx.passport), issued_at=now))
    content = footprint(doc, ctx.pact, carbon_content(store, r, ctx.grades))
    return _register(store, lot_subject(r), content, now)


def shipment_footprint(store: Store, shipment_id: str, ctx: FootprintContext, *, now: float) -> Issued:
    shipment = store.shipment(shipment_id)
    lots = {(b.line, b.batch_id): find_lot(store, b.batch_id, b.line) for b in shipment.bags}
    assays = {bid: store.assays(bid) for _, bid in lots}
    who = issuer(ctx.passport)
    doc = human_numbers(shipment_passport(shipment, lots, assays, who, issued_at=now))
    shares: dict[tuple[str, str], float] = {}
    for b in shipment.bags:
        shares[(b.line, b.batch_id)] = shares.get((b.line, b.batch_id), 0.0) + b.net_kg
    fractions = [(kg, carbon_content(store, lots[k], ctx.grades)) for k, kg in shares.items()]
    known = [(kg, c.fraction) for kg, c in fractions if c.fraction is not None]
    total_kg = sum(kg for kg, _ in known)
    sources = sorted({c.source for _, c in fractions})
    carbon = CarbonContent(
        sum(kg * f for kg, f in known) / total_kg if known and len(known) == len(fractions) else None,
        sources[0] if len(sources) == 1 else "mixed",
    )
    period = (iso(min(r.start for r in lots.values())), iso(max(r.end for r in lots.values())))
    chems = sorted({r.chemistry for r in lots.values() if r.chemistry})
    parts = []  # (share of the lot's black mass shipped, lot passport); a partial lot has no passport
    for k, r in lots.items():
        if r.state is not BatchState.PARTIAL and r.mass("black_mass") > 0:
            parts.append((shares[k] / r.mass("black_mass"), human_numbers(lot_passport(r, who, issued_at=now))))
    content = footprint(doc, ctx.pact, carbon, period=period, chemistry=", ".join(chems), lots=parts)
    return _register(store, shipment_subject(shipment_id), content, now)


def issue(
    store: Store, kind: str, subject_id: str, ctx: FootprintContext, *, now: float, line: str | None = None
) -> dict[str, Any]:
    """The current footprint of `lot` or `shipment` `subject_id` (issued now when new or changed)."""
    if kind == "lot":
        return dict(json.loads(lot_footprint(store, find_lot(store, subject_id, line), ctx, now=now).doc_json))
    return dict(json.loads(shipment_footprint(store, subject_id, ctx, now=now).doc_json))


def customer_footprints(
    store: Store, customer: str, ctx: FootprintContext, *, now: float
) -> tuple[list[dict[str, Any]], list[Issued]]:
    """Every footprint (Active and Deprecated) of the shipments sold to `customer` and of their lots,
    after bringing each up to date; and those issued by this call (for PublishedEvent)."""
    subjects: list[str] = []
    fresh: list[Issued] = []
    seen_lots: set[tuple[str, str]] = set()
    for sid in store.shipment_ids(customer):
        for b in store.shipment(sid).bags:
            if (b.line, b.batch_id) in seen_lots:
                continue
            seen_lots.add((b.line, b.batch_id))
            subjects.append(f"lot:{b.line}:{b.batch_id}")
            try:
                one = lot_footprint(store, find_lot(store, b.batch_id, b.line), ctx, now=now)
            except InputError as exc:  # a partial lot, a lot without carbon: no footprint, said once
                log.warning("no PACT footprint for lot %s of shipment %s: %s", b.batch_id, sid, exc)
                continue
            fresh += [one] if one.new else []
        subjects.append(shipment_subject(sid))
        try:
            one = shipment_footprint(store, sid, ctx, now=now)
        except InputError as exc:
            log.warning("no PACT footprint for shipment %s: %s", sid, exc)
            continue
        fresh += [one] if one.new else []
    docs = [json.loads(text) for _, text in store.footprints_of(subjects)]
    return docs, fresh
