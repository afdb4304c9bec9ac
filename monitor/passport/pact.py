"""A PACT v3.0 ProductFootprint of a lot or a shipment, built from its (unsigned) passport (pure).

Built from the passport document itself, so the footprint and the signed passport state the same
figures: pcf per kg of black mass = the passport's co2e_kg / black_mass_kg. Cut-off approach: the
recycled input carries no upstream burden; the plant's metered electricity and nitrogen (primary
data) and any configured per-tonne inputs (secondary) are the whole footprint. Numbers are decimal
strings (v3). Element masses, recoveries and origin shares travel in an extension whose schema the
project publishes (schemas/pact-blackmass-extension.schema.json, served by `serve`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from monitor.errors import InputError
from monitor.passport.pact_settings import PactSettings
from monitor.passport.precision import GRADE_DIGITS, KG_DIGITS, RATIO_DIGITS, decimal_text

SPEC_VERSION = "3.0.3"
EXTENSION_SPEC_VERSION = "2.0.0"
EXTENSION_SCHEMA = "pact-blackmass-extension-1.0.0.schema.json"  # served at <base>/schemas/<this>
PER_KG_DIGITS = 4  # kg CO2e per kg: 0.1 kg per t, as the passport's per-tonne figure
VALIDITY_YEARS = 3  # v3: validityPeriodEnd at most 3 years after referencePeriodEnd
BOUNDARY = (
    "Gate-to-gate preprocessing of spent lithium-ion batteries and cell-production scrap into black mass: "
    "shredding under nitrogen, drying, milling, separation and big-bag filling. Metered electricity (line "
    "energy meter, kWh) and inerting nitrogen (Nm3) per lot, plus configured per-tonne site inputs."
)
ALLOCATION = (
    "Cut-off (recycled content) approach: the battery scrap enters burden-free; transport to the plant and "
    "all upstream burdens stay with the previous life cycle. The lot's whole preprocessing CO2e is put on "
    "its black mass (no burden allocated to the ferrous, aluminium, copper and light fractions); a shipment "
    "carries each bag's lot CO2e in proportion to the bag's mass."
)


@dataclass(frozen=True, slots=True)
class CarbonContent:
    fraction: float | None  # kg C per kg of black mass
    source: str  # "assay" | "grade_table" | "unknown"


def _t(ts_iso: str) -> datetime:
    return datetime.fromisoformat(ts_iso.replace("Z", "+00:00"))


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _dec(x: Any, digits: int) -> str | None:
    return decimal_text(float(x), digits) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _exact(x: Any) -> str | None:
    if not isinstance(x, int | float) or isinstance(x, bool):
        return None
    return format(Decimal(repr(float(x))), "f")


def _need(doc: Mapping[str, Any], key: str, what: str) -> float:
    v = doc.get(key)
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise InputError(what, f"has no {key} (unknown)", "a PACT footprint needs the mass and the CO2e of the lot")
    return float(v)


def _factor_sources(lots: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Each emission factor the lots were computed with, once, with its source and year."""
    out: list[dict[str, str]] = []
    for lot in lots:
        f = lot.get("factors")
        if not f:
            continue
        found = [{"name": f"grid electricity: {f['grid_source']}", "version": str(f["grid_year"])}]
        if f.get("nitrogen_source"):
            found.append({"name": f"nitrogen: {f['nitrogen_source']}", "version": "as configured"})
        found += [{"name": f"{o['name']}: {o['source']}", "version": "as configured"} for o in f.get("other", ())]
        out += [x for x in found if x not in out]
    return out


def _primary_share(parts: Sequence[tuple[float, Mapping[str, Any]]]) -> str:
    """Percent of the CO2e from metered data (electricity and nitrogen are metered per lot), over
    (weight, lot passport) parts: a lot is one part of weight 1, a shipment its lots by shipped mass."""
    whole = metered = 0.0
    for weight, lot in parts:
        b = {k: float(v) for k, v in (lot.get("co2e_breakdown_kg") or {}).items() if isinstance(v, int | float)}
        whole += weight * sum(b.values())
        metered += weight * (b.get("electricity", 0.0) + b.get("nitrogen", 0.0))
    return decimal_text(100.0 * metered / whole if whole > 0 else 100.0, 1) or "0"


def extension_data(p: Mapping[str, Any], carbon: CarbonContent) -> dict[str, Any]:
    """What PACT has no field for: element masses, recoveries, origin shares (decimal strings)."""
    lot = p.get("passport_type") == "lot"
    elements = {}
    for el, e in (p.get("elements") or {}).items():
        elements[el] = {
            "kg": _dec(e.get("black_mass_kg") if lot else e.get("kg"), KG_DIGITS),
            "grade": _dec(e.get("black_mass_grade") if lot else e.get("grade"), GRADE_DIGITS),
            "recovery": _dec(e.get("recovery"), RATIO_DIGITS) if lot else None,
            "assayStatus": e.get("assay_status", "") if lot else "",
        }
    shares = p.get("origin_shares") or {}
    return {
        "subject": "lot" if lot else "shipment",
        "subjectId": p.get("batch_id") if lot else p.get("shipment_id"),
        "passportStatus": p.get("status"),
        "blackMassKg": _dec(p.get("black_mass_kg") if lot else p.get("net_kg"), KG_DIGITS),
        "feedKg": _dec(p.get("feed_kg"), KG_DIGITS) if lot else None,
        "co2eKg": _exact(p.get("co2e_kg")),  # as the passport states it, digit for digit
        "elements": elements,
        "originShares": {
            "preConsumer": decimal_text(float(shares.get("pre_consumer", 0.0)), RATIO_DIGITS),
            "postConsumer": decimal_text(float(shares.get("post_consumer", 0.0)), RATIO_DIGITS),
            "unknown": decimal_text(float(shares.get("unknown", 0.0)), RATIO_DIGITS),
        },
        "carbonContent": {"kgPerKg": _dec(carbon.fraction, RATIO_DIGITS), "source": carbon.source},
        "lots": [
            {"line": x["line"], "batchId": x["batch_id"], "version": x["result_digest"]["version"]}
            for x in (p.get("lots") or [])
        ]
        if not lot
        else [{"line": p["line"], "batchId": p["batch_id"], "version": p["version"]}],
    }


def footprint(
    p: Mapping[str, Any],
    settings: PactSettings,
    carbon: CarbonContent,
    *,
    period: tuple[str, str] | None = None,
    chemistry: str = "",
    lots: Sequence[tuple[float, Mapping[str, Any]]] = (),
) -> dict[str, Any]:
    """The footprint's content (no id, created, status or precedingPfIds: those come when it is issued).

    A shipment also needs `period` (its lots' first start and last end) and `lots`: (share of the
    lot's black mass shipped, lot passport) for the primary-data share and the factor sources.
    """
    lot = p.get("passport_type") == "lot"
    subject = str(p["batch_id"] if lot else p["shipment_id"])
    what = f"{'lot' if lot else 'shipment'} {subject}"
    mass = _need(p, "black_mass_kg" if lot else "net_kg", what)
    co2e = _need(p, "co2e_kg", what)
    if mass <= 0:
        raise InputError(what, "has no black mass", "a footprint per kg needs a mass above 0")
    start, end = (str(p["start"]), str(p["end"])) if lot else period or (str(p["created_at"]),) * 2
    per_kg = decimal_text(co2e / mass, PER_KG_DIGITS)
    chem = p.get("chemistry") or chemistry or "mixed chemistries"
    name, company_ids = settings.company(str(p.get("plant") or ""))
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": "kilogram",
        "declaredUnitAmount": "1",
        "productMassPerDeclaredUnit": "1",
        "referencePeriodStart": start,
        "referencePeriodEnd": end,
        "pcfExcludingBiogenicUptake": per_kg,
        "pcfIncludingBiogenicUptake": per_kg,
        "fossilGhgEmissions": per_kg,
        "fossilCarbonContent": _dec(carbon.fraction, PER_KG_DIGITS) or "0",
        "recycledCarbonContent": _dec(carbon.fraction, PER_KG_DIGITS) or "0",
        "ipccCharacterizationFactors": ["AR6"],
        "crossSectoralStandards": ["ISO14067", "GHGP-Product", "PACT-3.0"],
        "boundaryProcessesDescription": BOUNDARY,
        "allocationRulesDescription": ALLOCATION,
        "exemptedEmissionsPercent": "0",
        "packagingEmissionsIncluded": False,
        "ccsTechnologicalCO2CaptureIncluded": False,
        "primaryDataShare": _primary_share([(1.0, p)] if lot else lots),
        "dqi": {"technologicalDQR": "1.0", "geographicalDQR": "2.0", "temporalDQR": "1.0"},
        "secondaryEmissionFactorSources": _factor_sources([p] if lot else [doc for _, doc in lots]),
    }
    if settings.geography_country:
        pcf["geographyCountry"] = settings.geography_country
    kind = "lot" if lot else "shipment"
    return {
        "specVersion": SPEC_VERSION,
        "validityPeriodStart": end,
        "validityPeriodEnd": _iso(_t(end) + timedelta(days=365 * VALIDITY_YEARS)),
        "companyName": name,
        "companyIds": list(company_ids),
        "productDescription": (
            f"Black mass (recycled lithium-ion battery active material, {chem}) — {kind} {subject}, "
            f"{decimal_text(mass, KG_DIGITS)} kg"
        ),
        "productIds": [f"urn:pact:{settings.domain}:product-id:{subject}"],
        "productClassifications": [
            f"urn:pact:{settings.domain}:product-class:black-mass",
            *settings.product_classifications,
        ],
        "productNameCompany": f"Black mass {chem}".strip(),
        "comment": f"From the signed {kind} passport of {subject} ({p.get('status')}); see extensions[0].",
        "pcf": pcf,
        "extensions": [
            {
                "specVersion": EXTENSION_SPEC_VERSION,
                "dataSchema": f"{settings.base_url}/schemas/{EXTENSION_SCHEMA}",
                "data": extension_data(p, carbon),
            }
        ],
    }


def content_sha(content: Mapping[str, Any]) -> str:
    """What makes a footprint new: any change of its content (v3: a changed footprint is a new id)."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def issued(content: Mapping[str, Any], fid: str, preceding: list[str], created: float) -> dict[str, Any]:
    """The footprint as issued: id, created, Active, and the id it supersedes."""
    head: dict[str, Any] = {"id": fid, "specVersion": content["specVersion"]}
    if preceding:
        head["precedingPfIds"] = preceding
    head["created"] = _iso(datetime.fromtimestamp(created, UTC))
    head["status"] = "Active"
    return head | {k: v for k, v in content.items() if k != "specVersion"}
