import numpy as np
import pytest

from monitor.core.totalizer import counter_mass, value_at


def arr(*xs: float) -> np.ndarray:
    return np.asarray(xs, dtype=float)


def test_plain_counter_between_exact_samples() -> None:
    r = counter_mass(arr(0, 60, 120, 180), arr(1000, 1033, 1066, 1100), 60, 180)
    assert r.mass == pytest.approx(67.0)
    assert (r.resets, r.rollovers, r.anomalies) == (0, 0, 0)


def test_window_ends_are_interpolated() -> None:
    r = counter_mass(arr(0, 100), arr(0, 1000), 25, 75)
    assert r.mass == pytest.approx(500.0)


def test_reset_to_zero_counts_the_new_value() -> None:
    # 5,000 -> 5,200, PLC resets, counts 0 -> 300: 200 + 300 kg
    r = counter_mass(arr(0, 60, 120, 180), arr(5000, 5200, 40, 300), 0, 180)
    assert r.mass == pytest.approx(200 + 40 + 260)
    assert r.resets == 1


def test_rollover_at_configured_maximum() -> None:
    # 16-bit-style counter wrapping at 100,000 kg: 99,900 -> 100,000 -> 150
    # (the window ends after the wrap: a reading stamped exactly at a window's end is the next window's)
    r = counter_mass(arr(0, 60, 120), arr(99_800, 99_900, 150), 0, 130, rollover=100_000)
    assert r.mass == pytest.approx(100 + 100 + 150)
    assert r.rollovers == 1 and r.resets == 0


def test_negative_jitter_is_noise_not_mass() -> None:
    # 100 -> 100.4 -> 100.1 -> 100.6: true mass 0.6, naive positive deltas would say 0.9
    r = counter_mass(arr(0, 1, 2, 3), arr(100, 100.4, 100.1, 100.6), 0, 3)
    assert r.mass == pytest.approx(0.6)
    assert r.resets == 0 and r.anomalies == 0


def test_large_drop_not_to_zero_is_an_anomaly_counted_as_nothing() -> None:
    r = counter_mass(arr(0, 1, 2), arr(10_000, 6_000, 6_050), 0, 2)
    assert r.mass == pytest.approx(50.0)
    assert r.anomalies == 1


def test_value_at_outside_samples_is_not_observed() -> None:
    ts, v = arr(10, 20), arr(1, 2)
    assert value_at(ts, v, 5) == (1.0, False)
    assert value_at(ts, v, 25) == (2.0, False)
    assert value_at(ts, v, 20) == (2.0, True)
    assert value_at(ts, v, 15) == (1.5, True)
