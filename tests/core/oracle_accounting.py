"""The per-lot accounting as it stood before lots were accounted as arrays (session 7, 61b49fc):
scalar Python per lot and element, reconcile() per lot. Kept here, in the tests only, as the
reference the array path must equal to the last bit (tests/core/test_accounting_many.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from monitor.core.assays import RECOVERY_ELEMENTS, Assay, Grade
from monitor.core.metals import Balance, ElementAccount, LotInputs, StreamBalance
from monitor.core.reconcile import Reconciled, locate_gross_error, reconcile
from monitor.core.results import BatchResult, BatchState
from monitor.core.rules import BALANCE_P_FAIL
from monitor.core.spec import LineSpec, SourceKind

NAN = math.nan
_MEASURED = (SourceKind.TOTALIZER, SourceKind.WEIGHING, SourceKind.FLOW)
CHI2_1DOF_99 = 6.63
Grades = Mapping[str, tuple[Grade | None, dict[str, Grade]]]


def with_accounting(
    result: BatchResult, spec: LineSpec, assays: Sequence[Assay], declared: Mapping[str, float] | None
) -> BatchResult:
    masses = {s.stream: s.mass_kg for s in result.streams}
    mine = [a for a in assays if a.batch_id == result.batch_id]
    grades = LotInputs(spec, masses, result.bags, mine, declared or {}).all_grades(RECOVERY_ELEMENTS)
    lot = lot_system(spec, masses, grades, RECOVERY_ELEMENTS)
    balance, recov = balance_of(spec, masses, lot, reconcile(lot.x, lot.V, lot.A, lot.measured))
    metals = account_metals(spec, masses, result.bags, mine, declared or {}, grades=grades, reconciled=recov)
    used = [m.status for m in metals if m.status != "none"]
    status = "none" if not used else ("preliminary" if "preliminary" in used else "final")
    state = result.state
    if state in (BatchState.COMPLETE, BatchState.ASSAYED):
        state = BatchState.ASSAYED if status == "final" else BatchState.COMPLETE
    return replace(result, metals=metals, balance=balance, assay_status=status, state=state)


def _ratio_sd(a: float, b: float, var_a: float, var_b: float, cov_ab: float) -> float:
    """sd of a/b by the delta method."""
    if b <= 0:
        return NAN
    v = var_a / b**2 + (a**2) * var_b / b**4 - 2 * a * cov_ab / b**3
    return math.sqrt(max(v, 0.0))


def account_metals(
    spec: LineSpec,
    masses: Mapping[str, float],
    bags: Mapping[str, float],
    assays: Sequence[Assay],
    declared: Mapping[str, float],
    elements: Sequence[str] = RECOVERY_ELEMENTS,
    *,
    grades: Grades | None = None,
    reconciled: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[ElementAccount, ...]:
    """Per element: feed and black-mass content, recovery, distribution, head grade, two-product check;
    `reconciled` (reconcile_batch's per element recovery and sd) fills the reconciled recovery."""
    out = []
    reconciled = reconciled or {}
    measured_products = [s.name for s in spec.products if s.source not in (SourceKind.UNMEASURED, SourceKind.ESTIMATE)]
    feed_kg_total = masses.get(spec.feed.name, NAN)
    if grades is None:
        grades = LotInputs(spec, masses, bags, assays, declared).all_grades(elements)
    must_assay = set(measured_products)
    for el in elements:
        g_feed, prods = grades[el]
        e_feed = g_feed.fraction * g_feed.dry_kg if g_feed else NAN
        source = "none" if g_feed is None else ("declared" if g_feed.status == "declared" else "assay")
        bm = prods.get("black_mass")
        e_bm = bm.fraction * bm.dry_kg if bm else NAN
        recovery = e_bm / e_feed if bm and g_feed and e_feed > 0 else NAN
        stream_kg = {s: g.fraction * g.dry_kg for s, g in prods.items()}
        all_assayed = must_assay <= prods.keys()
        total_out = sum(stream_kg.values())
        distribution = {s: v / total_out for s, v in stream_kg.items()} if all_assayed and total_out > 0 else {}
        head = total_out / feed_kg_total if all_assayed and feed_kg_total > 0 else NAN
        two = NAN
        tails = [s for s in prods if s != "black_mass"]
        if bm and g_feed and tails:
            t_dry = sum(prods[s].dry_kg for s in tails)
            t = sum(stream_kg[s] for s in tails) / t_dry if t_dry > 0 else NAN
            f, c = g_feed.fraction, bm.fraction
            if f > 0 and c != t:
                two = c * (f - t) / (f * (c - t))
        out.append(
            ElementAccount(
                element=el,
                feed_grade=g_feed.fraction if g_feed else NAN,
                feed_grade_source=source,
                feed_kg=e_feed,
                black_mass_grade=bm.fraction if bm else NAN,
                black_mass_kg=e_bm,
                recovery=recovery,
                status=bm.status if bm else "none",
                stream_kg=stream_kg,
                distribution=distribution,
                calc_head_grade=head,
                two_product=two,
                recovery_reconciled=reconciled.get(el, (NAN, NAN))[0],
                recovery_sd=reconciled.get(el, (NAN, NAN))[1],
            )
        )
    return tuple(out)


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


def lot_system(spec: LineSpec, masses: Mapping[str, float], grades: Grades, elements: Sequence[str]) -> LotSystem:
    """The lot's masses and, where black mass and feed grades exist, element flows as one system."""
    feed = spec.feed.name
    sysm = _System()
    sign = {s.name: (1.0 if s.direction == "in" else -1.0) for s in spec.streams}
    im = _mass_unknowns(spec, masses, masses.get(feed, NAN), sysm)
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
    feed, im, ie = spec.feed.name, lot.im, lot.ie
    i_f, i_b = im[feed], im["black_mass"]
    y = res.x[i_b] / res.x[i_f] if res.x[i_f] > 0 else NAN
    y_sd = _ratio_sd(res.x[i_b], res.x[i_f], res.cov[i_b, i_b], res.cov[i_f, i_f], res.cov[i_b, i_f])
    recov = {}
    for el in lot.used:
        a, b = ie[(el, "black_mass")], ie[(el, feed)]
        r = res.x[a] / res.x[b] if res.x[b] > 0 else NAN
        recov[el] = (float(r), _ratio_sd(res.x[a], res.x[b], res.cov[a, a], res.cov[b, b], res.cov[a, b]))
    suspect = ""
    if res.dof > 0 and res.p_value < BALANCE_P_FAIL:
        suspect = _suspect(spec, lot)
    # each stream's reconciled kg, sd and z as Python floats (float() of each numpy scalar, in one pass)
    x, sd, z = res.x.tolist(), res.sd.tolist(), res.z.tolist()
    streams = tuple(
        StreamBalance(s.name, masses.get(s.name, NAN) if s.source in _MEASURED else NAN, x[i], sd[i], z[i])
        for s in spec.streams
        for i in (im[s.name],)
    )
    return Balance(res.gamma, res.dof, res.p_value, float(y), y_sd, streams, suspect, lot.used), recov


def _mass_unknowns(spec: LineSpec, masses: Mapping[str, float], feed_kg: float, sysm: _System) -> dict[str, int]:
    """One unknown per stream mass: measured (± accuracy), a prior (estimate) or free (unmeasured)."""
    im: dict[str, int] = {}
    for s in spec.streams:
        if s.source is SourceKind.UNMEASURED:
            im[s.name] = sysm.add(0.0, None)
        elif s.source is SourceKind.ESTIMATE:
            prior = s.estimate_ratio * feed_kg
            im[s.name] = sysm.add(prior, max(s.accuracy * prior, 1e-6) ** 2)
        else:
            m = masses.get(s.name, NAN)
            im[s.name] = sysm.add(m, max(s.accuracy * m, 1e-6) ** 2 if math.isfinite(m) else None)
    return im


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
