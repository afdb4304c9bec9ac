"""A lot passport: one stored batch result as a JSON document a refinery can check (pure).

Masses, element masses and recoveries are the stored result's own numbers (the same the report
shows); unknown values are null, never 0. See docs/passports.md for every field.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from monitor.core.results import BatchResult, BatchState
from monitor.errors import InputError
from monitor.passport.origin import UNKNOWN
from monitor.passport.precision import KG_DIGITS, dec
from monitor.store.codec import result_to_json
from monitor.store.query import iso

FORMAT = 1
LOT_SCHEMA = "urn:blackmass-monitor:schema:lot-passport:1"  # $id of schemas/lot-passport.schema.json
PASSPORT_ELEMENTS = ("ni", "co", "mn", "li", "cu", "al", "pb")  # Pb only where assayed


@dataclass(frozen=True, kw_only=True)
class Issuer:
    plant: str = ""
    operator: str = ""


def software() -> str:
    try:
        return f"blackmass-monitor {version('blackmass-monitor')}"
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "blackmass-monitor (unversioned checkout)"


def known(x: float | None) -> float | None:
    """A passport number: None for unknown (NaN, inf)."""
    return None if x is None or not math.isfinite(x) else float(x)


def result_digest(r: BatchResult) -> dict[str, Any]:
    """SHA-256 of this version's result as canonical JSON text (codec.result_to_json of the stored result)."""
    return {"version": r.version, "sha256": hashlib.sha256(result_to_json(r).encode()).hexdigest()}


def origin_fields(origin: tuple[tuple[str, float], ...]) -> dict[str, Any]:
    shares = dict(origin) or {UNKNOWN: 1.0}
    cls = next(iter(shares)) if len(shares) == 1 else "mixed"
    return {"origin_class": cls, "origin_shares": shares}


def stated_co2e(r: BatchResult) -> dict[str, Decimal | None]:
    """The lot's CO2e by source, computed exactly (decimal) from the quantities the passport states:
    kWh and Nm3 to 0.1 (feed t to 0.0001) times the configured factors. A reader recomputes every
    digit from the document; None where the account says unknown."""
    c = r.carbon
    if c is None:
        return {"electricity": None, "nitrogen": None, "other": None}

    def times(x: float, digits: int, factor: float, part: float) -> Decimal | None:
        if not math.isfinite(part):
            return None
        if part == 0 or not math.isfinite(x):  # a source not counted (no factor configured)
            return Decimal(0)
        return dec(x, digits) * Decimal(repr(float(factor)))

    other_factor = sum(o.kg_co2e_per_t_feed for o in c.other)
    feed_t = r.feed_kg / 1000.0 if math.isfinite(r.feed_kg) else math.nan
    return {
        "electricity": times(r.energy_kwh, KG_DIGITS, c.grid_kg_co2e_per_kwh, c.electricity_co2e_kg),
        "nitrogen": times(r.nitrogen_nm3, KG_DIGITS, c.nitrogen_kg_co2e_per_nm3, c.nitrogen_co2e_kg),
        "other": times(feed_t, KG_DIGITS + 3, other_factor, c.other_co2e_kg),
    }


def stated_total(parts: Mapping[str, Decimal | None]) -> float | None:
    """The lot's co2e_kg: the exact sum of its stated parts; None when one is unknown."""
    if any(v is None for v in parts.values()):
        return None
    return float(sum((v for v in parts.values() if v is not None), Decimal(0)))


def carbon_fields(r: BatchResult) -> dict[str, Any]:
    c = r.carbon
    if c is None:
        return {"co2e_kg": None, "co2e_kg_per_t_black_mass": None, "factors": None, "co2e_breakdown_kg": None}
    factors: dict[str, Any] = {
        "grid_kg_co2e_per_kwh": c.grid_kg_co2e_per_kwh,
        "grid_source": c.grid_source,
        "grid_year": c.grid_year,
        "nitrogen_kg_co2e_per_nm3": c.nitrogen_kg_co2e_per_nm3,
        "nitrogen_source": c.nitrogen_source,
        "other": [{"name": o.name, "kg_co2e_per_t_feed": o.kg_co2e_per_t_feed, "source": o.source} for o in c.other],
    }
    parts = stated_co2e(r)
    co2e = stated_total(parts) if known(c.co2e_kg) is not None else None
    bm_t = r.mass("black_mass") / 1000.0
    return {
        "co2e_kg": co2e,
        "co2e_kg_per_t_black_mass": co2e / bm_t if co2e is not None and bm_t > 0 else None,
        "factors": factors,
        "co2e_breakdown_kg": {k: None if v is None else float(v) for k, v in parts.items()},
    }


def _elements(r: BatchResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for el in PASSPORT_ELEMENTS:
        m = r.metal(el)
        if m is None:
            continue
        out[el] = {
            "feed_kg": known(m.feed_kg),
            "feed_grade": known(m.feed_grade),
            "feed_grade_source": m.feed_grade_source,
            "black_mass_kg": known(m.black_mass_kg),
            "black_mass_grade": known(m.black_mass_grade),
            "assay_status": m.status,
            "recovery": known(m.recovery),
            "recovery_reconciled": known(m.recovery_reconciled),
            "recovery_sd": known(m.recovery_sd),
        }
    return out


def _reconciled(r: BatchResult, stream: str) -> tuple[float | None, float | None]:
    for s in r.balance.streams if r.balance else ():
        if s.stream == stream:
            return known(s.reconciled_kg), known(s.sd_kg)
    return None, None


def lot_status(r: BatchResult, elements: Mapping[str, Any]) -> str:
    """Final only when the batch is assayed and every element's black-mass assay is final."""
    finals = elements and all(e["assay_status"] == "final" for e in elements.values())
    return "final" if r.assay_status == "final" and finals else "preliminary"


def lot_passport(r: BatchResult, issuer: Issuer, *, issued_at: float) -> dict[str, Any]:
    """The unsigned passport of a stored batch version."""
    if r.state is BatchState.PARTIAL:
        raise InputError(
            f"batch {r.batch_id}", "is partial (its start was not observed): its masses are not the lot's", ""
        )
    elements = _elements(r)
    feed_rec, feed_sd = _reconciled(r, "feed")
    bm_rec, bm_sd = _reconciled(r, "black_mass")
    flags = list(r.flags)
    if r.carbon is None:
        flags.append("carbon_unknown")
    if not r.origin or any(cls == UNKNOWN for cls, _ in r.origin):
        flags.append("origin_unknown")
    b = r.balance
    return {
        "schema": LOT_SCHEMA,
        "passport_type": "lot",
        "format": FORMAT,
        "status": lot_status(r, elements),
        "issued_at": iso(issued_at),
        "plant": issuer.plant,
        "operator": issuer.operator,
        "line": r.line,
        "batch_id": r.batch_id,
        "version": r.version,
        "start": iso(r.start),
        "end": iso(r.end),
        "supplier": r.supplier,
        "chemistry": r.chemistry,
        "feed_form": r.feed_form,
        **origin_fields(r.origin),
        "feed_kg": known(r.feed_kg),
        "feed_reconciled_kg": feed_rec,
        "feed_sd_kg": feed_sd,
        "black_mass_kg": known(r.mass("black_mass")),
        "black_mass_reconciled_kg": bm_rec,
        "black_mass_sd_kg": bm_sd,
        "black_mass_yield": known(r.black_mass_yield),
        "black_mass_yield_reconciled": known(b.yield_reconciled) if b else None,
        "black_mass_yield_sd": known(b.yield_sd) if b else None,
        "black_mass_bags": [{"bag_id": bag, "net_kg": kg} for bag, kg in r.bags.items()],
        "assay_status": r.assay_status,
        "elements": elements,
        "energy_kwh": known(r.energy_kwh),
        "nitrogen_nm3": known(r.nitrogen_nm3),
        **carbon_fields(r),
        "data_quality": {
            "flags": flags,
            "rejected_samples": r.rejected_samples,
            "closure": known(r.closure),
            "balance_gamma": known(b.gamma) if b else None,
            "balance_p_value": known(b.p_value) if b else None,
            "suspect": b.suspect if b else "",
        },
        "software": software(),
        "result_digest": result_digest(r),
    }
