"""screen_block (replay) refuses exactly the samples screen_numeric (live) refuses, for the same reason."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.samples import Quality, Sample
from monitor.core.screening import screen_block, screen_numeric

plain = st.floats(min_value=0.0, max_value=2_000.0)  # mostly good blocks: the extremes' shortcut
odd = st.sampled_from([float("nan"), float("inf"), -float("inf"), -1.0, -0.0, 0.0, 1e300, 999.5, 1000.0, 1000.5])
blocks = st.lists(st.tuples(st.one_of(plain, plain, odd), st.sampled_from([0, 0, 0, 0, 1, 2])), max_size=40)


@settings(max_examples=400, deadline=None)
@given(rows=blocks, plausible_max=st.one_of(st.none(), st.sampled_from([1000.0, 5_000.0, 0.0])))
def test_a_block_is_screened_as_its_samples_one_by_one(
    rows: list[tuple[float, int]], plausible_max: float | None
) -> None:
    values = np.array([v for v, _ in rows], dtype=np.float64)
    quality = np.array([q for _, q in rows], dtype=np.uint8)
    got: list[str | None] = [None] * len(rows)
    for why, mask in screen_block(values, quality, plausible_max):
        for i in np.flatnonzero(mask).tolist():
            assert got[i] is None, "masks overlap"
            got[i] = why.value
    want = [screen_numeric(Sample("t", 0.0, v, Quality(q)), plausible_max) for v, q in rows]
    assert got == [w.value if w is not None else None for w in want]


def test_a_clean_block_is_refused_nothing_and_one_bad_value_anywhere_is_found() -> None:
    values = np.linspace(0.0, 900.0, 10_000)
    quality = np.zeros(values.size, dtype=np.uint8)
    assert screen_block(values, quality, 1000.0) == []
    for i, v in ((0, float("nan")), (9_999, -1e-9), (5_000, 1000.5), (1, float("inf"))):
        bad = values.copy()
        bad[i] = v
        (_, mask), *rest = screen_block(bad, quality, 1000.0)
        assert rest == [] and np.flatnonzero(mask).tolist() == [i]
