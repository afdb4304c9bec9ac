"""Carbon and origin stamped on a lot once, when it is first accounted (pure)."""

from __future__ import annotations

from dataclasses import replace

from monitor.core.carbon import GhgFactors, lot_carbon
from monitor.core.results import BatchResult
from monitor.passport.origin import OriginMap, lot_origin


def stamp_lot(result: BatchResult, ghg: GhgFactors | None, origin: OriginMap | None) -> BatchResult:
    """The lot with its CO2e and origin shares. What a lot already carries is kept: factors and
    origin are recorded with the lot, so later config changes never rewrite a stored lot."""
    carbon = result.carbon
    if carbon is None and ghg is not None:
        carbon = lot_carbon(
            ghg,
            energy_kwh=result.energy_kwh,
            nitrogen_nm3=result.nitrogen_nm3,
            feed_kg=result.feed_kg,
            black_mass_kg=result.mass("black_mass"),
        )
    shares = result.origin
    if not shares and origin is not None:
        shares = lot_origin(result.supplier, result.feed_form, origin)[0]
    if carbon is result.carbon and shares is result.origin:
        return result
    return replace(result, carbon=carbon, origin=shares)
