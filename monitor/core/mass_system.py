"""The mass part of lots' balance systems, many lots as arrays (lots × streams), and the lots whose
system is their masses alone (no element has both a feed and a black-mass grade) reconciled together.

One lot is a row: the live path's lot_system (monitor/core/metals.py) reads its mass unknowns from
here with one lot, so the rule for a stream's value and variance is written once. Squares are taken
by Python's `**` of each value (numpy's array power squares by multiplying or through its own
vector library, whose last bits differ from `pow`'s, and the stored numbers must not move).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.core.reconcile import Stack, solve_stack
from monitor.core.spec import LineSpec, SourceKind

Array = NDArray[np.float64]
MIN_SD = 1e-6  # kg: a stream's σ never below this (a zero mass would make its variance 0)


@dataclass(frozen=True, slots=True)
class LotSystem:
    """A lot's balances, ready to reconcile: values, covariance, balances, which are measured, and
    where each stream's mass (im) and each (element, stream) flow (ie) is among the values."""

    x: np.ndarray
    V: np.ndarray
    A: np.ndarray
    measured: np.ndarray
    im: dict[str, int]
    ie: dict[tuple[str, str], int]
    used: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Systems:
    """Lots' systems of one layout (balances, which values are measured, where each stream and flow
    is, the elements used), stacked: values k × n, covariances k × n × n."""

    xs: Array
    covs: Array
    A: Array
    measured: NDArray[np.bool_]
    im: dict[str, int]
    ie: dict[tuple[str, str], int]
    used: tuple[str, ...]

    def lot(self, i: int) -> LotSystem:
        return LotSystem(self.xs[i], self.covs[i], self.A, self.measured, self.im, self.ie, self.used)

    @classmethod
    def of(cls, lot: LotSystem) -> Systems:
        """One lot's system as a stack of one."""
        return cls(lot.x[None], lot.V[None], lot.A, lot.measured, lot.im, lot.ie, lot.used)


@dataclass(frozen=True, slots=True)
class MassUnknowns:
    """One unknown per stream mass of k lots (k × streams, spec order): measured (± accuracy), a prior
    (estimate) or free (unmeasured: value 0, not measured, variance NaN)."""

    x: Array
    var: Array
    measured: NDArray[np.bool_]


def mass_matrix(spec: LineSpec, masses: Sequence[Mapping[str, float]]) -> Array:
    """Each lot's stream masses, k × streams in spec order; NaN where the lot has no such stream."""
    names = [s.name for s in spec.streams]
    return np.array([[m.get(n, math.nan) for n in names] for m in masses], dtype=float).reshape(len(masses), -1)


def mass_unknowns(spec: LineSpec, M: Array) -> MassUnknowns:
    """The mass unknowns of lots whose masses are M (mass_matrix)."""
    k = M.shape[0]
    feed = M[:, [s.name for s in spec.streams].index(spec.feed.name)]
    x, var = np.zeros_like(M), np.full_like(M, math.nan)
    measured = np.zeros(M.shape, dtype=bool)
    for j, s in enumerate(spec.streams):
        if s.source is SourceKind.UNMEASURED:
            continue
        value = s.estimate_ratio * feed if s.source is SourceKind.ESTIMATE else M[:, j]
        known = np.ones(k, dtype=bool) if s.source is SourceKind.ESTIMATE else np.isfinite(value)
        sd = np.maximum(s.accuracy * value, MIN_SD)[known].tolist()
        x[known, j] = value[known]
        var[known, j] = [v**2 for v in sd]
        measured[:, j] = known
    return MassUnknowns(x, var, measured)


def mass_balance(spec: LineSpec) -> Array:
    """The one mass balance over the streams: feed in, products out."""
    return np.array([[1.0 if s.direction == "in" else -1.0 for s in spec.streams]])


def reconcile_masses(spec: LineSpec, mu: MassUnknowns, lots: Sequence[int]) -> list[tuple[list[int], Systems, Stack]]:
    """The lots (rows of mu) whose system is their masses alone, reconciled as one stack per layout
    (which masses are measured): per layout its lots, their Systems and the Stack, whose numbers are
    reconcile()'s of each lot's system to the last bit."""
    A = mass_balance(spec)
    im = {s.name: j for j, s in enumerate(spec.streams)}
    groups: dict[bytes, list[int]] = {}
    for i in lots:
        groups.setdefault(mu.measured[i].tobytes(), []).append(i)
    out = []
    n = len(spec.streams)
    for idx in groups.values():
        m = mu.measured[idx[0]]
        xs = mu.x[idx]
        covs = np.zeros((len(idx), n, n))
        diag = np.flatnonzero(m)
        covs[:, diag, diag] = mu.var[idx][:, diag]
        out.append((idx, Systems(xs, covs, A, m, im, {}, ()), solve_stack(xs, covs, A, m)))
    return out
