"""Which samples may enter a sum. Rejected samples are counted, never summed."""

from __future__ import annotations

import math
from enum import StrEnum

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
