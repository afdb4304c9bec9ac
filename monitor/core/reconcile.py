"""Data reconciliation by weighted least squares, on plain numpy arrays.

    x̂ = x − V Aᵀ (A V Aᵀ)⁻¹ A x,   Cov(x̂) = V − V Aᵀ (A V Aᵀ)⁻¹ A V
    γ = (Ax)ᵀ (A V Aᵀ)⁻¹ (Ax) ~ χ²(rank A),   z_k = |x_k − x̂_k| / sqrt(W_kk)

Unmeasured variables are removed from the constraints by projection onto the left null space
of their columns, then estimated from the balance (no redundancy for them). V may be a full
covariance, so derived quantities (element flows that share a mass error) stay honest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


_GAMMA_3_HALVES = math.gamma(1.5)


def chi2_sf(x: float, dof: int) -> float:
    """P(χ²(dof) > x) for a whole number of degrees of freedom, exactly (no SciPy needed)."""
    if dof <= 0:
        return math.nan
    if x <= 0:
        return 1.0
    h = x / 2.0
    if dof % 2 == 0:  # Q(k, h) = e^-h Σ_{i<k} h^i / i!
        term = total = math.exp(-h)
        for i in range(1, dof // 2):
            term *= h / i
            total += term
        return min(1.0, total)
    total = math.erfc(math.sqrt(h))  # odd: erfc(√h) + e^-h Σ h^(i-1/2) / Γ(i+1/2)
    if dof == 1:  # the sum is empty: a lot of masses alone (one balance), thousands per replay
        return min(1.0, total)
    term = math.exp(-h) * math.sqrt(h) / _GAMMA_3_HALVES
    for i in range(1, (dof - 1) // 2 + 1):
        total += term
        term *= h / (i + 0.5)
    return min(1.0, total)


@dataclass(frozen=True)
class Reconciled:
    x: Array  # reconciled values (measured and unmeasured)
    cov: Array  # their covariance
    z: Array  # measurement test statistic; NaN for unmeasured
    gamma: float  # global test statistic
    dof: int  # redundancy (rank of the projected constraints)
    p_value: float
    sd_found: Array | None = field(default=None, repr=False, compare=False)  # sd, computed for a whole stack

    @property
    def sd(self) -> Array:
        if self.sd_found is not None:
            return self.sd_found
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))


def reconcile(x: Array, cov: Array, A: Array, measured: NDArray[np.bool_] | None = None) -> Reconciled:
    """Reconcile measurements x (covariance cov) to the linear balances A·x = 0.

    Entries with measured == False are unknowns: their x and cov rows are ignored.
    """
    x = np.asarray(x, dtype=float)
    A = np.atleast_2d(np.asarray(A, dtype=float))
    n = x.size
    m = np.ones(n, dtype=bool) if measured is None else np.asarray(measured, dtype=bool)
    iy, iu, B, dof, G = _structure(A, m)
    y = x[iy]
    V = np.asarray(cov, dtype=float)[np.ix_(iy, iy)]
    x_hat = x.copy()
    cov_hat = np.zeros((n, n))
    z = np.full(n, np.nan)
    gamma = 0.0
    if dof > 0:
        r = B @ y
        S = B @ V @ B.T
        S_inv = np.linalg.pinv(S)
        K = V @ B.T @ S_inv
        y_hat = y - K @ r
        W = K @ B @ V  # covariance of the adjustments
        cov_y = V - W
        gamma = float(r @ S_inv @ r)
        wd = np.sqrt(np.clip(np.diag(W), 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            z[iy] = np.where(wd > 0, np.abs(y - y_hat) / wd, 0.0)
    else:
        y_hat, cov_y = y, V
        z[iy] = 0.0
    x_hat[iy] = y_hat
    cov_hat[np.ix_(iy, iy)] = cov_y
    if iu.size:  # unknowns from the balances: Au·u = −Ay·ŷ (least squares)
        x_hat[iu] = G @ y_hat
        cov_hat[np.ix_(iu, iu)] = G @ cov_y @ G.T
        cov_hat[np.ix_(iu, iy)] = G @ cov_y
        cov_hat[np.ix_(iy, iu)] = (G @ cov_y).T
    return Reconciled(x_hat, cov_hat, z, gamma, dof, chi2_sf(gamma, dof) if dof else math.nan)


def reconcile_many(lots: Sequence[tuple[Array, Array, Array, NDArray[np.bool_]]]) -> list[Reconciled]:
    """`reconcile(x, cov, A, measured)` of many lots, each (x, cov, A, measured), in the order given.

    Lots of one balance layout (A and which values are measured) are solved together, as stacks:
    the same numpy operations on each lot's matrices, so the numbers are reconcile()'s to the last
    bit (tests/core/test_reconcile_many.py); a replay's thousands of lots pay the per-call cost once.
    """
    groups: dict[bytes, list[int]] = {}
    for i, (x, _, A, m) in enumerate(lots):
        groups.setdefault(b"%d,%d,%d;" % (x.size, *A.shape) + A.tobytes() + m.tobytes(), []).append(i)
    out: list[Reconciled | None] = [None] * len(lots)
    for idx in groups.values():
        _, _, A, m = lots[idx[0]]
        xs = np.stack([lots[i][0] for i in idx]).astype(float, copy=False)
        covs = np.stack([lots[i][1] for i in idx]).astype(float, copy=False)
        for i, res in zip(idx, reconcile_stack(xs, covs, A, m), strict=True):
            out[i] = res
    return [r for r in out if r is not None]


@dataclass(frozen=True)
class Stack:
    """reconcile() of k lots of one layout as arrays: x, z and sd (k, n), cov (k, n, n), per lot gamma
    and p-value (lists of floats), the layout's redundancy."""

    x: Array
    cov: Array
    z: Array
    sd: Array
    gamma: list[float]
    dof: int
    p_value: list[float]

    def lot(self, i: int) -> Reconciled:
        return Reconciled(self.x[i], self.cov[i], self.z[i], self.gamma[i], self.dof, self.p_value[i], self.sd[i])

    @classmethod
    def of(cls, res: Reconciled) -> Stack:
        """One lot's reconcile() as a stack of one."""
        return cls(res.x[None], res.cov[None], res.z[None], res.sd[None], [res.gamma], res.dof, [res.p_value])


def reconcile_stack(xs: Array, covs: Array, A: Array, measured: NDArray[np.bool_]) -> list[Reconciled]:
    """reconcile() of k lots that share A and `measured`: xs (k, n), covs (k, n, n)."""
    st = solve_stack(xs, covs, A, measured)
    return [st.lot(i) for i in range(xs.shape[0])]


def solve_stack(xs: Array, covs: Array, A: Array, measured: NDArray[np.bool_]) -> Stack:
    """reconcile_stack()'s results as one Stack."""
    A = np.atleast_2d(np.asarray(A, dtype=float))
    k, n = xs.shape
    iy, iu, B, dof, G = _structure(A, np.asarray(measured, dtype=bool))
    Y = xs[:, iy]
    V = covs[:, iy[:, None], iy]
    XH = xs.copy()
    CH = np.zeros((k, n, n))
    Z = np.full((k, n), np.nan)
    gammas = [0.0] * k
    if dof > 0:
        R = np.matmul(B, _column(Y))[:, :, 0]
        S_inv = np.linalg.pinv(np.matmul(np.matmul(B, V), B.T))
        K = np.matmul(np.matmul(V, B.T), S_inv)
        YH = Y - np.matmul(K, _column(R))[:, :, 0]
        W = np.matmul(np.matmul(K, B), V)
        CY = V - W
        if R.shape[1] == 1:  # one balance (a lot of masses alone): r·s·r, the two products r @ S⁻¹ @ r takes
            gammas = (R[:, 0] * S_inv[:, 0, 0] * R[:, 0]).tolist()
        else:
            gammas = [float(R[i] @ S_inv[i] @ R[i]) for i in range(k)]
        wd = np.sqrt(np.clip(np.diagonal(W, axis1=1, axis2=2), 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            Z[:, iy] = np.where(wd > 0, np.abs(Y - YH) / wd, 0.0)
    else:
        YH, CY = Y, V
        Z[:, iy] = 0.0
    XH[:, iy] = YH
    CH[:, iy[:, None], iy] = CY
    if iu.size:
        XH[:, iu] = np.matmul(G, _column(YH))[:, :, 0]
        CH[:, iu[:, None], iu] = np.matmul(np.matmul(G, CY), G.T)
        GC = np.matmul(G, CY)
        CH[:, iu[:, None], iy] = GC
        CH[:, iy[:, None], iu] = np.swapaxes(GC, 1, 2)
    SD = np.sqrt(np.clip(np.diagonal(CH, axis1=1, axis2=2), 0.0, None))  # elementwise: each lot's sd as its own
    return Stack(XH, CH, Z, SD, gammas, dof, [chi2_sf(g, dof) if dof else math.nan for g in gammas])


def _column(a: Array) -> Array:
    """Each row of a (k, n) as a (n, 1) column, laid out as reconcile()'s 1-d vectors are: a column
    with a zero stride (a[:, :, None]) takes another BLAS path, whose last bits differ."""
    return np.ascontiguousarray(a[:, :, None])


Structure = tuple[NDArray[np.intp], NDArray[np.intp], Array, int, Array]
_STRUCTURES: dict[bytes, Structure] = {}
STRUCTURES_KEPT = 256  # balance layouts remembered; a plant has a few (which elements are assayed)


def _structure(A: Array, m: NDArray[np.bool_]) -> Structure:
    """What depends on the balances and which values are measured alone, not on the values: computed
    once per layout (replay reconciles thousands of lots of a few layouts; the decompositions were
    most of it). (measured indices, unknown indices, projected constraints B, redundancy, G)."""
    key = b"%d,%d;" % A.shape + A.tobytes() + m.tobytes()
    found = _STRUCTURES.get(key)
    if found is not None:
        return found
    iy, iu = np.flatnonzero(m), np.flatnonzero(~m)
    Ay, Au = A[:, iy], A[:, iu]
    # Projection P with P·Au = 0: the balances that involve measured values only.
    if iu.size:
        u, s, _ = np.linalg.svd(Au, full_matrices=True)
        rank_u = int(np.sum(s > 1e-12 * max(1.0, s.max(initial=0.0))))
        P = u[:, rank_u:].T
    else:
        P = np.eye(A.shape[0])
    B = P @ Ay
    keep = np.linalg.svd(B, compute_uv=False) if B.size else np.zeros(0)
    dof = int(np.sum(keep > 1e-12 * max(1.0, keep.max(initial=0.0))))
    G = -np.linalg.pinv(Au) @ Ay if iu.size else np.zeros((0, iy.size))
    for a in (iy, iu, B, G):
        a.flags.writeable = False  # shared by every lot of this layout
    if len(_STRUCTURES) >= STRUCTURES_KEPT:
        _STRUCTURES.clear()  # one step, safe beside other threads; a plant's few layouts come back at once
    _STRUCTURES[key] = (iy, iu, B, dof, G)
    return iy, iu, B, dof, G


@dataclass(frozen=True)
class Suspect:
    name: str
    statistic: float  # generalised likelihood ratio, ~χ²(1) with no gross error
    identifiable: bool  # False when another candidate explains the residuals equally well


def locate_gross_error(
    x: Array, cov: Array, A: Array, directions: dict[str, Array], measured: NDArray[np.bool_] | None = None
) -> Suspect | None:
    """Which single bias explains the balance residuals best (GLR test).

    `directions[name]` is the change of x a bias of that instrument causes (a scale error moves
    a stream's mass and every element flow computed from it). Identifiable when the best
    candidate's signature in the residual space is not (nearly) parallel to the runner-up's.
    """
    x = np.asarray(x, dtype=float)
    A = np.atleast_2d(np.asarray(A, dtype=float))
    m = np.ones(x.size, dtype=bool) if measured is None else np.asarray(measured, dtype=bool)
    iy, iu = np.flatnonzero(m), np.flatnonzero(~m)
    if iu.size:
        u, s, _ = np.linalg.svd(A[:, iu], full_matrices=True)
        P = u[:, int(np.sum(s > 1e-12 * max(1.0, s.max(initial=0.0)))) :].T
    else:
        P = np.eye(A.shape[0])
    B = P @ A[:, iy]
    if B.shape[0] == 0:
        return None
    r = B @ x[iy]
    S_inv = np.linalg.pinv(B @ np.asarray(cov, dtype=float)[np.ix_(iy, iy)] @ B.T)
    scored: list[tuple[float, str, Array]] = []
    for name, d in directions.items():
        f = B @ np.asarray(d, dtype=float)[iy]
        denom = float(f @ S_inv @ f)
        if denom <= 0:
            continue
        scored.append(((float(f @ S_inv @ r)) ** 2 / denom, name, f))
    if not scored:
        return None
    scored.sort(key=lambda t: -t[0])
    best_t, best, f1 = scored[0]
    identifiable = True
    if len(scored) > 1:
        f2 = scored[1][2]
        cos = abs(float(f1 @ S_inv @ f2)) / math.sqrt(float(f1 @ S_inv @ f1) * float(f2 @ S_inv @ f2))
        identifiable = cos < 0.99  # noqa: PLR2004 - two instruments whose signatures are this parallel cannot be told apart
    return Suspect(best, best_t, identifiable)
