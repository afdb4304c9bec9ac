"""lotvalues.isos writes every epoch time as query.iso does (the report's start and end columns),
in bulk: around a second's edge datetime rounds the microsecond half to even before cutting."""

from __future__ import annotations

import random

import pytest

from monitor.store.lotvalues import isos
from monitor.store.query import iso


def test_isos_is_iso_at_every_second_edge_and_at_random() -> None:
    rng = random.Random(20)
    whole = [float(rng.randrange(0, 4_000_000_000)) for _ in range(2000)]
    near = [w + d for w in whole for d in (-5e-7, -4e-7, -1e-6, 0.0, 4.999e-7, 5e-7, 0.9999995, 0.9999996)]
    stamps = near + [rng.uniform(0, 4e9) for _ in range(20_000)] + [0.0, 0.4999995, 0.9999995, 253402300798.9]
    got = isos(stamps)
    assert len(got) == len(stamps) == 36_004
    assert got == [iso(t) for t in stamps]
    assert isos([1.7e9 + 0.9999996]) == ["2023-11-14T22:13:21Z"]  # rounds up to the next second, as datetime


def test_isos_leaves_what_numpy_would_write_otherwise_to_iso() -> None:
    assert isos([-1.5, 0.0]) == [iso(-1.5), "1970-01-01T00:00:00Z"] == ["1969-12-31T23:59:58Z", "1970-01-01T00:00:00Z"]
    assert isos([]) == []
    with pytest.raises(ValueError, match="year"):  # past 9999: the error iso itself raises
        isos([1.0, 3e11])
