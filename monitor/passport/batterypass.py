"""Battery Pass (DIN DKE SPEC 99100) Circularity `recycledContent` as the black mass contributes it (pure).

One entry per metal the regulation names (Ni, Co, Li, Pb): the pre- and post-consumer shares, in
percent, of that metal in the black mass — each bag's element mass weighted by its lot's origin
shares. The battery maker declares recycled content per battery model; these entries are its
input from this plant, not a declaration for a battery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MODEL = "urn:samm:io.BatteryPass.Circularity:1.2.0#Circularity"
METALS = {"ni": "Nickel", "co": "Cobalt", "li": "Lithium", "pb": "Lead"}


def recycled_content(
    element_shares: Mapping[str, Mapping[str, float]], fallback: Mapping[str, float]
) -> list[dict[str, Any]]:
    """[{recycledMaterial, preConsumerShare, postConsumerShare}] for Ni, Co, Li, Pb (percent, 0.01).

    `element_shares`: per element the origin shares of its mass; an element without (no assay,
    no grade) takes `fallback`, the black mass's own shares, since every kg of it has that origin.
    """
    out = []
    for el, name in METALS.items():
        shares = element_shares.get(el) or fallback
        out.append(
            {
                "recycledMaterial": name,
                "preConsumerShare": round(100.0 * float(shares.get("pre_consumer", 0.0)), 2),
                "postConsumerShare": round(100.0 * float(shares.get("post_consumer", 0.0)), 2),
            }
        )
    return out


def circularity_document(
    subject: str,
    element_shares: Mapping[str, Mapping[str, float]],
    fallback: Mapping[str, float],
    basis: Mapping[str, str],
) -> dict[str, Any]:
    """The Circularity aspect's recycledContent, with where each metal's shares came from."""
    return {
        "subject": subject,
        MODEL: {"recycledContent": recycled_content(element_shares, fallback)},
        "basis": {METALS[el]: basis.get(el, "black mass origin shares") for el in METALS},
    }
