"""Completed batches plus their assays → their metal accounting and reconciliation (pure).

Lots are accounted together, as arrays (lots × streams × elements): the live path accounts one lot
through the same function (with_accounting), a replay 500 at a time. A lot whose balance system is
its masses alone (no element with both a feed and a black-mass grade: every lot until the lab
reports) is reconciled with the other lots of its layout as one numpy stack (reconcile_masses);
a lot with element flows builds its system one by one (lot_system) and joins reconcile_many.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.core.assays import RECOVERY_ELEMENTS, Assay
from monitor.core.frozen import maker
from monitor.core.mass_system import Systems, mass_unknowns, reconcile_masses
from monitor.core.metal_accounts import STATUSES, account_metals_many, black_mass_status, grade_arrays
from monitor.core.metals import Balance, ElementAccount, LotInputs, balances_of, lot_system
from monitor.core.reconcile import Stack, reconcile_many
from monitor.core.results import BatchResult, BatchState
from monitor.core.spec import LineSpec

Lot = tuple[BatchResult, Sequence[Assay], Mapping[str, float] | None]  # a result, its assays, declared grades
_NONE_DECLARED: Mapping[str, float] = MappingProxyType({})  # a lot of no declared table (read only: shared)


def assay_statuses(codes: NDArray[np.int8]) -> list[str]:
    """Each lot's assay status from its elements' black-mass status codes (lots × elements, into
    STATUSES): "none" when no element has one, else "preliminary" when one is, else "final"."""
    preliminary = (codes == STATUSES.index("preliminary")).any(axis=1)
    used = (codes != STATUSES.index("none")).any(axis=1)
    statuses: list[str] = np.where(preliminary, "preliminary", np.where(used, "final", "none")).tolist()
    return statuses


def with_accounting(
    result: BatchResult, spec: LineSpec, assays: Sequence[Assay], declared: Mapping[str, float] | None
) -> BatchResult:
    """The batch with metals, balance and assay status recomputed from scratch (same masses)."""
    return with_accounting_many(spec, [(result, assays, declared)])[0]


def with_accounting_many(
    spec: LineSpec, lots: Sequence[Lot], *, also: Sequence[Mapping[str, Any]] = ()
) -> list[BatchResult]:
    """with_accounting() of each lot: grades, metal accounts and mass systems as arrays over the lots,
    the reconciliations solved together (one stack per balance layout). `also`: per lot, other
    fields to set in the same copy (a replay's carbon and origin stamp)."""
    elements, at = RECOVERY_ELEMENTS, {s.name: j for j, s in enumerate(spec.streams)}
    rows, tables, inputs = [], [], {}  # masses (lots × streams), declared tables, the assayed lots' inputs
    for i, (result, assays, declared) in enumerate(lots):
        row = [math.nan] * len(at)
        for s in result.streams:
            j = at.get(s.stream)
            if j is not None:
                row[j] = s.mass_kg
        rows.append(row)
        tables.append(declared or _NONE_DECLARED)
        mine = [a for a in assays if a.batch_id == result.batch_id]
        if mine:
            masses = {s.stream: s.mass_kg for s in result.streams}
            inputs[i] = LotInputs(spec, masses, result.bags, mine, declared or {})
    M = np.array(rows, dtype=float).reshape(len(lots), len(at))
    grades, assayed = grade_arrays(spec, M, tables, inputs, elements)
    feed, bm = [s.name for s in spec.streams].index(spec.feed.name), [s.name for s in spec.streams].index("black_mass")
    systems = {i: lot_system(spec, inputs[i].masses, assayed[i], elements) for i in _flow_lots(grades.status, feed, bm)}
    joint = reconcile_many([(s.x, s.V, s.A, s.measured) for s in systems.values()])
    groups = [([i], Systems.of(s), Stack.of(res)) for (i, s), res in zip(systems.items(), joint, strict=True)]
    alone = [i for i in range(len(lots)) if i not in systems]
    groups += reconcile_masses(spec, mass_unknowns(spec, M), alone)
    reconciled = np.full((len(lots), len(elements), 2), math.nan)
    balances: list[Balance | None] = [None] * len(lots)
    for idx, stacked, st in groups:
        for i, (balance, recov) in zip(idx, balances_of(spec, M[idx], stacked, st), strict=True):
            for el, r in recov.items():
                reconciled[i, elements.index(el)] = r
            balances[i] = balance
    metals = account_metals_many(spec, M, grades, reconciled, elements)
    statuses = assay_statuses(black_mass_status(spec, grades))
    extra = also or [{}] * len(lots)
    done = zip(lots, metals, balances, statuses, extra, strict=True)
    return [_accounted(r, m, b, s, x) for (r, _, _), m, b, s, x in done]


def _flow_lots(status: np.ndarray, feed: int, bm: int) -> list[int]:
    """The lots with an element whose feed and black mass both have a grade (element flows to balance)."""
    return np.flatnonzero(((status[:, feed] > 0) & (status[:, bm] > 0)).any(axis=1)).tolist()


def _accounted(
    result: BatchResult,
    metals: tuple[ElementAccount, ...],
    balance: Balance | None,
    status: str,
    also: Mapping[str, Any],
) -> BatchResult:
    state = result.state
    if state in (BatchState.COMPLETE, BatchState.ASSAYED):
        state = BatchState.ASSAYED if status == "final" else BatchState.COMPLETE
    return _copy_with(result, {**also, "metals": metals, "balance": balance, "assay_status": status, "state": state})


_FIELDS = tuple(f.name for f in fields(BatchResult))
_AT = {name: i for i, name in enumerate(_FIELDS)}
_VALUES = attrgetter(*_FIELDS)
_RESULT = maker(BatchResult)  # BatchResult(*values), built in bulk (see frozen.py)


def _copy_with(result: BatchResult, changes: Mapping[str, Any]) -> BatchResult:
    """dataclasses.replace(result, **changes) without replace()'s look-up of the fields at each call
    nor the frozen __init__'s (a replay copies thousands of lots; BatchResult's fields are all positional)."""
    values = list(_VALUES(result))
    for name, value in changes.items():
        values[_AT[name]] = value
    return _RESULT(*values)
