"""Catena-X io.catenax.material_accounting 1.0.0: RecyclingBatch and RecyclingInformation of a lot
or shipment, built from its passport documents (pure).

One RecyclingBatch per lot: a Separation step (feed in, measured products out, the unaccounted
rest as process loss) and one Packaging / Labeling step per big bag (its net mass, its bag id as
the weighing slip); the container is the big bag. RecyclingInformation carries the feed's pre- and
post-consumer shares in percent (pre-consumer: cell-production scrap, counted non-automotive;
post-consumer: end-of-life packs, counted automotive — docs/data-exchange.md says why). Masses are
numbers in kg at 0.1 kg, shares in percent at 0.01, as the models' units and ranges ask.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.passport.precision import KG_DIGITS, rounded, total

MODEL = "urn:samm:io.catenax.material_accounting:1.0.0"
BPNS = re.compile(r"^BPNS[a-zA-Z0-9]{12}$")
UNCONFIGURED_BPNS = "BPNSUNCONFIGURED"  # matches the BPNS pattern and says what it is
BIG_BAG = {
    "containerDescription": "Big bag (FIBC) of black mass",
    "containerTypeId": "FIBC-1000L",
    "containerVolume": 1000,
}


@dataclass(frozen=True, kw_only=True)
class Parties:
    sender_bpns: str = UNCONFIGURED_BPNS
    receiver_bpns: str = UNCONFIGURED_BPNS
    operator_bpns: str = UNCONFIGURED_BPNS
    big_bag_tare_kg: float = 2.0
    domain: str = "blackmass.invalid"


def _asset_id(domain: str, *parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, '/'.join(('https:/', domain, *parts)))}"


def _num(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else 0.0


def recycling_batch(
    lot: Mapping[str, Any], bags: Sequence[Mapping[str, Any]], products_kg: float, parties: Parties, transfer_id: str
) -> dict[str, Any]:
    """The RecyclingBatch of one lot passport, with the packaging steps of `bags` ({bag_id, net_kg})."""
    feed = _num(lot.get("feed_kg"))
    out = rounded(products_kg, KG_DIGITS) or 0.0
    start, end = str(lot["start"]), str(lot["end"])
    steps = [
        {
            "startTimestamp": start,
            "endTimestamp": end,
            "inputNetMass": feed,
            "outputNetMass": out,
            "processLoss": max(0.0, total([feed, -out], KG_DIGITS) or 0.0),
            "lossType": "Unaccounted mass (1 - closure): dust, moisture and electrolyte not weighed",
            "measurementType": "feed totalizer; product scales and big-bag weighings",
            "measurementTimestamp": end,
            "weighingSlip": f"lot {lot['batch_id']} v{lot['version']}",
            "childProcessType": "Separation",
        }
    ]
    for b in bags:
        steps.append(
            {
                "startTimestamp": end,
                "endTimestamp": end,
                "inputNetMass": _num(b["net_kg"]),
                "outputNetMass": _num(b["net_kg"]),
                "processLoss": 0.0,
                "lossType": "none",
                "measurementType": "big-bag filling scale",
                "measurementTimestamp": end,
                "weighingSlip": str(b["bag_id"]),
                "childProcessType": "Packaging / Labeling",
            }
        )
    return {
        "recyclingBatchId": str(lot["batch_id"]),
        "globalAssetId": _asset_id(parties.domain, "lot", str(lot["line"]), str(lot["batch_id"])),
        "container": {**BIG_BAG, "containerWeight": parties.big_bag_tare_kg},
        "childProcessSteps": steps,
        "processInformation": {
            "processType": "Pre-recycling",
            "mechanicalRecycling": True,
            "chemicalRecycling": False,
            "treatmentProcedure": "R4",
        },
        "sender": {
            "bpnsProperty": parties.sender_bpns,
            "actorNumber": str(lot["line"]),
            "actorRole": "Shredding Facility",
        },
        "receiver": {
            "bpnsProperty": parties.receiver_bpns,
            "actorNumber": "customer",
            "actorRole": "Material Recycling Facilities",
        },
        "operator": {"bpnsProperty": parties.operator_bpns, "transferId": transfer_id},
    }


def recycling_information(
    shares: Mapping[str, float], subject: str, parties: Parties, origin_country: str | None
) -> dict[str, Any]:
    """RecyclingInformation: the pre-/post-consumer shares (percent) of what went into the black mass."""
    pre = round(100.0 * float(shares.get("pre_consumer", 0.0)), 2)
    post = round(100.0 * float(shares.get("post_consumer", 0.0)), 2)
    out: dict[str, Any] = {
        "globalAssetId": _asset_id(parties.domain, "recycling-information", subject),
        "preConsumerShares": {"automotive": 0.0, "nonAutomotive": pre},
        "postConsumerShares": {"automotive": post, "nonAutomotive": 0.0},
        "materialSourceShares": {"secondaryMaterial": 100.0, "primaryMaterial": 0.0},
        "reutilizationMaterialShare": 0.0,
    }
    if origin_country:
        out["origin"] = origin_country
    return out


def catenax_document(
    lots: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]], float]],
    shares: Mapping[str, float],
    subject: str,
    parties: Parties,
    origin_country: str | None,
) -> dict[str, Any]:
    """Both aspects: `lots` are (lot passport, its bags in this delivery, measured product kg)."""
    return {
        "subject": subject,
        f"{MODEL}#RecyclingBatch": [recycling_batch(lot, bags, kg, parties, subject) for lot, bags, kg in lots],
        f"{MODEL}#RecyclingInformation": recycling_information(shares, subject, parties, origin_country),
    }
