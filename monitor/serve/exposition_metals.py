"""/metrics by subject: metal masses, yield baselines and floors, the last completed and last assayed batch."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily as Counter
from prometheus_client.core import GaugeMetricFamily as Gauge
from prometheus_client.core import Metric

from monitor.core.accounting import unaccounted_loss
from monitor.core.rules import BALANCE_P_FAIL
from monitor.serve.snapshot import G_PER_KG, MetricsSnapshot, family, gauge, lot_info


def metal_families(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    """Running metal masses, yield baselines and floors; then the last completed and last assayed batch."""
    doc = "Element mass of batches with final assays, grams"
    grams = [((metal, stream), g) for (metal, stream), g in sorted(s.metal_grams_total.items())]
    yield family(Counter, "blackmass_metal_mass", doc, line, grams, ["metal", "stream"], unit="grams")
    doc = "Median black-mass yield of the batches before the latest one of a chemistry and feed form"
    base = [((chem, form), v) for (chem, form), v in sorted(s.yield_baseline.items())]
    yield family(Gauge, "blackmass_yield_baseline", doc, line, base, ["chemistry", "feed_form"], unit="ratio")
    doc = "Lowest acceptable black-mass yield of a feed form (configured)"
    floors = [((form,), v) for form, v in sorted(s.yield_floors.items())]
    yield family(Gauge, "blackmass_yield_floor", doc, line, floors, ["feed_form"], unit="ratio")
    yield from _last_batch(s, line)
    yield from _last_assayed(s, line)


def _last_batch(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    b = s.last_batch
    if b is None:
        return
    doc = "Id, chemistry and feed form of the last completed batch (alerts name the lot from it)"
    yield lot_info("blackmass_batch_last_info", doc, line, b)
    measured = {x.stream: x.mass_kg for x in b.streams if x.source != "balance" and x.stream != "feed"}
    doc = "Feed minus every measured product of the last completed batch"
    yield gauge("blackmass_batch_unaccounted_loss_grams", doc, line, unaccounted_loss(measured, b.feed_kg) * G_PER_KG)
    if b.balance is None:
        return
    doc = "p-value of the last completed batch's balance test "
    doc += f"(chi-squared); below {BALANCE_P_FAIL:g} the data are inconsistent"
    yield gauge("blackmass_batch_balance_p_value", doc, line, b.balance.p_value)
    doc = "Reconciled black-mass yield of the last completed batch"
    yield gauge("blackmass_batch_yield_reconciled_ratio", doc, line, b.balance.yield_reconciled)
    doc = "Standard deviation of the reconciled black-mass yield"
    yield gauge("blackmass_batch_yield_sd_ratio", doc, line, b.balance.yield_sd)


def _last_assayed(s: MetricsSnapshot, line: str) -> Iterator[Metric]:
    a = s.last_assayed
    if a is None:
        return
    doc = "Recovery into black mass of the last assayed batch"
    rows = [((m.element,), m.recovery) for m in a.metals]
    yield family(Gauge, "blackmass_batch_recovery", doc, line, rows, ["metal"], unit="ratio")
    doc = "1 when the last assayed batch's assays are final, 0 when preliminary"
    yield gauge("blackmass_batch_assays_final", doc, line, 1.0 if a.assay_status == "final" else 0.0)
