"""Passport numbers at the precision a reader checks them: kg to 0.1, ratios to 4 decimals (pure).

Mass fractions (grades) keep 6 decimals (a 0.16 % Co grade stays 0.001619), emission factors and
digests are untouched. Applied once, before signing, so the signed figures are the shown ones.
"""

from __future__ import annotations

from typing import Any

KG_DIGITS, RATIO_DIGITS, GRADE_DIGITS = 1, 4, 6
_RATIO_KEYS = ("recovery", "black_mass_yield", "closure", "balance_p_value", "balance_gamma")


def _digits(key: str) -> int | None:
    if "_kg_co2e_per_" in key:  # emission factors (kg CO2e per kWh, per Nm3) stay as configured
        return None
    if key.endswith(("_per_t", "_per_t_black_mass")):  # kg CO2e per t: as kg
        return KG_DIGITS
    if key == "kg" or key.endswith(("_kg", "_kwh", "_nm3")) or key in ("energy_kwh", "nitrogen_nm3"):
        return KG_DIGITS
    if key.endswith("_grade") or key == "feed_grade":
        return GRADE_DIGITS
    if key.startswith(_RATIO_KEYS) or key.endswith("_sd") or key == "share":
        return RATIO_DIGITS
    return None


def human_numbers(x: Any, key: str = "", *, in_shares: bool = False) -> Any:
    """A passport tree with its floats rounded by what they are (named by their key)."""
    if isinstance(x, dict):
        shares = key.endswith("origin_shares")
        return {k: human_numbers(v, str(k), in_shares=shares) for k, v in x.items()}
    if isinstance(x, list):
        return [human_numbers(v, key) for v in x]
    if isinstance(x, float) and not isinstance(x, bool):
        digits = RATIO_DIGITS if in_shares else _digits(key)
        return x if digits is None else round(x, digits)
    return x
