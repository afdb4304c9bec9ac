"""Carbon and origin stamped on a lot once, when it is first accounted (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from monitor.core.carbon import GhgFactors, lot_carbon
from monitor.core.results import BatchResult
from monitor.passport.origin import OriginMap, lot_origin


def stamp_lot(result: BatchResult, ghg: GhgFactors | None, origin: OriginMap | None) -> BatchResult:
    """The lot with its CO2e and origin shares. What a lot already carries is kept: factors and
    origin are recorded with the lot, so later config changes never rewrite a stored lot."""
    changes = stamp_of(result, ghg, origin)
    return replace(result, **changes) if changes else result


def stamp_of(result: BatchResult, ghg: GhgFactors | None, origin: OriginMap | None) -> dict[str, Any]:
    """What stamp_lot changes on the lot (carbon, origin), {} for nothing: a replay's accounting
    applies it in the same copy as the lot's metals (with_accounting_many's `also`)."""
    changes: dict[str, Any] = {}
    if result.carbon is None and ghg is not None:
        changes["carbon"] = lot_carbon(
            ghg,
            energy_kwh=result.energy_kwh,
            nitrogen_nm3=result.nitrogen_nm3,
            feed_kg=result.feed_kg,
            black_mass_kg=result.mass("black_mass"),
        )
    if not result.origin and origin is not None:
        shares = lot_origin(result.supplier, result.feed_form, origin)[0]
        if shares is not result.origin:
            changes["origin"] = shares
    return changes
