"""Which samples may enter a sum. Rejected samples are counted, never summed.

One rule in two forms side by side: `screen_numeric` for one sample (live), `screen_block` for a
tag's samples at once (replay). The reasons are tried in the same order; a sample gets the first.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from monitor.core.samples import Quality, Sample


class Reject(StrEnum):
    BAD_QUALITY = "bad_quality"
    UNCERTAIN = "uncertain_quality"
    NOT_FINITE = "not_finite"
    NEGATIVE = "negative"
    IMPLAUSIBLE = "implausible"
    NOT_NUMERIC = "not_numeric"


def screen_numeric(sample: Sample, plausible_max: float | None = None) -> Reject | None:
    """Return why a numeric sample must not enter a mass sum, or None when it may.

    Uncertain samples are refused too: a mass balance built on them could not be defended
    to an auditor, and the totalizer or the next good weighing recovers the mass.
    """
    if sample.quality is Quality.BAD:
        return Reject.BAD_QUALITY
    if sample.quality is Quality.UNCERTAIN:
        return Reject.UNCERTAIN
    v = sample.value
    if isinstance(v, bool) or not isinstance(v, int | float):
        return Reject.NOT_NUMERIC
    if not math.isfinite(v):
        return Reject.NOT_FINITE
    if v < 0:
        return Reject.NEGATIVE
    if plausible_max is not None and v > plausible_max:
        return Reject.IMPLAUSIBLE
    return None


def screen_block(
    values: NDArray[np.float64], quality: NDArray[np.uint8], plausible_max: float | None = None
) -> list[tuple[Reject, NDArray[np.bool_]]]:
    """`screen_numeric` for many samples of one numeric tag: (reason, mask) for each reason that refuses any.

    The masks do not overlap: a sample refused for an earlier reason is not counted again. A block
    of good, finite values within [0, plausible_max] (most of them) is told by its extremes alone.
    """
    if not values.size:
        return []
    lo, hi = values.min(), values.max()  # NaN when any is: every comparison below is then false
    clean = quality.max() == quality.min() == Quality.GOOD and lo >= 0 and np.isfinite(hi)
    if clean and (plausible_max is None or hi <= plausible_max):
        return []
    good = quality == Quality.GOOD
    finite = np.isfinite(values)
    reasons = [
        (Reject.BAD_QUALITY, quality == Quality.BAD),
        (Reject.UNCERTAIN, quality == Quality.UNCERTAIN),
        (Reject.NOT_FINITE, good & ~finite),
        (Reject.NEGATIVE, good & finite & (values < 0)),
    ]
    if plausible_max is not None:
        reasons.append((Reject.IMPLAUSIBLE, good & finite & (values > plausible_max)))
    refused = np.zeros(values.size, dtype=bool)
    out: list[tuple[Reject, NDArray[np.bool_]]] = []
    for why, candidates in reasons:
        mask = candidates & ~refused
        if mask.any():
            out.append((why, mask))
            refused |= mask
    return out
