"""/metrics content from a snapshot: names, units (grams, ratios), labels and promtool's lint."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.collectors.limits import ServerLimits
from monitor.collectors.opcua import CollectorHealth, ConnState
from monitor.core.metals import Balance, ElementAccount
from monitor.core.results import BatchResult, BatchState, LiveBatch, StreamMass
from monitor.serve.exposition import SnapshotCollector
from monitor.serve.snapshot import MetricsSnapshot, ProcessValue

LAST = BatchResult(
    line="L1",
    batch_id="L1-00007",
    start=1000.0,
    end=4600.0,
    state=BatchState.COMPLETE,
    chemistry="NCMA",
    feed_form="cells",
    streams=(
        StreamMass("feed", 4000.0, "totalizer", 1000, 4600),
        StreamMass("black_mass", 2348.0, "weighing", 0, 0),
        StreamMass("loss", 70.0, "balance", 0, 0),
    ),
    yields={"black_mass": 0.587, "loss": 0.0175},
    closure=0.9825,
)
SNAP = MetricsSnapshot(
    line="L1",
    wall_now=100.0,
    last_batch=LAST,
    completed_total=7,
    stream_grams_total={"feed": 28_000_000.0, "black_mass": 16_000_000.0},
    live=LiveBatch(
        batch_id="L1-00008",
        start=5200.0,
        chemistry="LFP",
        feed_form="packs",
        masses_kg={"feed": 1000.0, "black_mass": 250.0},
        start_observed=True,
    ),
    plant_time=9000.0,
    process=(ProcessValue(metric="shredder_oxygen_ratio", help="O2", value=0.021),),
    collectors=(CollectorHealth("opcua", ConnState.CONNECTED, 2, {"good": 50, "bad": 1}, 97.5, 0, 24),),
    rejected={("opcua", "bad_quality"): 1},
)


def scrape(snap: MetricsSnapshot = SNAP) -> str:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    return generate_latest(reg).decode()


def values() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(scrape()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_units_and_values() -> None:
    v = values()
    assert v[("blackmass_batch_mass_grams", (("line", "L1"), ("stream", "black_mass")))] == 2_348_000.0
    assert v[("blackmass_batch_yield_ratio", (("line", "L1"), ("stream", "black_mass")))] == 0.587
    assert v[("blackmass_stream_mass_grams_total", (("line", "L1"), ("stream", "feed")))] == 28_000_000.0
    assert v[("blackmass_batches_completed_total", (("line", "L1"),))] == 7
    assert v[("blackmass_batch_in_progress_yield_ratio", (("line", "L1"),))] == 0.25
    assert v[("blackmass_collector_last_sample_age_seconds", (("line", "L1"), ("source", "opcua")))] == 2.5
    assert v[("blackmass_collector_reconnects_total", (("line", "L1"), ("source", "opcua")))] == 2
    assert v[("blackmass_shredder_oxygen_ratio", (("line", "L1"),))] == 0.021


def test_server_clock_frozen_limits_and_missed_notifications() -> None:
    health = CollectorHealth(
        "opcua",
        ConnState.CONNECTED,
        0,
        {},
        None,
        0,
        9,
        server_clock_frozen=True,
        subscriptions=3,
        notifications_republished=2,
        notifications_lost=1,
        limits=ServerLimits(monitored_items_per_call=4, monitored_items_per_subscription=4),
        tag_clocks_redecided={"Feed.Totalizer": 2},
    )
    text = scrape(replace(SNAP, collectors=(health,)))
    v = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    src = (("line", "L1"), ("source", "opcua"))
    assert v[("blackmass_collector_server_clock_frozen", src)] == 1.0
    assert v[("blackmass_collector_subscriptions", src)] == 3.0
    missed = {
        dict(k[1])["outcome"]: val for k, val in v.items() if k[0] == "blackmass_collector_notifications_missed_total"
    }
    assert missed == {"read_back": 1.0, "republished": 2.0}
    moved = (("line", "L1"), ("source", "opcua"), ("tag", "Feed.Totalizer"))
    assert v[("blackmass_collector_tag_clock_redecided_total", moved)] == 2.0  # a PLC clock set by hand, twice
    limits = {dict(k[1])["limit"]: val for k, val in v.items() if k[0] == "blackmass_collector_server_limit"}
    assert limits == {"monitored_items_per_call": 4.0, "monitored_items_per_subscription": 4.0}
    assert health.problems == ["opcua: server clock frozen"]


def test_batch_id_only_on_the_two_info_series() -> None:
    """The lot being fed and the last completed one (which alerts name): one series each per line."""
    with_id = [name for (name, labels) in values() if any(k == "batch_id" for k, _ in labels)]
    assert sorted(with_id) == ["blackmass_batch_info", "blackmass_batch_last_info"]


def test_no_sample_timestamps() -> None:
    for line in scrape().splitlines():
        if line and not line.startswith("#"):
            assert len(line.rsplit("}", 1)[-1].split()) == 1, line


def test_promtool_lint_is_clean(promtool: str) -> None:
    r = subprocess.run([promtool, "check", "metrics"], check=False, input=scrape(), capture_output=True, text=True)
    assert (r.returncode, r.stdout.strip(), r.stderr.strip()) == (0, "", "")


@pytest.mark.parametrize("field", ["last_batch", "live"])
def test_empty_snapshot_parts(field: str) -> None:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: replace(SNAP, **{field: None})))
    assert b"blackmass_batches_completed_total" in generate_latest(reg)


def test_metal_metrics() -> None:

    ni = ElementAccount(
        element="ni",
        feed_grade=0.2,
        feed_grade_source="declared",
        feed_kg=800.0,
        black_mass_grade=0.3,
        black_mass_kg=704.0,
        recovery=0.88,
        status="final",
    )
    li = ElementAccount(
        element="li",
        feed_grade=0.03,
        feed_grade_source="declared",
        feed_kg=120.0,
        black_mass_grade=float("nan"),
        black_mass_kg=float("nan"),
        recovery=float("nan"),
        status="none",
    )
    last = replace(
        LAST,
        metals=(ni, li),
        assay_status="final",
        balance=Balance(gamma=1.2, dof=1, p_value=0.27, yield_reconciled=0.5861, yield_sd=0.0029),
    )
    snap = replace(
        SNAP,
        last_batch=last,
        last_assayed=last,
        metal_grams_total={("ni", "feed"): 8e5},
        yield_baseline={("NCMA", "cells"): 0.585, ("LFP", "packs"): 0.31},
    )
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    text = generate_latest(reg).decode()
    assert 'blackmass_batch_recovery_ratio{line="L1",metal="ni"} 0.88' in text
    assert 'metal="li"' not in text.split("blackmass_batch_recovery_ratio")[-1].split("# HELP")[0]  # unknown
    assert 'blackmass_metal_mass_grams_total{line="L1",metal="ni",stream="feed"} 800000.0' in text
    assert 'blackmass_yield_baseline_ratio{chemistry="NCMA",feed_form="cells",line="L1"} 0.585' in text
    assert 'blackmass_batch_balance_p_value{line="L1"} 0.27' in text
    assert 'blackmass_batch_unaccounted_loss_grams{line="L1"} 1.652e+06' in text
    # the lot is named so that alerts can name it (one series per line at a time)
    assert 'blackmass_batch_last_info{batch_id="L1-00007",chemistry="NCMA",feed_form="cells",line="L1"} 1.0' in text


def test_batch_co2e_in_grams_and_promtool_clean(promtool: str) -> None:
    from monitor.core.carbon import GhgFactors, lot_carbon  # noqa: PLC0415

    f = GhgFactors(
        grid_kg_co2e_per_kwh=0.35, grid_source="x", grid_year=2025, nitrogen_kg_co2e_per_nm3=0.09, nitrogen_source="y"
    )
    carbon = lot_carbon(f, energy_kwh=412.5, nitrogen_nm3=250.0, feed_kg=4000.0, black_mass_kg=2348.0)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: replace(SNAP, last_batch=replace(LAST, carbon=carbon))))
    text = generate_latest(reg).decode()
    got = {s.name: s.value for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert got["blackmass_batch_co2e_grams"] == pytest.approx(166_875.0)  # 144.375 + 22.5 kg
    r = subprocess.run([promtool, "check", "metrics"], check=False, input=text, capture_output=True, text=True)
    assert (r.returncode, r.stdout.strip(), r.stderr.strip()) == (0, "", "")
    assert "blackmass_batch_co2e_grams{" not in scrape()  # a lot without carbon: no sample, not 0
