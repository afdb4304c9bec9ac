"""The streaming core on hand-made sample streams with literal numbers."""

import math
from dataclasses import replace

import pytest

from monitor.core.engine import Engine
from monitor.core.results import BatchState
from monitor.core.samples import Quality, Sample
from monitor.core.spec import LineSpec, SourceKind, StreamSpec

DELAY = 1800.0


def spec(**kw: object) -> LineSpec:
    return LineSpec(
        line="L1",
        batch_id_tag="lot",
        chemistry_tag="chem",
        feed_form_tag="form",
        streams=(
            StreamSpec(name="feed", direction="in", tag="feed_tot", accuracy=0.005),
            StreamSpec(name="black_mass", source=SourceKind.WEIGHING, tag="bag_kg", bag_id_tag="bag_id", delay_s=DELAY),
            StreamSpec(name="ferrous", tag="fe_tot", delay_s=DELAY),
            StreamSpec(name="loss", source=SourceKind.UNMEASURED),
        ),
        **kw,  # type: ignore[arg-type]
    )


def plant(rate_kg_per_step: float = 100.0, steps: int = 60, dt: float = 60.0, lot_steps: int = 30) -> list[Sample]:
    """Two lots of lot_steps steps each, then idle; products lag the feed by DELAY.

    Black mass is 50 % of feed, bagged every 10 steps and at each lot's output end;
    ferrous is 10 % of feed.
    """
    out: list[Sample] = [Sample("lot", -60.0, ""), Sample("chem", 0.0, "NMC811"), Sample("form", 0.0, "cells")]
    feed = fe = 0.0
    lag = int(DELAY / dt)
    bag = 0.0
    bag_no = 0
    lots = ["A"] * lot_steps + ["B"] * lot_steps + [""] * (steps + lag)
    for k in range(len(lots) + 1):
        t = k * dt
        if k < len(lots) and (k == 0 or lots[k] != lots[k - 1]):
            out.append(Sample("lot", t, lots[k]))
        # feed during (t - dt, t] belongs to the lot fed then
        if k > 0 and lots[k - 1]:
            feed += rate_kg_per_step
        src = k - lag  # step whose feed leaves now
        if src > 0 and lots[src - 1]:
            bag += 0.5 * rate_kg_per_step
            fe += 0.1 * rate_kg_per_step
        out += [Sample("feed_tot", t, feed), Sample("fe_tot", t, fe)]
        lot_out_ends = src > 0 and lots[src - 1] and (src == len(lots) or lots[src] != lots[src - 1])
        if bag > 0 and (bag >= 500 or lot_out_ends):
            bag_no += 1
            out += [Sample("bag_id", t, f"BB-{bag_no}"), Sample("bag_kg", t, bag)]
            bag = 0.0
    return out


def test_products_lagging_the_feed_are_attributed_to_their_batch() -> None:
    eng = Engine(spec())
    eng.ingest(plant())
    done = eng.poll()
    assert [b.batch_id for b in done] == ["A", "B"]
    a = done[0]
    assert (a.start, a.end) == (0.0, 1800.0)
    assert a.feed_kg == pytest.approx(3000.0)
    assert a.mass("black_mass") == pytest.approx(1500.0)
    assert a.mass("ferrous") == pytest.approx(300.0)
    assert a.mass("loss") == pytest.approx(1200.0)
    assert a.black_mass_yield == pytest.approx(0.5)
    assert a.closure == pytest.approx(0.6)
    assert a.chemistry == "NMC811" and a.feed_form == "cells"
    assert a.state is BatchState.COMPLETE and a.flags == ()
    assert done[1].feed_kg == pytest.approx(3000.0) and done[1].mass("black_mass") == pytest.approx(1500.0)


def test_batch_not_final_until_its_outputs_have_passed() -> None:
    samples = [s for s in plant() if s.ts <= 1800 + DELAY]  # A's output window ends exactly here
    eng = Engine(spec())
    eng.ingest(samples)
    assert eng.poll() == []
    assert eng.flushing == ("A", "B")
    eng.ingest([Sample("feed_tot", 1800 + DELAY + 60, 6000.0)])
    assert [b.batch_id for b in eng.poll()] == ["A"]


def test_sample_order_does_not_change_the_result() -> None:
    samples = plant()
    eng = Engine(spec())
    eng.ingest(list(reversed(samples)))
    done = eng.poll()
    assert [b.batch_id for b in done] == ["A", "B"]
    assert done[0].feed_kg == pytest.approx(3000.0)


def test_bad_nan_and_negative_samples_never_enter_a_sum() -> None:
    good = plant()
    poison = [
        Sample("feed_tot", 630.0, 99_999.0, Quality.BAD, status=0x80000000),
        Sample("feed_tot", 690.0, math.nan),
        Sample("fe_tot", 1800 + DELAY / 2 + 30, -5.0),
        Sample("feed_tot", 750.0, math.inf),
        Sample("bag_kg", 2000.0, 5000.0, Quality.UNCERTAIN, status=0x40000000),
    ]
    eng = Engine(spec())
    eng.ingest(good + poison)
    a = eng.poll()[0]
    assert a.feed_kg == pytest.approx(3000.0)
    assert a.mass("ferrous") == pytest.approx(300.0)
    assert a.mass("black_mass") == pytest.approx(1500.0)
    assert a.rejected_samples == 5
    assert "rejected_samples" in a.flags
    reasons = {r for (_, r) in eng.stats.rejected}
    assert reasons == {"bad_quality", "not_finite", "negative", "uncertain_quality"}


def test_totalizer_reset_mid_batch_is_counted() -> None:
    shifted = []
    for s in plant():
        if s.tag == "feed_tot" and s.ts > 900 and isinstance(s.value, float):
            shifted.append(Sample(s.tag, s.ts, s.value - 1500.0))  # PLC reset to 0 at t=900
        else:
            shifted.append(s)
    eng = Engine(spec())
    eng.ingest(shifted)
    a, b = eng.poll()
    assert a.feed_kg == pytest.approx(3000.0)
    assert b.feed_kg == pytest.approx(3000.0)
    assert "feed:reset" in a.flags


def test_resent_bag_weighing_counts_once() -> None:
    samples = plant()
    bag = next(s for s in samples if s.tag == "bag_id")
    kg = next(s for s in samples if s.tag == "bag_kg")
    eng = Engine(spec())
    eng.ingest(samples)
    eng.ingest([Sample("bag_id", kg.ts + 120, bag.value), Sample("bag_kg", kg.ts + 120, kg.value)])
    a = eng.poll()[0]
    assert a.mass("black_mass") == pytest.approx(1500.0)
    assert "black_mass:duplicate_bags" in a.flags


def test_abandoned_batch_closes_with_a_flag() -> None:
    eng = Engine(spec(abandon_after_s=3600.0))
    samples = [Sample("lot", 0.0, ""), Sample("lot", 60.0, "X")]
    for k in range(1, 200):
        t = 60.0 * k
        feed = min(k - 1, 10) * 100.0  # feeds for 10 steps, then the belt stops for good
        samples += [Sample("feed_tot", t, feed), Sample("fe_tot", t, 0.0)]
    eng.ingest(samples)
    done = eng.poll()
    assert [b.batch_id for b in done] == ["X"]
    x = done[0]
    assert "abandoned" in x.flags
    assert x.end == pytest.approx(660.0)
    assert x.feed_kg == pytest.approx(1000.0)
    assert eng.live() is None


def test_batch_joined_in_progress_is_partial() -> None:
    eng = Engine(spec())
    # monitor started 10 min into lot A: the subscription delivers the id's current value first
    eng.ingest([Sample("lot", 0.0, "A")] + [s for s in plant() if s.ts >= 600])
    done = eng.poll()
    assert done[0].state is BatchState.PARTIAL
    assert "start_not_observed" in done[0].flags
    assert done[1].state is BatchState.COMPLETE


def test_memory_is_trimmed_behind_finalised_batches() -> None:
    eng = Engine(spec())
    eng.ingest(plant(steps=600))
    eng.poll()
    assert len(eng.state.numeric["feed_tot"]) < 50


def test_energy_per_batch_from_the_kwh_meter() -> None:

    eng = Engine(replace(spec(), energy_tag="kwh"))
    # 2.5 kWh per 60-s step while anything runs: 30 steps of lot A -> 75 kWh
    meter = [Sample("kwh", 60.0 * k, 2.5 * k) for k in range(0, 200)]
    eng.ingest(plant() + meter)
    a, b = eng.poll()
    assert a.energy_kwh == pytest.approx(75.0)
    assert b.energy_kwh == pytest.approx(75.0)
    plain = Engine(spec())
    plain.ingest(plant())
    assert math.isnan(plain.poll()[0].energy_kwh)  # no meter configured: unknown, not 0


def test_nitrogen_per_batch_is_the_flow_integrated_over_the_feed_window() -> None:
    eng = Engine(replace(spec(), nitrogen_tag="n2"))
    # 120 Nm3/h while lot A feeds, 40 Nm3/h from t = 1800 s (lot B). Trapezoids: A = 29 min at 120
    # (58 Nm3) + the last minute from 120 to 40 (1.3333 Nm3) = 59.3333; B = 30 min at 40 = 20 Nm3
    flow = [Sample("n2", 60.0 * k, 120.0 if k < 30 else 40.0) for k in range(0, 200)]
    eng.ingest(plant() + flow)
    a, b = eng.poll()
    assert a.nitrogen_nm3 == pytest.approx(59.333333, rel=1e-6)
    assert b.nitrogen_nm3 == pytest.approx(20.0)
    plain = Engine(spec())
    plain.ingest(plant())
    assert math.isnan(plain.poll()[0].nitrogen_nm3)  # no N2 tag configured: unknown, not 0


def test_nitrogen_value_holds_until_the_next_notification() -> None:
    eng = Engine(replace(spec(), nitrogen_tag="n2"))
    # report by exception: one value before the first lot starts, nothing after
    eng.ingest([Sample("n2", -60.0, 90.0), *plant()])
    a, _ = eng.poll()
    assert a.nitrogen_nm3 == pytest.approx(45.0)  # 90 Nm3/h over 0.5 h
