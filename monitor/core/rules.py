"""Named rules the monitor's outputs share (metrics, reports, alerts), each written once."""

from __future__ import annotations

BASELINE_BATCHES = 10  # a lot's yield baseline: the median of the previous N lots of its chemistry and feed form
BASELINE_MIN_BATCHES = 3  # fewer previous lots than this: no baseline yet
BALANCE_P_FAIL = 0.01  # a lot's mass balance fails its chi-squared test below this p-value
