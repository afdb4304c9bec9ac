"""Metal accounts' data, a lot's grades and the joint mass/element reconciliation (see docs/design-notes.md);
the accounts are computed for many lots at once in metal_accounts.py, the mass systems in mass_system.py."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from monitor.core.assays import RECOVERY_ELEMENTS, Assay, Grade, declared_grade, stream_grade
from monitor.core.frozen import maker
from monitor.core.mass_system import LotSystem, Systems, mass_matrix, mass_unknowns
from monitor.core.reconcile import Reconciled, Stack, locate_gross_error, reconcile
from monitor.core.rules import BALANCE_P_FAIL
from monitor.core.spec import LineSpec, SourceKind

NAN = math.nan
Array = NDArray[np.float64]
_MEASURED = (SourceKind.TOTALIZER, SourceKind.WEIGHING, SourceKind.FLOW)  # a stream with its own mass
CHI2_1DOF_99 = 6.63  # χ²(1) at 99 %: a located gross error this strong names its instrument


@dataclass(frozen=True, slots=True)
class ElementAccount:
    element: str
    feed_grade: float  # mass fraction
    feed_grade_source: str  # "assay" | "declared" | "none"
    feed_kg: float
    black_mass_grade: float
    black_mass_kg: float
    recovery: float  # E_bm / E_feed; NaN when unknown (never 0 for "not assayed")
    status: str  # "final" | "preliminary" | "none" (black-mass assay)
    stream_kg: dict[str, float] = field(default_factory=dict)  # assayed products
    distribution: dict[str, float] = field(default_factory=dict)  # needs every product assayed
    calc_head_grade: float = NAN
    two_product: float = NAN
    recovery_reconciled: float = NAN
    recovery_sd: float = NAN


@dataclass(frozen=True, slots=True)
class StreamBalance:
    stream: str
    measured_kg: float  # NaN when unmeasured
    reconciled_kg: float
    sd_kg: float
    z: float


@dataclass(frozen=True, slots=True)
class Balance:
    gamma: float
    dof: int
    p_value: float
    yield_reconciled: float
    yield_sd: float
    streams: tuple[StreamBalance, ...] = ()
    suspect: str = ""  # the instrument a gross error points at, when identifiable
    elements_used: tuple[str, ...] = ()


_STREAM_BALANCE, _BALANCE = maker(StreamBalance), maker(Balance)  # built in bulk (see frozen.py)


def ratio_sd(a: Array, b: Array, var_a: Array, var_b: Array, cov_ab: Array) -> Array:
    """sd of a/b by the delta method, elementwise (NaN where b is not positive). Powers are Python's
    `**` of each value (numpy's array power rounds some last bits otherwise), the rest IEEE's."""
    b2, b3, b4, a2 = (np.array([v**p for v in x.tolist()], dtype=float) for x, p in ((b, 2), (b, 3), (b, 4), (a, 2)))
    with np.errstate(all="ignore"):
        v = var_a / b2 + a2 * var_b / b4 - 2 * a * cov_ab / b3
        return np.where(b <= 0, NAN, np.sqrt(np.where(v < 0.0, 0.0, v)))  # max(v, 0.0), NaN kept


Grades = Mapping[str, tuple[Grade | None, dict[str, Grade]]]  # element -> (feed grade, product grades)


@dataclass(frozen=True, slots=True)
class LotInputs:
    """What an element's grades are read from: the line, the lot's masses and bags, assays, declared grades
    (with_accounting finds a lot's grades once for both the metal accounts and the reconciliation:
    finding them twice was a tenth of a replay)."""

    spec: LineSpec
    masses: Mapping[str, float]
    bags: Mapping[str, float]
    assays: Sequence[Assay]
    declared: Mapping[str, float]

    def grades(self, element: str) -> tuple[Grade | None, dict[str, Grade]]:
        """The element's feed grade (assayed, else declared) and each measured product's grade."""
        masses, feed = self.masses, self.spec.feed.name
        if not self.assays:  # most lots until the lab reports: no stream has a grade but the declared feed
            return (
                declared_grade(self.declared[element], masses.get(feed, NAN)) if element in self.declared else None
            ), {}
        g_feed = stream_grade(self.assays, feed, element, masses.get(feed, NAN))
        if g_feed is None and element in self.declared:
            g_feed = declared_grade(self.declared[element], masses.get(feed, NAN))
        products: dict[str, Grade] = {}
        for s in self.spec.products:
            if s.source in (SourceKind.UNMEASURED, SourceKind.ESTIMATE):
                continue
            bags = self.bags if s.name == "black_mass" else None
            g = stream_grade(self.assays, s.name, element, masses.get(s.name, NAN), bags)
            if g is not None:
                products[s.name] = g
        return g_feed, products

    def all_grades(self, elements: Sequence[str]) -> Grades:
        """Each element's grades, found once to be passed to account_metals and reconcile_batch."""
        return {el: self.grades(el) for el in elements}


class _System:
    """Variables, their covariance and the linear balances, built up one stream at a time."""

    def __init__(self) -> None:
        self.x: list[float] = []
        self.measured: list[bool] = []
        self.cov: dict[tuple[int, int], float] = {}
        self.balances: list[dict[int, float]] = []

    def add(self, value: float, var: float | None) -> int:
        """A variable; var None means unmeasured."""
        self.x.append(value if var is not None else 0.0)
        self.measured.append(var is not None)
        j = len(self.x) - 1
        if var is not None:
            self.cov[(j, j)] = var
        return j

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.x)
        A = np.zeros((len(self.balances), n))
        for k, row in enumerate(self.balances):
            for j, coef in row.items():
                A[k, j] = coef
        V = np.zeros((n, n))
        for (i, j), v in self.cov.items():
            V[i, j] = v
        return np.array(self.x), V, A, np.array(self.measured)


def reconcile_batch(
    spec: LineSpec,
    masses: Mapping[str, float],
    bags: Mapping[str, float] | None = None,
    assays: Sequence[Assay] = (),
    declared: Mapping[str, float] | None = None,
    elements: Sequence[str] = RECOVERY_ELEMENTS,
    *,
    grades: Grades | None = None,
) -> tuple[Balance, dict[str, tuple[float, float]]]:
    """Reconcile masses and, where black mass and feed grades exist, element flows jointly.

    Element flow = dry mass × grade, so its error shares the mass's (a covariance term) and adds
    the assay's. The lost stream is a prior (estimate_ratio × feed, ± accuracy) whose grade is
    grade_factor × the feed's, ± 100 %. Returns the summary and per element (recovery, sd).
    """
    if grades is None:
        grades = LotInputs(spec, masses, bags or {}, assays, declared or {}).all_grades(elements)
    lot = lot_system(spec, masses, grades, elements)
    return balance_of(spec, masses, lot, reconcile(lot.x, lot.V, lot.A, lot.measured))


def lot_system(spec: LineSpec, masses: Mapping[str, float], grades: Grades, elements: Sequence[str]) -> LotSystem:
    """The lot's masses and, where black mass and feed grades exist, element flows as one system."""
    feed = spec.feed.name
    sysm = _System()
    sign = {s.name: (1.0 if s.direction == "in" else -1.0) for s in spec.streams}
    mu = mass_unknowns(spec, mass_matrix(spec, [masses]))  # the mass rule, for one lot
    im = {
        s.name: sysm.add(x, var if known else None)
        for s, x, var, known in zip(
            spec.streams, mu.x[0].tolist(), mu.var[0].tolist(), mu.measured[0].tolist(), strict=True
        )
    }
    sysm.balances.append({im[n]: sign[n] for n in im})
    ie: dict[tuple[str, str], int] = {}
    used: list[str] = []
    for el in elements:
        g_feed, prods = grades[el]
        if g_feed is None or "black_mass" not in prods:
            continue
        of_stream: dict[str, Grade] = {feed: g_feed, **prods}
        row: dict[int, float] = {}
        for s in spec.streams:
            i = im[s.name]
            g = of_stream.get(s.name)
            mass, var_m = sysm.x[i], sysm.cov.get((i, i))
            if g is not None and var_m is not None and mass > 0:
                dry = g.dry_kg / mass  # fraction of the weighed mass that is dry
                j = sysm.add(g.fraction * g.dry_kg, (g.fraction * dry) ** 2 * var_m + (g.dry_kg * g.sigma) ** 2)
                sysm.cov[(i, j)] = sysm.cov[(j, i)] = g.fraction * dry * var_m
            elif s.source is SourceKind.ESTIMATE and var_m is not None:
                c = g_feed.fraction * s.grade_factor
                e = mass * c
                j = sysm.add(e, max(e, 1e-6) ** 2 + var_m * c**2)
                sysm.cov[(i, j)] = sysm.cov[(j, i)] = c * var_m
            else:
                j = sysm.add(0.0, None)
            ie[(el, s.name)] = j
            row[j] = sign[s.name]
        sysm.balances.append(row)
        used.append(el)
    return LotSystem(*sysm.arrays(), im, ie, tuple(used))


def balance_of(
    spec: LineSpec, masses: Mapping[str, float], lot: LotSystem, res: Reconciled
) -> tuple[Balance, dict[str, tuple[float, float]]]:
    """The reconciled lot (reconcile() of its system) as a Balance and per element (recovery, sd)."""
    return balances_of(spec, mass_matrix(spec, [masses]), Systems.of(lot), Stack.of(res))[0]


def balances_of(
    spec: LineSpec, M: Array, systems: Systems, st: Stack
) -> list[tuple[Balance, dict[str, tuple[float, float]]]]:
    """Lots of one layout (M: their mass_matrix), reconciled as `st`, as Balances and per element
    (recovery, sd); the yield and each stream's reconciled mass computed for all lots at once."""
    feed, im, ie, used = spec.feed.name, systems.im, systems.ie, systems.used
    i_f, i_b = im[feed], im["black_mass"]
    X, C = st.x, st.cov
    with np.errstate(all="ignore"):
        y = np.where(X[:, i_f] > 0, X[:, i_b] / X[:, i_f], NAN).tolist()
    y_sd = ratio_sd(X[:, i_b], X[:, i_f], C[:, i_b, i_b], C[:, i_f, i_f], C[:, i_b, i_f]).tolist()
    order = [im[s.name] for s in spec.streams]
    own = np.where([s.source in _MEASURED for s in spec.streams], M, NAN).tolist()
    x, sd, z = X[:, order].tolist(), st.sd[:, order].tolist(), st.z[:, order].tolist()
    names = [s.name for s in spec.streams]
    out = []
    for i in range(len(y)):
        recov = {}
        for el in used:
            a, b = ie[(el, "black_mass")], ie[(el, feed)]
            r = X[i, a] / X[i, b] if X[i, b] > 0 else NAN
            recov[el] = (float(r), float(ratio_sd(X[i, [a]], X[i, [b]], C[i, a, [a]], C[i, b, [b]], C[i, a, [b]])[0]))
        suspect = _suspect(spec, systems.lot(i)) if st.dof > 0 and st.p_value[i] < BALANCE_P_FAIL else ""
        streams = tuple(map(_STREAM_BALANCE, names, own[i], x[i], sd[i], z[i]))
        out.append((_BALANCE(st.gamma[i], st.dof, st.p_value[i], y[i], y_sd[i], streams, suspect, used), recov))
    return out


def _suspect(spec: LineSpec, lot: LotSystem) -> str:
    """Name the one instrument (a scale, or one assay) whose bias explains the balances, if any."""
    x, V, A, measured, im, ie, used = lot.x, lot.V, lot.A, lot.measured, lot.im, lot.ie, lot.used
    directions: dict[str, np.ndarray] = {}
    for s in spec.streams:
        i = im[s.name]
        if not measured[i] or s.source is SourceKind.ESTIMATE:
            continue
        d = np.zeros(x.size)
        d[i] = x[i]
        for el in used:  # a scale error moves every element flow computed from that mass
            j = ie[(el, s.name)]
            if measured[j]:
                d[j] = x[j]
        directions[f"scale:{s.name}"] = d
    for (el, name), j in ie.items():
        if measured[j] and name != spec.feed.name and spec.stream(name).source is not SourceKind.ESTIMATE:
            d = np.zeros(x.size)
            d[j] = x[j]
            directions[f"assay:{name}:{el}"] = d
    found = locate_gross_error(x, V, A, directions, measured)
    if found is not None and found.identifiable and found.statistic > CHI2_1DOF_99:
        return found.name
    return ""
