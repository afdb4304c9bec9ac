import numpy as np
import pytest

from monitor.core.flow import flow_mass
from monitor.core.weighings import Weighing, weighed_mass


def test_constant_rate_integrates_to_rate_times_hours() -> None:
    ts = np.arange(0, 3601, 60, dtype=float)
    r = flow_mass(ts, np.full(ts.size, 2000.0), 0, 3600, max_gap_s=120)
    assert r.mass == pytest.approx(2000.0)
    assert r.gaps == 0 and r.covered


def test_gap_is_bridged_linearly_and_flagged() -> None:
    ts = np.array([0, 60, 1860, 1920], dtype=float)  # 30 min without samples
    rate = np.array([1000, 1000, 3000, 3000], dtype=float)
    r = flow_mass(ts, rate, 0, 1920, max_gap_s=300)
    assert r.mass == pytest.approx((1000 * 60 + 2000 * 1800 + 3000 * 60) / 3600)
    assert r.gaps == 1


def test_duplicate_bag_ids_counted_once() -> None:
    bags = [Weighing(10, "BB-1", 812.0), Weighing(20, "BB-2", 790.5), Weighing(25, "BB-1", 812.0)]
    r = weighed_mass(bags, 0, 30)
    assert r.mass == pytest.approx(1602.5)
    assert (r.bags, r.duplicates) == (2, 1)


def test_window_is_open_at_start_closed_at_end() -> None:
    bags = [Weighing(0, "A", 1.0), Weighing(10, "B", 2.0), Weighing(20, "C", 4.0)]
    assert weighed_mass(bags, 0, 10).mass == pytest.approx(2.0)
    assert weighed_mass(bags, 10, 20).mass == pytest.approx(4.0)


def test_bags_of_earlier_batches_not_counted_again() -> None:
    bags = [Weighing(5, "A", 700.0), Weighing(15, "B", 650.0)]
    r = weighed_mass(bags, 0, 20, already_counted=frozenset({"A"}))
    assert r.mass == pytest.approx(650.0)
    assert r.duplicates == 1
