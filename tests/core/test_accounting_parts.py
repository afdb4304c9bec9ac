"""Parts of the batched accounting against the per-lot rules they replace (numbers, to the bit)."""

from __future__ import annotations

import math

import numpy as np

from monitor.core.batch_accounting import assay_statuses
from monitor.core.metal_accounts import STATUSES
from monitor.core.reconcile import chi2_sf


def _one_lot(statuses: list[str]) -> str:
    """The per-lot rule: no element assayed -> none; any preliminary -> preliminary; else final."""
    used = [s for s in statuses if s != "none"]
    if not used:
        return "none"
    return "preliminary" if "preliminary" in used else "final"


def test_assay_statuses_of_lots_are_the_per_lot_rules() -> None:
    codes = np.random.default_rng(7).integers(0, len(STATUSES), size=(2000, 7)).astype(np.int8)
    codes[:50] = 0  # lots without any black-mass assay
    expected = [_one_lot([STATUSES[c] for c in row]) for row in codes.tolist()]
    assert assay_statuses(codes) == expected
    assert expected.count("none") >= 50
    assert assay_statuses(np.zeros((3, 0), dtype=np.int8)) == ["none"] * 3


def test_chi2_sf_of_one_dof_is_erfc_and_known_quantiles() -> None:
    assert chi2_sf(3.841458820694124, 1) == min(1.0, math.erfc(math.sqrt(3.841458820694124 / 2)))
    assert abs(chi2_sf(3.841458820694124, 1) - 0.05) < 1e-12
    assert abs(chi2_sf(7.814727903251178, 3) - 0.05) < 1e-12
    assert abs(chi2_sf(11.070497693516351, 5) - 0.05) < 1e-12
    assert chi2_sf(0.0, 1) == 1.0
    assert math.isnan(chi2_sf(1.0, 0))
