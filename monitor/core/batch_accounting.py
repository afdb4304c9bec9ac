"""A completed batch plus its assays → its metal accounting and reconciliation (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from monitor.core.assays import RECOVERY_ELEMENTS, Assay
from monitor.core.metals import (
    Balance,
    ElementAccount,
    LotInputs,
    account_metals,
    balance_of,
    lot_system,
    reconcile_batch,
)
from monitor.core.reconcile import reconcile_many
from monitor.core.results import BatchResult, BatchState
from monitor.core.spec import LineSpec

Lot = tuple[BatchResult, Sequence[Assay], Mapping[str, float] | None]  # a result, its assays, declared grades


def assay_status(metals_statuses: Sequence[str]) -> str:
    used = [s for s in metals_statuses if s != "none"]
    if not used:
        return "none"
    return "preliminary" if "preliminary" in used else "final"


def with_accounting(
    result: BatchResult, spec: LineSpec, assays: Sequence[Assay], declared: Mapping[str, float] | None
) -> BatchResult:
    """The batch with metals, balance and assay status recomputed from scratch (same masses)."""
    masses = {s.stream: s.mass_kg for s in result.streams}
    bags = result.bags
    mine = [a for a in assays if a.batch_id == result.batch_id]
    declared = declared or {}
    grades = LotInputs(spec, masses, bags, mine, declared).all_grades(RECOVERY_ELEMENTS)
    balance, recov = reconcile_batch(spec, masses, bags, mine, declared, grades=grades)
    metals = account_metals(spec, masses, bags, mine, declared, grades=grades, reconciled=recov)
    return _accounted(result, metals, balance)


def with_accounting_many(spec: LineSpec, lots: Sequence[Lot]) -> list[BatchResult]:
    """with_accounting() of each lot, the same numbers, with the reconciliations solved together
    (reconcile_many: one stack per balance layout; a replay accounts 500 lots at a time)."""
    inputs = []
    for result, assays, declared in lots:
        masses = {s.stream: s.mass_kg for s in result.streams}
        mine = [a for a in assays if a.batch_id == result.batch_id]
        lot = LotInputs(spec, masses, result.bags, mine, declared or {})
        inputs.append((lot, lot.all_grades(RECOVERY_ELEMENTS)))
    systems = [lot_system(spec, lot.masses, grades, RECOVERY_ELEMENTS) for lot, grades in inputs]
    solved = reconcile_many([(s.x, s.V, s.A, s.measured) for s in systems])
    out = []
    for (result, _, _), (lot, grades), system, res in zip(lots, inputs, systems, solved, strict=True):
        balance, recov = balance_of(spec, lot.masses, system, res)
        metals = account_metals(spec, lot.masses, lot.bags, lot.assays, lot.declared, grades=grades, reconciled=recov)
        out.append(_accounted(result, metals, balance))
    return out


def _accounted(result: BatchResult, metals: tuple[ElementAccount, ...], balance: Balance) -> BatchResult:
    status = assay_status([m.status for m in metals])
    state = result.state
    if state in (BatchState.COMPLETE, BatchState.ASSAYED):
        state = BatchState.ASSAYED if status == "final" else BatchState.COMPLETE
    return replace(result, metals=metals, balance=balance, assay_status=status, state=state)
