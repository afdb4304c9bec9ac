"""/metrics by subject: metal masses, yield baselines and floors, the last completed and last assayed batch."""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.core.accounting import unaccounted_loss
from monitor.core.rules import BALANCE_P_FAIL
from monitor.serve.snapshot import G_PER_KG, MetricsSnapshot, gauge


def metal_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    """Running metal masses, yield baselines and floors; then the last completed and last assayed batch."""
    grams = CounterMetricFamily(
        "blackmass_metal_mass",
        "Element mass of batches with final assays, grams",
        labels=["line", "metal", "stream"],
        unit="grams",
    )
    for (metal, stream), g in sorted(s.metal_grams_total.items()):
        grams.add_metric([line, metal, stream], g)
    yield grams
    base = GaugeMetricFamily(
        "blackmass_yield_baseline",
        "Median black-mass yield of the batches before the latest one of a chemistry and feed form",
        labels=["line", "chemistry", "feed_form"],
        unit="ratio",
    )
    for (chem, form), v in sorted(s.yield_baseline.items()):
        base.add_metric([line, chem, form], v)
    yield base
    floor = GaugeMetricFamily(
        "blackmass_yield_floor",
        "Lowest acceptable black-mass yield of a feed form (configured)",
        labels=["line", "feed_form"],
        unit="ratio",
    )
    for form, v in sorted(s.yield_floors.items()):
        floor.add_metric([line, form], v)
    yield floor
    yield from _last_batch(s, line)
    yield from _last_assayed(s, line)


def _last_batch(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    b = s.last_batch
    if b is not None:
        info = GaugeMetricFamily(
            "blackmass_batch_last_info",
            "Id, chemistry and feed form of the last completed batch (alerts name the lot from it)",
            labels=["line", "batch_id", "chemistry", "feed_form"],
        )
        info.add_metric([line, b.batch_id, b.chemistry, b.feed_form], 1)
        yield info
        measured = {x.stream: x.mass_kg for x in b.streams if x.source != "balance" and x.stream != "feed"}
        yield gauge(
            "blackmass_batch_unaccounted_loss_grams",
            "Feed minus every measured product of the last completed batch",
            line,
            unaccounted_loss(measured, b.feed_kg) * G_PER_KG,
        )
        if b.balance is not None:
            yield gauge(
                "blackmass_batch_balance_p_value",
                "p-value of the last completed batch's balance test "
                f"(chi-squared); below {BALANCE_P_FAIL:g} the data are inconsistent",
                line,
                b.balance.p_value,
            )
            yield gauge(
                "blackmass_batch_yield_reconciled_ratio",
                "Reconciled black-mass yield of the last completed batch",
                line,
                b.balance.yield_reconciled,
            )
            yield gauge(
                "blackmass_batch_yield_sd_ratio",
                "Standard deviation of the reconciled black-mass yield",
                line,
                b.balance.yield_sd,
            )


def _last_assayed(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    a = s.last_assayed
    if a is not None:
        rec = GaugeMetricFamily(
            "blackmass_batch_recovery",
            "Recovery into black mass of the last assayed batch",
            labels=["line", "metal"],
            unit="ratio",
        )
        for m in a.metals:
            if math.isfinite(m.recovery):
                rec.add_metric([line, m.element], m.recovery)
        yield rec
        yield gauge(
            "blackmass_batch_assays_final",
            "1 when the last assayed batch's assays are final, 0 when preliminary",
            line,
            1.0 if a.assay_status == "final" else 0.0,
        )
