"""Carbon of the preprocessing step per lot (pure): measured inputs × emission factors.

A lot's CO2e is its metered electricity times the grid factor, plus its nitrogen times the
nitrogen factor, plus any other configured input charged per tonne of feed. The factors travel
with the lot (value, source, year), so a later change of the configured factors never rewrites
what a stored lot says it was computed with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from monitor.core.frozen import maker


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherInput:
    """An input not metered per lot, charged per tonne of feed (e.g. diesel of the loaders)."""

    name: str
    kg_co2e_per_t_feed: float
    source: str = ""


UNSOURCED = "unsourced"  # a factor configured without a source: reports footnote it, never invent one


@dataclass(frozen=True, slots=True, kw_only=True)
class GhgFactors:
    """Emission factors of one site, each with where it came from."""

    grid_kg_co2e_per_kwh: float
    grid_source: str
    grid_year: int
    nitrogen_kg_co2e_per_nm3: float = 0.0
    nitrogen_source: str = ""
    other: tuple[OtherInput, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CarbonAccount:
    """A lot's carbon, with the factors it was computed with. NaN = unknown, never 0."""

    energy_kwh: float
    nitrogen_nm3: float
    co2e_kg: float
    co2e_kg_per_t_black_mass: float
    electricity_co2e_kg: float
    nitrogen_co2e_kg: float
    other_co2e_kg: float
    grid_kg_co2e_per_kwh: float
    grid_source: str
    grid_year: int
    nitrogen_kg_co2e_per_nm3: float
    nitrogen_source: str
    other: tuple[OtherInput, ...] = ()


_ACCOUNT = maker(CarbonAccount)  # CarbonAccount(*every field, in field order), once per lot (frozen.py)


def lot_carbon(
    factors: GhgFactors, *, energy_kwh: float, nitrogen_nm3: float, feed_kg: float, black_mass_kg: float
) -> CarbonAccount:
    """CO2e of one lot. Unknown energy makes the total unknown; nitrogen is unknown-as-zero only
    when no nitrogen factor is configured (the site does not count it), otherwise it must be known."""
    electricity = energy_kwh * factors.grid_kg_co2e_per_kwh
    n2_factor = factors.nitrogen_kg_co2e_per_nm3
    nitrogen = 0.0 if n2_factor == 0.0 else nitrogen_nm3 * n2_factor
    other = sum(o.kg_co2e_per_t_feed for o in factors.other) * feed_kg / 1000.0 if factors.other else 0.0
    total = electricity + nitrogen + other
    bm_t = black_mass_kg / 1000.0
    per_t_bm = total / bm_t if bm_t > 0 and math.isfinite(total) else math.nan
    return _ACCOUNT(  # CarbonAccount's fields in their order (tests/core/test_frozen.py names each)
        energy_kwh,
        nitrogen_nm3,
        total,  # co2e_kg
        per_t_bm,  # co2e_kg_per_t_black_mass
        electricity,  # electricity_co2e_kg
        nitrogen,  # nitrogen_co2e_kg
        other,  # other_co2e_kg
        factors.grid_kg_co2e_per_kwh,
        factors.grid_source,
        factors.grid_year,
        factors.nitrogen_kg_co2e_per_nm3,
        factors.nitrogen_source,
        factors.other,
    )


def allocate_by_mass(total: float, part_kg: float, whole_kg: float) -> float:
    """The share of `total` that a part of `whole_kg` carries, in proportion to its mass."""
    if not (whole_kg > 0) or not math.isfinite(total):
        return math.nan
    return total * part_kg / whole_kg
