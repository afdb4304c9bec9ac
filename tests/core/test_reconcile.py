"""Reconciliation on the worked example of shared/reference/domain.md and on small cases."""

import math

import numpy as np
import pytest

from monitor.core.reconcile import chi2_sf, locate_gross_error, reconcile

# feed, black mass, Cu/Al, Fe, light, condensate, loss estimate (kg) and relative sigmas
X = np.array([10_000, 4_930, 1_480, 1_690, 420, 1_120, 150], dtype=float)
REL = np.array([0.002, 0.005, 0.01, 0.01, 0.02, 0.02, 1.0])
A = np.array([[1, -1, -1, -1, -1, -1, -1]], dtype=float)


def test_worked_example() -> None:
    r = reconcile(X, np.diag((REL * X) ** 2), A)
    assert (A @ X)[0] == pytest.approx(210.0)
    assert r.gamma == pytest.approx(1.794, abs=0.001)
    assert r.dof == 1
    assert r.p_value == pytest.approx(0.1804, abs=0.001)
    assert r.x[1] == pytest.approx(4935.2, abs=0.05)
    assert r.x[6] == pytest.approx(342.2, abs=0.05)
    assert r.x[1] / r.x[0] == pytest.approx(0.4937, abs=0.0001)
    assert (A @ r.x)[0] == pytest.approx(0.0, abs=1e-9)
    # one balance: every measurement test has the same value, nothing can be localised
    assert np.allclose(r.z[:6], r.z[0])
    assert r.sd[6] < 150.0 and r.sd[1] < 0.005 * 4930


def test_unmeasured_stream_is_estimated_without_redundancy() -> None:
    measured = np.array([True] * 6 + [False])
    r = reconcile(X, np.diag((REL * X) ** 2), A, measured)
    assert r.dof == 0 and math.isnan(r.p_value) and r.gamma == 0.0
    assert r.x[6] == pytest.approx(10_000 - 4_930 - 1_480 - 1_690 - 420 - 1_120)
    assert np.allclose(r.x[:6], X[:6])
    # its variance is the sum of the others'
    assert r.sd[6] == pytest.approx(math.sqrt(float(np.sum((REL[:6] * X[:6]) ** 2))))


def test_chi2_survival_function() -> None:
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, abs=1e-9)
    assert chi2_sf(5.991464547107979, 2) == pytest.approx(0.05, abs=1e-9)
    assert chi2_sf(7.814727903251178, 3) == pytest.approx(0.05, abs=1e-9)
    assert chi2_sf(13.276704135987622, 4) == pytest.approx(0.01, abs=1e-9)
    assert chi2_sf(0.0, 3) == 1.0


def test_gross_error_located_only_where_balances_allow() -> None:
    # two nodes: feed -> a + b, a -> c + d; the scale of a (in both balances) reads 8 % high
    true = np.array([100.0, 60.0, 40.0, 45.0, 15.0])
    A2 = np.array([[1, -1, -1, 0, 0], [0, 1, 0, -1, -1]], dtype=float)
    x = true.copy()
    x[1] *= 1.08
    cov = np.diag((0.005 * true) ** 2)
    r = reconcile(x, cov, A2)
    assert r.p_value < 0.01
    dirs = {f"s{k}": np.eye(5)[k] * x[k] for k in range(5)}
    s = locate_gross_error(x, cov, A2, dirs)
    assert s is not None and s.name == "s1" and s.identifiable
    # c and d sit in the second node only: a bias on c looks exactly like one on d
    x = true.copy()
    x[3] *= 1.08
    s = locate_gross_error(x, cov, A2, dirs)
    assert s is not None and s.name in ("s3", "s4") and not s.identifiable
    # one balance only: every stream explains it equally well -> not identifiable
    s1 = locate_gross_error(X, np.diag((REL * X) ** 2), A, {f"s{k}": np.eye(7)[k] * X[k] for k in range(6)})
    assert s1 is not None and not s1.identifiable
