"""A poll finalises its ready lots together, one pass per stream over all of them
(finalise_batch.finalise_many); lot by lot (finalise_batch.finalise, the live path) it must give the
same lots, float for float, on any history: idle gaps, rollovers, resets, lots of 0-3 steps, lot
edges on a reading's own stamp, contiguous lots, flow meters, bags weighed twice. The vectorised
parts are also checked against plain per-window references written here (counter windows cut with
`counter_mass` and entered in the ledger one by one, the trapezoid integral of one window, the bags
of one window, the update cycle of one edge)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import engine as engine_module
from monitor.core.counter_edges import update_cycles, values_at
from monitor.core.engine import Engine
from monitor.core.engine_state import EngineState
from monitor.core.finalise_batch import finalise
from monitor.core.results import BatchResult
from monitor.core.samples import SERVER_CLOCK, Sample
from monitor.core.spec import LineSpec, SourceKind, StreamSpec
from monitor.core.totalizer import update_cycle, value_at

WRAP = 1000.0

LOT = st.tuples(
    st.integers(0, 3),  # feed steps
    st.integers(0, 3),  # product steps
    st.sampled_from([0.0, 1.0, 5.0, 30.0, 400.0]),  # idle before the lot (0: contiguous with the last)
    st.sampled_from([1.0, 5.0, 20.0]),  # spacing of the steps
    st.sampled_from([0.0, -0.05, None]),  # the lot's first step: on the id's stamp, in its scan before, a step later
    st.sampled_from(["step", "step", "reset", "rollover"]),  # how the product counter moves
    st.lists(st.sampled_from(["B1", "B2", "B3", ""]), max_size=3),  # bags weighed ("": the id cleared)
)


def line(scan_s: float) -> LineSpec:
    return LineSpec(
        line="L1",
        batch_id_tag="lot",
        energy_tag="kwh",
        nitrogen_tag="n2",
        scan_s=scan_s,
        streams=(
            StreamSpec(name="feed", direction="in", tag="feed"),
            StreamSpec(name="black_mass", tag="bm", delay_s=30.0, rollover=WRAP),
            StreamSpec(name="fines", tag="fines", source=SourceKind.FLOW, delay_s=5.0, max_gap_s=15.0),
            StreamSpec(name="bags", tag="bag_kg", bag_id_tag="bag", source=SourceKind.WEIGHING, delay_s=2.0),
            StreamSpec(name="loss", source=SourceKind.UNMEASURED),
        ),
        abandon_after_s=36_000.0,
    )


Lot = tuple[int, int, float, float, float | None, str, list[str]]


def history(lots: list[Lot]) -> tuple[list[Sample], float]:
    out = [Sample("lot", 0.0, ""), Sample("feed", 0.0, 0.0), Sample("bm", 0.0, 0.0), Sample("kwh", 0.0, 0.0)]
    out += [Sample("n2", 0.0, 0.0), Sample("fines", 0.0, 0.0)]
    t, feed, bm, kwh = 10.0, 0.0, 0.0, 0.0
    for n, (feed_steps, bm_steps, idle, dt, on_stamp, how, bags) in enumerate(lots):
        t += idle
        out.append(Sample("lot", t, f"L-{n}"))
        first = t + (dt if on_stamp is None else on_stamp)
        for k in range(feed_steps):
            feed += 10.0 + k
            kwh += 0.5
            out += [Sample("feed", first + k * dt, feed), Sample("kwh", first + k * dt, kwh)]
        for k in range(bm_steps):
            bm = 3.0 if how == "reset" and k == 1 else bm + 7.0
            if how == "rollover" and k == 0:
                bm += WRAP - 10.0 - bm % WRAP  # just below the wrap: the next step wraps
            out.append(Sample("bm", first + 30.0 + k * dt, bm % WRAP))
            out += [Sample("n2", first + k * dt, 40.0 + k), Sample("fines", first + 5.0 + k * dt, 100.0 * k)]
        for k, bag in enumerate(bags):  # a weight after its id, the first written with it
            out += [Sample("bag", first + 2.0 + k, bag), Sample("bag_kg", first + 2.0 + k + 0.5 * (k > 0), 500.0 + k)]
        t = first + max(feed_steps, bm_steps, 1) * dt
        if idle > 1.0:
            out.append(Sample("lot", t, ""))
    out.append(Sample("lot", t + 1.0, ""))  # the last lot closes
    return out, t


def replayed(samples: list[Sample], scan_s: float, until: float) -> list[str]:
    eng = Engine(line(scan_s))
    eng.ingest(sorted(samples, key=lambda s: s.ts))
    eng.ingest([Sample(SERVER_CLOCK, until + 10_000.0, None)])
    return [repr(r) for r in eng.poll()]


@settings(max_examples=120, deadline=None)
@given(st.lists(LOT, min_size=1, max_size=8), st.sampled_from([0.0, 0.1]))
def test_lots_finalised_together_equal_lots_finalised_one_by_one(lots: list[Lot], scan_s: float) -> None:
    samples, until = history(lots)
    together = replayed(samples, scan_s, until)

    def one_by_one(st_: EngineState, windows: list[object]) -> list[BatchResult]:
        return [finalise(st_, w) for w in windows]  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_module, "finalise_many", one_by_one)
        alone = replayed(samples, scan_s, until)
    assert len(together) >= 1
    assert together == alone


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([0.05, 1.0, 5.0, 60.0]), st.sampled_from([0.0, 0.0, 5.0, -2.0])), max_size=40),
    st.lists(st.floats(-10.0, 400.0), min_size=1, max_size=12),
    st.sampled_from([0.0, 0.1, 1.0]),
    st.sampled_from([0.0, 2.0, 30.0, math.inf]),
)
def test_many_edges_read_at_once_equal_each_edge_read_alone(
    steps: list[tuple[float, float]], edges: list[float], scan_s: float, floor_s: float
) -> None:
    ts = np.cumsum([0.0] + [dt for dt, _ in steps])
    values = np.maximum(np.cumsum([0.0] + [dv for _, dv in steps]), 0.0)
    t = np.array(edges + ts.tolist()[:5])  # edges between readings and on their own stamps
    k = ts.searchsorted(t, side="left")
    cycles = update_cycles(ts, values, k)
    ramp = np.maximum(cycles, floor_s)
    v, ok = values_at(ts, values, t, ramp, scan_s, k)
    for n in range(t.size):
        assert cycles[n] == update_cycle(ts, values, int(k[n]))
        assert (v[n], ok[n]) == value_at(ts, values, float(t[n]), float(ramp[n]), scan_s)


def test_two_streams_on_one_counter_at_different_delays_each_read_at_their_own() -> None:
    # a counter two streams share (a config may map a product and a side stream to one tag, delays
    # apart): each stream's edges are its own, read together and cut apart (once a KeyError in the core)
    spec = LineSpec(
        line="L1",
        batch_id_tag="lot",
        streams=(
            StreamSpec(name="feed", direction="in", tag="feed"),
            StreamSpec(name="black_mass", tag="bm", delay_s=30.0),
            StreamSpec(name="condensate", tag="bm", delay_s=90.0),
        ),
        abandon_after_s=36_000.0,
    )
    samples = [Sample("lot", 0.0, "A")] + [
        Sample(t, float(k), float(k)) for k in range(0, 400, 5) for t in ("feed", "bm")
    ]
    samples.insert(41, Sample("lot", 200.0, "B"))
    eng = Engine(spec)
    eng.ingest(sorted(samples, key=lambda s: s.ts))
    eng.ingest([Sample(SERVER_CLOCK, 10_000.0, None)])
    got = {r.batch_id: {m.stream: m.mass_kg for m in r.streams} for r in eng.poll()}
    assert got["A"] == {"feed": 200.0, "black_mass": 200.0, "condensate": 200.0}  # 1 kg/s, windows 200 s long


def test_flow_meters_and_bags_of_a_poll_as_the_lots_measured_them() -> None:
    # two lots let go by one poll: a flow meter's trapezoids, N2, and a bag weighed in both lots
    lots: list[Lot] = [(2, 2, 0.0, 5.0, None, "step", ["B1", "B2"]), (2, 1, 30.0, 5.0, None, "step", ["B1", "B3"])]
    samples, until = history(lots)
    eng = Engine(line(0.0))
    eng.ingest(sorted(samples, key=lambda s: s.ts))
    eng.ingest([Sample(SERVER_CLOCK, until + 10_000.0, None)])
    a, b = eng.poll()
    fines = {r.batch_id: next(m for m in r.streams if m.stream == "fines") for r in (a, b)}
    bags = {r.batch_id: next(m for m in r.streams if m.stream == "bags") for r in (a, b)}
    # fines over (15, 60]: 0 kg/h to 20 s, 100 at 25 s, 12.5 interpolated at 60 s; a 35 s interval > 15 s
    assert fines["L-0"].mass_kg == pytest.approx((0.5 * 100.0 * 5.0 + 0.5 * 112.5 * 35.0) / 3600.0, rel=1e-12)
    assert fines["L-0"].flags == ("estimated",)
    assert bags["L-0"].items == (("B1", 500.0), ("B2", 501.0)) and bags["L-0"].mass_kg == 1001.0
    assert bags["L-1"].items == (("B3", 501.0),) and "bags:duplicate_bags" in b.flags  # B1 counted once ever
    # N2 over (10, 55]: 0 Nm3/h at 0 s, 40 at 15 s, 41 at 20 s, 40 at 60 s
    n2 = 0.5 * (40.0 * 10.0 / 15.0 + 40.0) * 5.0 + 0.5 * 81.0 * 5.0 + 0.5 * (41.0 + 40.125) * 35.0
    assert a.nitrogen_nm3 == pytest.approx(n2 / 3600.0, rel=1e-12)
