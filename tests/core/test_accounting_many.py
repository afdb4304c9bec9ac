"""Replay's batched accounting equals the per-lot accounting, to the last bit, on random lots.

with_accounting_many accounts lots as arrays (grades lots × streams × elements, the mass systems of
a layout as one stack); the live path is the same function with one lot. Both must give the numbers
of the scalar per-lot accounting they replaced, kept as the reference in oracle_accounting.py (the
stored rows are pinned too: tests/test_replay_golden.py). Floats are compared by repr, so a NaN
equals a NaN and a last-bit difference fails.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import load_config
from monitor.core.assays import RECOVERY_ELEMENTS, Assay
from monitor.core.batch_accounting import with_accounting, with_accounting_many
from monitor.core.carbon import GhgFactors
from monitor.core.reconcile import reconcile, reconcile_many
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.core.rules import BALANCE_P_FAIL
from monitor.core.spec import LineSpec, SourceKind
from monitor.passport.stamp import stamp_lot, stamp_of
from tests.core import oracle_accounting as oracle

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config/plant.toml")
SPEC = CONFIG.line
# a line whose condensate is not weighed: an unknown of the balance, estimated from it
SPEC_UNMEASURED = replace(
    SPEC, streams=tuple(replace(s, source=SourceKind.UNMEASURED) if s.name == "condensate" else s for s in SPEC.streams)
)
GHG = GhgFactors(grid_kg_co2e_per_kwh=0.38, grid_source="test", grid_year=2024, nitrogen_kg_co2e_per_nm3=0.2)
STREAMS = [s.name for s in SPEC.streams]
ASSAYED = ["feed", *(s.name for s in SPEC.products if s.name != "loss")]

mass = st.floats(1.0, 20_000.0) | st.sampled_from([0.0, math.nan])  # a stream may weigh nothing, or be unknown
assay = st.tuples(
    st.sampled_from(ASSAYED),
    st.sampled_from(RECOVERY_ELEMENTS),
    st.floats(0.01, 60.0),
    st.sampled_from(["final", "preliminary"]),
    st.sampled_from(["", "B1", "B2"]),
    st.none() | st.floats(0.0, 20.0),
)
lot = st.tuples(
    st.dictionaries(st.sampled_from(STREAMS), mass, min_size=2),  # streams with a mass (others absent)
    st.lists(assay, max_size=12),
    st.none() | st.dictionaries(st.sampled_from(RECOVERY_ELEMENTS), st.floats(0.0, 0.5)),
    st.sampled_from([BatchState.COMPLETE, BatchState.PARTIAL, BatchState.ASSAYED]),
    st.booleans(),  # shares the previous lot's declared table (one object per chemistry, as the seeds give)
)


def _lot(i: int, masses: dict[str, float], state: BatchState) -> BatchResult:
    bags = (("B1", masses.get("black_mass", 0.0) / 2), ("B2", masses.get("black_mass", 0.0) / 2))
    streams = tuple(
        StreamMass(s, m, "totalizer", 0.0, 60.0, items=bags if s == "black_mass" else ()) for s, m in masses.items()
    )
    return BatchResult("L1", f"L1-{i:05d}", 0.0, 60.0, state, streams=streams)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lot, min_size=1, max_size=10), st.sampled_from([SPEC, SPEC_UNMEASURED]))
def test_batched_accounting_equals_per_lot(lots: list, spec: LineSpec) -> None:
    items = []
    for i, (masses, assays, declared, state, share) in enumerate(lots):
        result = _lot(i, masses, state)
        mine = [Assay(result.batch_id, s, el, v, st_, bag_id=bag, moisture_pct=m) for s, el, v, st_, bag, m in assays]
        items.append((result, mine, items[-1][2] if share and items else declared))
    batched = with_accounting_many(spec, items)
    single = [with_accounting(r, spec, a, d) for r, a, d in items]
    reference = [oracle.with_accounting(r, spec, a, d) for r, a, d in items]
    assert [repr(b) for b in batched] == [repr(s) for s in single] == [repr(r) for r in reference]
    stamped = with_accounting_many(spec, items, also=[stamp_of(r, GHG, None) for r, _, _ in items])
    assert [repr(b) for b in stamped] == [repr(stamp_lot(r, GHG, None)) for r in reference]


def test_lots_of_many_layouts_keep_their_order_and_numbers() -> None:
    """Three layouts interleaved (mass only; Ni assayed; Ni and Co assayed), 30 lots, bit for bit."""
    rng = np.random.default_rng(7)
    items = []
    for i in range(30):
        masses = {s: float(rng.uniform(50.0, 5_000.0)) for s in STREAMS if s != "loss"}
        elements = RECOVERY_ELEMENTS[: i % 3]
        assays = [
            Assay(f"L1-{i:05d}", s, el, float(rng.uniform(0.5, 40.0)), "final") for el in elements for s in ASSAYED
        ]
        items.append((_lot(i, masses, BatchState.COMPLETE), assays, {"ni": 0.2, "co": 0.03}))
    batched = with_accounting_many(SPEC, items)
    single = [oracle.with_accounting(r, SPEC, a, d) for r, a, d in items]
    assert [b.batch_id for b in batched] == [f"L1-{i:05d}" for i in range(30)]
    assert [len(b.balance.elements_used) for b in batched if b.balance] == [i % 3 for i in range(30)]
    assert [repr(b) for b in batched] == [repr(s) for s in single]


def test_reconcile_many_equals_reconcile_with_unknowns() -> None:
    """Two balances, one unknown: the unknown's estimate and covariance come out as reconcile()'s."""
    A = np.array([[1.0, -1.0, -1.0, -1.0], [0.0, 1.0, -1.0, 0.0]])
    measured = np.array([True, True, True, False])
    rng = np.random.default_rng(3)
    lots = []
    for _ in range(20):
        x = np.array([rng.uniform(2_000.0, 3_000.0), *rng.uniform(500.0, 600.0, 2), 0.0])
        lots.append((x, np.diag(np.append((0.01 * x[:3]) ** 2, 0.0)), A, measured))
    for one, many in zip([reconcile(*lot) for lot in lots], reconcile_many(lots), strict=True):
        assert one.x.tobytes() == many.x.tobytes() and one.cov.tobytes() == many.cov.tobytes()
        assert one.z.tobytes() == many.z.tobytes() and one.sd.tobytes() == many.sd.tobytes()
        assert (one.gamma, one.dof, repr(one.p_value)) == (many.gamma, many.dof, repr(many.p_value))
        assert one.dof == 1 and many.x[3] > 0


def test_a_failed_balance_is_searched_alike_batched_and_per_lot() -> None:
    """Balanced lots beside lots whose copper scale reads double: the balance fails, so the gross-error
    search runs on the batched reconciliation's results, with the per-lot path's outcome and numbers
    (one mass balance cannot tell the scales apart: no instrument is named)."""
    loss = SPEC.stream("loss").estimate_ratio
    products = [s.name for s in SPEC.products if s.name != "loss"]
    items = []
    for i in range(12):
        feed = 4_000.0 + 100.0 * i
        share = (1.0 - loss) / len(products)
        masses = {"feed": feed, **{p: feed * share for p in products}}
        if i % 2:
            masses["copper"] *= 2.0
        items.append((_lot(i, masses, BatchState.COMPLETE), [], {"ni": 0.2}))
    batched = with_accounting_many(SPEC, items)
    single = [oracle.with_accounting(r, SPEC, a, d) for r, a, d in items]
    assert [repr(b) for b in batched] == [repr(s) for s in single]
    p_values = [b.balance.p_value if b.balance else None for b in batched]
    assert all(p is not None and p > 0.99 for p in p_values[0::2])
    assert all(p is not None and p < BALANCE_P_FAIL for p in p_values[1::2])
    assert [b.balance.suspect for b in batched if b.balance] == [""] * 12


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 5_000.0), st.floats(0.0, 5_000.0), st.floats(-50.0, 50.0)), min_size=1))
def test_one_balance_gamma_equals_reconcile(lots: list) -> None:
    """One balance (a lot's masses alone): the stack takes gamma as r·s·r elementwise, which must be
    reconcile()'s r @ S⁻¹ @ r to the last bit, a balance that closes exactly (r = 0) included."""
    A = np.array([[1.0, -1.0, -1.0]])
    measured = np.ones(3, dtype=bool)
    systems = []
    for a, b, off in lots:
        x = np.array([a + b + (off if off > 0 else 0.0), a, b])
        systems.append((x, np.diag(np.maximum(0.01 * x, 1e-6) ** 2), A, measured))
    for one, many in zip([reconcile(*s) for s in systems], reconcile_many(systems), strict=True):
        assert (repr(one.gamma), repr(one.p_value)) == (repr(many.gamma), repr(many.p_value))
        assert one.x.tobytes() == many.x.tobytes() and one.cov.tobytes() == many.cov.tobytes()
