"""Origin classes of feed (pure): pre-consumer (manufacturing scrap) or post-consumer (end of life).

EU 2023/1542 Art. 8 counts recycled content from both, and asks for them separately. A lot's
origin comes from its supplier where the config names the supplier (the supplier knows whether it
sends its own production scrap), else from its feed form, else it is `unknown`. A supplier that
sends both is mapped to shares, and its lots carry those shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ORIGIN_CLASSES = ("pre_consumer", "post_consumer")
UNKNOWN = "unknown"

Shares = tuple[tuple[str, float], ...]  # (origin class, share), sorted by class, shares sum to 1


@dataclass(frozen=True, kw_only=True)
class OriginMap:
    suppliers: Mapping[str, Shares] = field(default_factory=dict)
    feed_forms: Mapping[str, Shares] = field(default_factory=dict)


def lot_origin(supplier: str, feed_form: str, mapping: OriginMap) -> tuple[Shares, str]:
    """The lot's origin shares and what decided them ("supplier", "feed_form" or "unmapped")."""
    if supplier and supplier in mapping.suppliers:
        return mapping.suppliers[supplier], "supplier"
    if feed_form and feed_form in mapping.feed_forms:
        return mapping.feed_forms[feed_form], "feed_form"
    return ((UNKNOWN, 1.0),), "unmapped"


def mix(parts: Iterable[tuple[float, Shares]]) -> dict[str, float]:
    """Mass-weighted origin shares of several parts [(kg, shares)]; {} when there is no mass.

    Classes come back in a fixed order (pre, post, unknown) and sum to 1.
    """
    kg: dict[str, float] = {}
    total = 0.0
    for mass, shares in parts:
        if not mass > 0:  # NaN or nothing: carries no weight
            continue
        total += mass
        for cls, share in shares:
            kg[cls] = kg.get(cls, 0.0) + mass * share
    if total <= 0:
        return {}
    order = (*ORIGIN_CLASSES, UNKNOWN)
    return {cls: kg[cls] / total for cls in order if cls in kg}
