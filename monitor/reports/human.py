"""Values as a person reads them in JSON: kg to 0.1, ratios to 4 decimals (recoveries to 4 significant
digits, at most 5 decimals), times as ISO 8601 UTC."""

from __future__ import annotations

import math
from typing import Any

from monitor.store.rows import iso

TIME_KEYS = frozenset({"start", "end", "window_start", "window_end", "recorded_at", "ts", "first_ts", "last_ts"})
KG_DIGITS, RATIO_DIGITS, OTHER_DIGITS = 1, 4, 4


def _number(key: str, x: float) -> float | str | None:
    if math.isnan(x) or math.isinf(x):
        return None  # unknown is null, never 0
    if key in TIME_KEYS:
        return iso(x)
    if "_kg_co2e_per_" in key:  # emission factors: as configured
        return x
    if key.endswith(("_kg", "_kwh", "_nm3", "_per_t_black_mass")) or key in ("mass_kg", "boundary_kg"):
        return round(x, KG_DIGITS)
    if key.startswith("recovery") and not key.endswith("_sd"):  # significant digits, as in reports/frames.py
        return round(float(f"{x:.{RATIO_DIGITS}g}"), RATIO_DIGITS + 1)  # and never finer than 0.00001
    return round(x, RATIO_DIGITS if key.startswith(("yield", "closure")) else OTHER_DIGITS)


def human_json(x: Any, key: str = "") -> Any:
    """A JSON-ready tree with NaN as null, numbers at human precision and epoch times as ISO 8601 UTC."""
    if isinstance(x, bool) or x is None or isinstance(x, int | str):
        return iso(float(x)) if key in TIME_KEYS and isinstance(x, int) and not isinstance(x, bool) else x
    if isinstance(x, float):
        return _number(key, x)
    if isinstance(x, dict):
        return {str(k): human_json(v, str(k) if not isinstance(v, dict) else "") for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [human_json(v, key) for v in x]
    return x
