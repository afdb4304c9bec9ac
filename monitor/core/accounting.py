"""Stream yields, closure and unaccounted loss of the mass balance, on plain numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping


def stream_yields(masses_kg: Mapping[str, float], feed_kg: float) -> dict[str, float]:
    """Y_s = M_s / M_feed for every product; NaN when the feed mass is not positive."""
    if not feed_kg > 0:
        return {s: math.nan for s in masses_kg}
    return {s: m / feed_kg for s, m in masses_kg.items()}


def closure(measured_products_kg: Mapping[str, float], feed_kg: float) -> float:
    """C = Σ measured products / feed; 1 − C is the unaccounted loss."""
    if not feed_kg > 0:
        return math.nan
    return sum(measured_products_kg.values()) / feed_kg


def unaccounted_loss(measured_products_kg: Mapping[str, float], feed_kg: float) -> float:
    """Feed minus every measured product, kg (negative when the products weigh more)."""
    return feed_kg - sum(measured_products_kg.values())
