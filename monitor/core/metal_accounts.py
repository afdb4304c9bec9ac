"""Metal accounts of many lots as arrays: grades lots × streams × elements, the accounts computed for
all lots at once, then one ElementAccount per lot and element.

The live path accounts one lot through the same functions (account_metals), so every rule of an
element's account is written once. Only +, −, ×, ÷ and comparisons are taken elementwise here:
numpy's are IEEE's, as Python's are, so each number is the one a per-lot loop over floats gives.
Most lots have no assay (a replay, a lot before the lab reports): their grades are the declared
feed grades of their chemistry, set for all such lots at once; the few assayed lots find their
grades one by one (LotInputs.grades), as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.core.assays import RECOVERY_ELEMENTS, Assay, declared_grade
from monitor.core.frozen import maker
from monitor.core.mass_system import mass_matrix
from monitor.core.metals import ElementAccount, Grades, LotInputs
from monitor.core.spec import LineSpec, SourceKind

Array = NDArray[np.float64]
NAN = math.nan
STATUSES = ("none", "declared", "preliminary", "final")  # a grade's status as its code in GradeArrays
_FEED_SOURCE = ("none", "declared", "assay", "assay")
_ACCOUNT = maker(ElementAccount)  # ElementAccount(*fields), built in bulk (see frozen.py)


@dataclass(frozen=True, slots=True)
class GradeArrays:
    """Grades of k lots, k × streams (spec order) × elements: fraction, σ and dry kg (NaN where a
    stream has no grade of an element) and the status as an index into STATUSES (0 = no grade)."""

    fraction: Array
    sigma: Array
    dry: Array
    status: NDArray[np.int8]


def grade_arrays(
    spec: LineSpec,
    M: Array,
    declared: Sequence[Mapping[str, float]],
    assayed_lots: Mapping[int, LotInputs],
    elements: Sequence[str],
) -> tuple[GradeArrays, dict[int, Grades]]:
    """The grades of lots whose masses are M (mass_matrix) and declared feed grades `declared`; the
    lots with assays (`assayed_lots`, by row) find theirs lot by lot, also returned as Grade objects
    (the element-flow balances of lot_system read them)."""
    k, n, e = len(declared), len(spec.streams), len(elements)
    frac, sigma, dry = (np.full((k, n, e), NAN) for _ in range(3))
    status = np.zeros((k, n, e), dtype=np.int8)
    names = [s.name for s in spec.streams]
    jf = names.index(spec.feed.name)
    by_table: dict[int, list[int]] = {}  # lots without assays, by their declared table (one per chemistry)
    assayed = {i: lot.all_grades(elements) for i, lot in assayed_lots.items()}
    for i, table in enumerate(declared):
        if i not in assayed:
            by_table.setdefault(id(table), []).append(i)
    for idx in by_table.values():
        table = declared[idx[0]]
        cols = [c for c, el in enumerate(elements) if el in table]
        if not cols:
            continue
        one = [declared_grade(table[elements[c]], NAN) for c in cols]  # σ per element: the one rule
        rows = np.array(idx)[:, None]
        frac[rows, jf, cols] = [g.fraction for g in one]
        sigma[rows, jf, cols] = [g.sigma for g in one]
        dry[rows, jf, cols] = M[idx, jf][:, None]
        status[rows, jf, cols] = STATUSES.index("declared")
    for i, grades in assayed.items():
        for c, el in enumerate(elements):
            g_feed, prods = grades[el]
            for name, g in ((spec.feed.name, g_feed), *prods.items()):
                if g is not None:
                    j = names.index(name)
                    frac[i, j, c], sigma[i, j, c], dry[i, j, c] = g.fraction, g.sigma, g.dry_kg
                    status[i, j, c] = STATUSES.index(g.status)
    return GradeArrays(frac, sigma, dry, status), assayed


def account_metals(
    spec: LineSpec,
    masses: Mapping[str, float],
    bags: Mapping[str, float],
    assays: Sequence[Assay],
    declared: Mapping[str, float],
    elements: Sequence[str] = RECOVERY_ELEMENTS,
    *,
    reconciled: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[ElementAccount, ...]:
    """One lot's account_metals_many: per element its feed and black-mass content, recovery, ...;
    `reconciled` (per element recovery and sd of the joint reconciliation) fills the reconciled recovery."""
    M = mass_matrix(spec, [masses])
    lot = LotInputs(spec, masses, bags, assays, declared)
    grades, _ = grade_arrays(spec, M, [declared], {0: lot} if assays else {}, elements)
    rec = np.full((1, len(elements), 2), NAN)
    for c, el in enumerate(elements):
        rec[0, c] = (reconciled or {}).get(el, (NAN, NAN))
    return account_metals_many(spec, M, grades, rec, elements)[0]


def account_metals_many(
    spec: LineSpec, M: Array, g: GradeArrays, reconciled: Array, elements: Sequence[str]
) -> list[tuple[ElementAccount, ...]]:
    """Per lot and element: feed and black-mass content, recovery, distribution, head grade,
    two-product check. `reconciled` (k × elements × 2): the joint reconciliation's recovery and sd."""
    names = [s.name for s in spec.streams]
    jf = names.index(spec.feed.name)
    prods = [names.index(s.name) for s in spec.products if s.source not in (SourceKind.UNMEASURED, SourceKind.ESTIMATE)]
    jb = names.index("black_mass") if "black_mass" in names else -1
    has = g.status > 0
    has_f = has[:, jf]
    has_b = has[:, jb] if jb in prods else np.zeros_like(has_f)
    with np.errstate(all="ignore"):
        kg = g.fraction * g.dry  # each stream's element content
        e_feed = np.where(has_f, kg[:, jf], NAN)
        e_bm = np.where(has_b, kg[:, jb], NAN)
        recovery = np.where(has_b & has_f & (e_feed > 0), e_bm / e_feed, NAN)
        all_assayed: NDArray[np.bool_] = np.all(has[:, prods], axis=1)
        total_out = _sum_where(kg, has, prods)
        feed_kg = M[:, jf][:, None]
        head = np.where(all_assayed & (feed_kg > 0), total_out / feed_kg, NAN)
        tails = [j for j in prods if j != jb]
        has_tails = has[:, tails].any(axis=1)
        t_dry = _sum_where(g.dry, has, tails)
        t = np.where(t_dry > 0, _sum_where(kg, has, tails) / t_dry, NAN)
        f, c = g.fraction[:, jf], g.fraction[:, jb]
        two_ok = has_b & has_f & has_tails & (f > 0) & (c != t)
        two = np.where(two_ok, c * (f - t) / (f * (c - t)), NAN)
    k, n_el = reconciled.shape[:2]
    stream_kg, spread = _stream_dicts(names, prods, kg, has, total_out, all_assayed)
    bm_status = black_mass_status(spec, g)
    flat = (  # each column lots × elements, flattened lot by lot: map() builds the accounts in that order
        list(elements) * k,
        np.where(has_f, g.fraction[:, jf], NAN).ravel().tolist(),
        np.array(_FEED_SOURCE, dtype=object)[g.status[:, jf]].ravel().tolist(),
        e_feed.ravel().tolist(),
        np.where(has_b, c, NAN).ravel().tolist(),
        e_bm.ravel().tolist(),
        recovery.ravel().tolist(),
        np.array(STATUSES, dtype=object)[bm_status].ravel().tolist(),
        stream_kg,
        spread,
        head.ravel().tolist(),
        two.ravel().tolist(),
        reconciled[:, :, 0].ravel().tolist(),
        reconciled[:, :, 1].ravel().tolist(),
    )
    accounts = iter(map(_ACCOUNT, *flat))
    return list(zip(*[accounts] * n_el, strict=True)) if n_el else [() for _ in range(k)]


def black_mass_status(spec: LineSpec, g: GradeArrays) -> NDArray[np.int8]:
    """Each lot's and element's black-mass grade status (lots × elements, codes into STATUSES; 0 where
    the black mass is not a measured product): an ElementAccount's status."""
    names = [s.name for s in spec.streams]
    measured = {s.name for s in spec.products if s.source not in (SourceKind.UNMEASURED, SourceKind.ESTIMATE)}
    if "black_mass" not in measured:
        return np.zeros_like(g.status[:, names.index(spec.feed.name)])
    return g.status[:, names.index("black_mass")]


def _sum_where(values: Array, has: NDArray[np.bool_], streams: Sequence[int]) -> Array:
    """Σ of the streams' values where they have a grade, added in stream order from 0 (as sum())."""
    total = np.zeros(values.shape[::2])
    for j in streams:
        total = np.where(has[:, j], total + values[:, j], total)
    return total


def _stream_dicts(
    names: Sequence[str],
    prods: Sequence[int],
    kg: Array,
    has: NDArray[np.bool_],
    total: Array,
    all_assayed: NDArray[np.bool_],
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Per lot and element (flattened lot by lot): each assayed product's content and, when every
    product is assayed and the total is positive, its share of the total (distribution)."""
    k, _, n_el = kg.shape
    contents: list[dict[str, float]] = [{} for _ in range(k * n_el)]
    shares: list[dict[str, float]] = [{} for _ in range(k * n_el)]
    for i in np.flatnonzero(has[:, prods].any(axis=(1, 2))).tolist():
        for e in range(n_el):
            stream_kg = {names[j]: float(kg[i, j, e]) for j in prods if has[i, j, e]}
            tot = float(total[i, e])
            contents[i * n_el + e] = stream_kg
            if all_assayed[i, e] and tot > 0:
                shares[i * n_el + e] = {s: v / tot for s, v in stream_kg.items()}
    return contents, shares
