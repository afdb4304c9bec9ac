"""A completed batch plus its assays → its metal accounting and reconciliation (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from monitor.core.assays import RECOVERY_ELEMENTS, Assay
from monitor.core.metals import LotInputs, account_metals, reconcile_batch
from monitor.core.results import BatchResult, BatchState
from monitor.core.spec import LineSpec


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
    status = assay_status([m.status for m in metals])
    state = result.state
    if state in (BatchState.COMPLETE, BatchState.ASSAYED):
        state = BatchState.ASSAYED if status == "final" else BatchState.COMPLETE
    return replace(result, metals=metals, balance=balance, assay_status=status, state=state)
