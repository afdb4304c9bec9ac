"""Passport numbers at the precision a reader checks them (pure).

kg to 0.1, ratios (yields, recoveries, shares) to 4 decimals, mass fractions (grades) to 6
decimals (a 0.16 % Co grade stays 0.001619); emission factors and digests are untouched. kg CO2e:
a lot's is exact — the stated kWh, Nm3 and feed t times the factors, in decimal (lot.stated_co2e) —
and a bag's share of it is stated to 0.01 kg (CO2E_DIGITS) by the shipment that allocates it.
Rounding is decimal (half-up on the shortest decimal form of the float), applied once before
signing, so the signed figures are the shown ones; a total shown beside its parts is the sum of
the rounded parts (`total`), never the rounded sum of the raw ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

KG_DIGITS, CO2E_DIGITS, RATIO_DIGITS, GRADE_DIGITS = 1, 2, 4, 6
_RATIO_KEYS = ("recovery", "black_mass_yield", "closure", "balance_p_value", "balance_gamma")


def dec(x: float, digits: int) -> Decimal:
    """x at `digits` decimals, as an exact Decimal (x finite)."""
    return Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def rounded(x: float | None, digits: int) -> float | None:
    """x at `digits` decimals; None for unknown (None, NaN, inf)."""
    if x is None or not math.isfinite(x):
        return None
    return float(dec(x, digits))


def total(parts: Iterable[float | None], digits: int) -> float | None:
    """The sum of the parts each rounded to `digits` (exact); None when any part is unknown."""
    acc = Decimal(0)
    for p in parts:
        if p is None or not math.isfinite(p):
            return None
        acc += dec(p, digits)
    return float(acc)


def decimal_text(x: float | None, digits: int) -> str | None:
    """x as a decimal string at `digits` decimals ("1.50"), the form PACT v3 carries numbers in."""
    if x is None or not math.isfinite(x):
        return None
    text = format(dec(x, digits), "f")
    return "0" + text[2:] if text.startswith("-0") and not dec(x, digits) else text


def _digits(key: str, parent: str) -> int | None:
    if "_kg_co2e_per_" in key:  # emission factors (kg CO2e per kWh, per Nm3) stay as configured
        return None
    if ("co2e" in key and key.endswith("_kg")) or ("co2e" in parent and parent.endswith("_kg")):
        return None  # kg CO2e: exact from the stated quantities (lot), 0.01 where allocated (bags)
    if key.endswith(("_per_t", "_per_t_black_mass")):  # kg CO2e per t: as kg
        return KG_DIGITS
    if key == "kg" or key.endswith(("_kg", "_kwh", "_nm3")) or key in ("energy_kwh", "nitrogen_nm3"):
        return KG_DIGITS
    if key.endswith("_grade") or key in ("feed_grade", "grade"):
        return GRADE_DIGITS
    if key.startswith(_RATIO_KEYS) or key.endswith("_sd") or key == "share":
        return RATIO_DIGITS
    if parent.endswith("_kg"):  # {element: kg}
        return KG_DIGITS
    return None


def human_numbers(x: Any, key: str = "", *, in_shares: bool = False, parent: str = "") -> Any:
    """A passport tree with its floats rounded by what they are (named by their key and its parent)."""
    if isinstance(x, dict):
        shares = key.endswith("origin_shares")
        return {k: human_numbers(v, str(k), in_shares=shares, parent=key) for k, v in x.items()}
    if isinstance(x, list):
        return [human_numbers(v, key, parent=parent) for v in x]
    if isinstance(x, float) and not isinstance(x, bool):
        digits = RATIO_DIGITS if in_shares else _digits(key, parent)
        return x if digits is None else rounded(x, digits)
    return x
