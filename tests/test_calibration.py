"""Honest uncertainty: over a seeded noisy plant the reported 95 % intervals cover the truth.

The plant runs in-process (no OPC-UA: the collector is tested elsewhere) through the same engine,
lab files, inbox import and accounting the service uses.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from monitor.store.batches import BatchStore
from tests.plant_harness import run_plant

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[BatchStore, dict[str, dict]]:
    return run_plant(tmp_path_factory.mktemp("noisy"), seed=12, steps=6000, noise=True, delay_h=0)


def test_black_mass_yield_interval_covers_the_truth(noisy: tuple[BatchStore, dict[str, dict]]) -> None:
    store, truth = noisy
    hits, widths = [], []
    for r in store.latest():
        t = truth.get(r.batch_id)
        if t is None or r.balance is None:
            continue
        true_y = t["black_mass_kg"] / t["feed_kg"]
        half = 1.96 * r.balance.yield_sd
        hits.append(abs(r.balance.yield_reconciled - true_y) <= half)
        widths.append(half)
    assert len(hits) >= 30
    for r in store.latest():  # energy per batch from the line's kWh meter over the feed window
        assert 80.0 < r.energy_kwh / (r.feed_kg / 1000.0) < 200.0, (r.batch_id, r.energy_kwh)
    coverage, mean_half = sum(hits) / len(hits), sum(widths) / len(widths)
    assert coverage >= 0.80, coverage
    assert 0.0 < mean_half <= 0.02, mean_half


def test_recovery_intervals_cover_the_truth(noisy: tuple[BatchStore, dict[str, dict]]) -> None:
    store, truth = noisy
    hits = []
    for r in store.latest():
        t = truth.get(r.batch_id)
        if t is None:
            continue
        assert r.assay_status == "final"
        for el in ("ni", "co", "li"):
            m = r.metal(el)
            fed = t[f"feed_{el}_kg"]
            if m is None or fed <= 0:
                continue
            true_r = t[f"black_mass_{el}_kg"] / fed
            hits.append(abs(m.recovery_reconciled - true_r) <= 1.96 * m.recovery_sd)
            assert m.recovery_sd < 0.1
    assert len(hits) >= 60
    assert sum(hits) / len(hits) >= 0.80, sum(hits) / len(hits)


def test_late_assays_are_preliminary_then_final_and_keep_history(tmp_path: Path) -> None:
    store, truth = run_plant(tmp_path, seed=3, steps=900, noise=True, delay_h=8)
    done = [r for r in store.latest() if r.batch_id in truth]
    assert len(done) >= 3
    final = [r for r in done if r.assay_status == "final"]
    assert final, "8 plant hours after the first lots, their final assays are in"
    hist = store.history("L1", final[0].batch_id)
    statuses = [h[0].assay_status for h in hist]
    assert statuses == ["none", "preliminary", "final"], statuses
    assert [h[0].version for h in hist] == [1, 2, 3]
    assert [h[1].split(" from ")[0] for h in hist] == ["completed", "assays (preliminary)", "assays (final)"]
    li = [h[0].metal("li") for h in hist]  # every lot chemistry has lithium
    assert li[0] is not None and math.isnan(li[0].recovery)  # no assay yet: unknown, never 0
    assert li[1] is not None and li[2] is not None
    assert 0.5 < li[1].recovery < 1.0 and 0.5 < li[2].recovery < 1.0
    assert li[1].recovery_sd > li[2].recovery_sd  # preliminary assays are less certain
