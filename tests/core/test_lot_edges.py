"""The lot-edge rule and conservation (docs/timestamps.md): literal cases, then a property over random histories."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.engine import Engine
from monitor.core.ledger import NO_LOT
from monitor.core.results import BatchResult, BatchState
from monitor.core.samples import SERVER_CLOCK, Sample
from monitor.core.spec import LineSpec, StreamSpec
from monitor.core.totalizer import counter_mass
from monitor.store.codec import result_from_json, result_to_json
from monitor.store.rows import batch_row, stream_rows

DELAY = 30.0


def line(**feed: object) -> LineSpec:
    return LineSpec(
        line="L1",
        batch_id_tag="lot",
        streams=(
            StreamSpec(name="feed", direction="in", tag="feed", **feed),  # type: ignore[arg-type]
            StreamSpec(name="black_mass", tag="bm", delay_s=DELAY),
        ),
        abandon_after_s=36_000.0,
    )


def run(eng: Engine, samples: list[Sample], until: float) -> list[BatchResult]:
    eng.ingest(sorted(samples, key=lambda s: s.ts))
    out = eng.poll()
    eng.ingest([Sample(SERVER_CLOCK, until, None)])
    return out + eng.poll()


def test_first_step_in_the_same_scan_as_the_lot_id_belongs_to_the_lot() -> None:
    # idle since t=100; the operator starts lot B at t=1000 and the belt's first 5-kg step is
    # written in the same scan; the counter then counts 5 kg a second until t=1059
    samples = [Sample("lot", 0.0, "A"), Sample("feed", 0.0, 0.0), Sample("bm", 0.0, 0.0)]
    samples += [Sample("feed", float(t), 5.0 * (t - 0)) for t in range(1, 101)]  # lot A: 500 kg
    samples += [Sample("lot", 100.0, ""), Sample("lot", 1000.0, "B")]
    samples += [Sample("feed", float(t), 500.0 + 5.0 * (t - 999)) for t in range(1000, 1060)]  # 300 kg
    samples += [Sample("lot", 1060.0, "")]
    a, b = run(Engine(line()), samples, 5000.0)
    assert (b.batch_id, b.feed_kg, b.state) == ("B", 300.0, BatchState.COMPLETE)
    assert a.feed_kg == 500.0


def test_a_scaled_uint16_counter_loses_no_count_at_a_same_scan_start() -> None:
    eng = Engine(line(scale=10.0))
    eng.learn_counter("feed", wrap=65_536)
    samples = [Sample("lot", 0.0, 0.0), Sample("feed", 0.0, 65_530.0), Sample("bm", 0.0, 0.0)]
    samples += [Sample("lot", 600.0, 101.0)]  # an Int32 lot id, first count in the same scan
    samples += [Sample("feed", 600.0 + k, float((65_531 + k) % 65_536)) for k in range(30)]  # 30 counts
    samples += [Sample("lot", 660.0, 0.0)]
    (lot,) = run(eng, samples, 5000.0)
    assert (lot.batch_id, lot.feed_kg, lot.state) == ("101", 300.0, BatchState.COMPLETE)
    assert "feed:rollover" in lot.flags


def test_a_clean_lot_from_an_exact_server_carries_no_flag() -> None:
    samples = [Sample("lot", 0.0, ""), Sample("feed", 0.0, 0.0), Sample("bm", 0.0, 0.0), Sample("lot", 10.0, "A")]
    samples += [Sample("feed", float(t), 2.0 * (t - 10)) for t in range(11, 111)]  # 200 kg, then the belt stops
    samples += [Sample("bm", float(t) + DELAY, 1.0 * (t - 10)) for t in range(11, 111)]
    samples += [Sample("lot", 120.0, "")]
    (a,) = run(Engine(line()), samples, 400.0)
    assert (a.feed_kg, a.mass("black_mass"), a.flags) == (200.0, 100.0, ())


def test_the_last_lot_closes_on_our_clock_when_the_servers_stands_still_and_says_so() -> None:
    samples = [Sample("lot", 0.0, ""), Sample("feed", 0.0, 0.0), Sample("bm", 0.0, 0.0), Sample("lot", 10.0, "A")]
    samples += [Sample("feed", float(t), 2.0 * (t - 10)) for t in range(11, 111)]
    samples += [Sample("bm", float(t) + DELAY, 1.0 * (t - 10)) for t in range(11, 111)]
    samples += [Sample("lot", 120.0, ""), Sample(SERVER_CLOCK, 100.0, None)]  # the server's clock stops at 100
    eng = Engine(line())
    eng.ingest(samples)
    assert eng.poll() == []  # the black-mass window ends at 150: nothing vouches for it
    eng.ingest([Sample(SERVER_CLOCK, 160.0, None, retimed=True)])  # the collector: our clock, marked
    (a,) = eng.poll()
    assert (a.feed_kg, a.mass("black_mass"), a.flags) == (200.0, 100.0, ("closed_on_our_clock",))


def test_mass_a_counter_rose_between_lots_is_unattributed_counted_and_shown_on_the_next_lot() -> None:
    # the belt keeps running 20 s after lot A's id is cleared: 40 kg in no lot
    samples = [Sample("lot", 0.0, ""), Sample("feed", 0.0, 0.0), Sample("bm", 0.0, 0.0), Sample("lot", 10.0, "A")]
    samples += [Sample("feed", float(t), 2.0 * (t - 10)) for t in range(11, 131)]  # 240 kg by t=130
    samples += [Sample("lot", 110.0, ""), Sample("lot", 200.0, "B")]
    samples += [Sample("feed", float(t), 240.0 + 2.0 * (t - 200)) for t in range(201, 251)]  # 100 kg
    samples += [Sample("lot", 250.0, "")]
    eng = Engine(line())
    a, b = run(eng, samples, 5000.0)
    assert (a.feed_kg, b.feed_kg) == (200.0, 100.0)
    assert eng.ledger.unattributed_kg[("feed", NO_LOT)] == pytest.approx(40.0)
    feed_b = next(s for s in b.streams if s.stream == "feed")
    assert feed_b.unattributed_kg == pytest.approx(40.0)
    assert "feed:mass_unattributed_before" in b.flags
    # the report and the API (the stored result) show it
    assert batch_row(b)["feed_unattributed_before_kg"] == pytest.approx(40.0)
    assert {r["stream"]: r["unattributed_before_kg"] for r in stream_rows(b)} == {"feed": 40.0, "black_mass": 0.0}
    assert result_from_json(result_to_json(b)).streams == b.streams


def test_a_lot_edge_between_two_notes_of_a_slow_counter_is_split_and_the_pieces_add_up() -> None:
    # a counter that reports every 5 s at 1 kg/s; lot A ends at t=12 and B starts at t=14
    ts = np.arange(0.0, 41.0, 5.0)
    a = counter_mass(ts, ts.copy(), 0.0, 12.0, min_cycle_s=5.0)
    gap = counter_mass(ts, ts.copy(), 12.0, 14.0, min_cycle_s=5.0, start_value=a.v_end)
    b = counter_mass(ts, ts.copy(), 14.0, 40.0, min_cycle_s=5.0, start_value=gap.v_end)
    assert (a.mass, gap.mass, b.mass) == pytest.approx((12.0, 2.0, 26.0))
    assert a.boundary == pytest.approx(2.0)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Sample], float]:
    """A counter under lots and idle spells on its own update cycle; the belt sometimes runs with no lot."""
    cycle = draw(st.sampled_from([0.5, 1.0, 2.0, 5.0]))
    # the counter has stood still since long before (two readings): its first step is not its first reading
    samples = [Sample("lot", 0.0, ""), Sample("feed", -1000.0, 0.0), Sample("feed", 0.0, 0.0), Sample("bm", 0.0, 0.0)]
    t, total, n_lots = 10.0, 0.0, draw(st.integers(1, 5))
    last = 0.0  # one reading per timestamp: a counter never says two things at once
    for k in range(n_lots):
        samples.append(Sample("lot", t, f"L{k}"))
        length = float(draw(st.integers(3, 120)))
        run_from = t + draw(st.sampled_from([0.0, 0.0, 0.3, cycle]))  # the first step: same scan, or later
        runs_on = draw(st.sampled_from([0.0, 0.0, 2.0 * cycle]))  # sometimes the belt runs past the lot's end
        rate = draw(st.floats(0.1, 50.0))  # kg a step, each step a little different
        step_t = max(run_from, last + 0.1)
        n = 0
        while step_t < t + length + runs_on:
            n += 1
            total += rate * (1.0 + 0.1 * (n % 3))
            samples.append(Sample("feed", round(step_t, 3), total))
            last = round(step_t, 3)
            step_t += cycle
        t += length
        samples.append(Sample("lot", round(t, 3), ""))
        t += draw(st.sampled_from([0.0, 5.0, 60.0]))
        if draw(st.booleans()) and t - 0.5 > last:  # the belt runs while no lot is open
            total += draw(st.floats(0.1, 50.0))
            last = round(t - 0.5, 3)
            samples.append(Sample("feed", last, total))
        t += 1.0
    return samples, total


@given(histories())
@settings(max_examples=150, deadline=None)
def test_lots_plus_unattributed_equal_the_counters_rise_to_the_gram(h: tuple[list[Sample], float]) -> None:
    samples, total = h
    eng = Engine(line())
    lots = run(eng, samples, max(s.ts for s in samples) + 30_000.0)  # past the resume window
    in_lots = sum(b.feed_kg for b in lots)
    assert in_lots + eng.ledger.unattributed_kg.get(("feed", NO_LOT), 0.0) == pytest.approx(total, abs=1e-3)
