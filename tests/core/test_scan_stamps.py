"""One scan, several stamps (docs/timestamps.md): a stamp within `scan_s` of a lot edge is the edge's own.

A server that stamps values on receipt spreads the values of one PLC scan over milliseconds, in
any order. Literal cases first (the node-opcua replay's two), then the invariant as a hypothesis
property over the pure core: the same plant history gives the same lots whether each scan's stamps
are equal or spread by up to `scan_s`; and on an exact history `scan_s` moves nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.engine import Engine
from monitor.core.ledger import NO_LOT
from monitor.core.results import BatchResult
from monitor.core.samples import SERVER_CLOCK, Sample
from monitor.core.spec import LineSpec, SourceKind, StreamSpec
from monitor.core.totalizer import value_at

SCAN = 0.1  # LineSpec's default scan_s
BAG_DELAY, FE_DELAY = 20.0, 12.0
PUBLISH = 0.5  # the samples reach the core in publishes this long, in any order within one


def spec(scan_s: float = SCAN) -> LineSpec:
    return LineSpec(
        line="L1",
        batch_id_tag="lot",
        streams=(
            StreamSpec(name="feed", direction="in", tag="feed"),
            StreamSpec(name="black_mass", source=SourceKind.WEIGHING, tag="w", bag_id_tag="bag", delay_s=BAG_DELAY),
            StreamSpec(name="ferrous", tag="fe", delay_s=FE_DELAY),
        ),
        abandon_after_s=36_000.0,
        scan_s=scan_s,
    )


def finish(eng: Engine, samples: list[Sample], until: float) -> list[BatchResult]:
    eng.ingest(samples)
    out = eng.poll()
    eng.ingest([Sample(SERVER_CLOCK, until, None)])
    return out + eng.poll()


def idle_then_lot(id_after_step_s: float) -> list[Sample]:
    """Lot A (idle before and after) whose id is stamped `id_after_step_s` after its first 5-kg step;
    an empty lot Z before it (the ledger keeps the books from the first stored lot)."""
    out = [Sample("lot", 0.0, ""), Sample("feed", 0.0, 0.0), Sample("fe", 0.0, 0.0), Sample("feed", 1.0, 0.0)]
    out += [Sample("lot", 10.0, "Z"), Sample("lot", 20.0, "")]
    out += [Sample("lot", 100.0 + id_after_step_s, "A")]
    out += [Sample("feed", 100.0 + k, 5.0 * (k + 1)) for k in range(60)]  # 300 kg, first step at 100
    out += [Sample("fe", 100.0 + FE_DELAY + k, 1.0 * (k + 1)) for k in range(60)]
    return [*out, Sample("lot", 160.0, "")]


def test_a_lots_first_step_stamped_1_ms_before_its_id_is_the_lots() -> None:
    _z, a = finish(Engine(spec()), idle_then_lot(0.001), 1000.0)
    assert (a.batch_id, a.feed_kg, a.flags) == ("A", 300.0, ())
    assert a.start == 100.001  # the lot starts at its id's stamp


def test_a_step_from_idle_further_before_the_id_than_one_scan_is_in_no_lot() -> None:
    eng = Engine(spec())
    _z, a = finish(eng, idle_then_lot(0.5), 1000.0)
    # the first step (5 kg) was before the lot; the edge is mid-cycle of the running step at 101: split
    assert a.feed_kg == 292.5
    assert eng.ledger.unattributed_kg[("feed", NO_LOT)] == 7.5
    assert {"feed:mass_unattributed_before", "feed:boundary_split"} <= set(a.flags)


def test_the_last_bag_stamped_1_ms_after_its_window_is_the_lots() -> None:
    samples = [Sample("lot", 0.0, ""), Sample("feed", 0.0, 0.0), Sample("fe", 0.0, 0.0), Sample("lot", 10.0, "A")]
    samples += [Sample("feed", 10.0 + k, 5.0 * (k + 1)) for k in range(51)]  # steps to 60 (running: A's)
    samples += [Sample("lot", 60.0, "B")] + [Sample("feed", 60.0 + k, 255.0 + 5.0 * k) for k in range(1, 21)]
    samples += [Sample("lot", 80.0, "")] + [Sample("fe", 10.0 + FE_DELAY + k, 1.0 * k) for k in range(72)]
    # A's bag window is (30, 80]: its last bag is weighed at 80 + 1 ms; B's first at 85
    samples += [Sample("bag", 50.0, "BB-1"), Sample("w", 50.0, 400.0)]
    samples += [Sample("w", 80.0, 410.0), Sample("bag", 80.001, "BB-2")]  # the weight first, the id 1 ms on
    samples += [Sample("bag", 85.0, "BB-3"), Sample("w", 85.0, 420.0)]
    a, b = finish(Engine(spec()), samples, 1000.0)
    assert (a.batch_id, a.feed_kg, a.mass("black_mass")) == ("A", 255.0, 810.0)
    assert (b.batch_id, b.feed_kg, b.mass("black_mass")) == ("B", 100.0, 420.0)
    assert a.flags == () and b.flags == ()


def test_value_at_takes_a_stamp_within_the_scan_as_the_edges() -> None:
    ts = np.array([0.0, 1.0, 50.0, 51.0, 52.0])
    v = np.array([0.0, 0.0, 10.0, 20.0, 30.0])  # idle to 50, then running on a 1 s cycle
    assert value_at(ts, v, 50.05, 1.0, SCAN) == (0.0, True)  # the step from idle at 50: after the edge
    assert value_at(ts, v, 50.05, 1.0, 0.0) == (pytest.approx(10.5), True)  # without: before it, and 5 % of 51's
    assert value_at(ts, v, 50.95, 1.0, SCAN) == (20.0, True)  # the step at 51 ended in the edge's scan
    assert value_at(ts, v, 51.05, 1.0, SCAN) == (20.0, True)  # the step at 52 began in the edge's scan
    assert value_at(ts, v, 51.5, 1.0, SCAN) == (25.0, True)  # mid-cycle: split by time as before


# -- the invariant ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lot:
    name: str
    start: int  # the scan (s) its id is written in
    length: int  # scans it feeds for
    same_scan: bool  # its first feed step is in its id's scan (else one scan later)
    back_to_back: bool  # the previous lot's id is replaced by this one's, the belt running through


@st.composite
def plants(draw: st.DrawFn) -> list[Lot]:
    t, lots = 10, []
    for k in range(draw(st.integers(2, 4))):
        joined = k > 0 and draw(st.booleans())
        if not joined and k > 0:
            t += draw(st.integers(3, 60))  # idle between lots
        length = draw(st.integers(4, 40))
        lots.append(Lot(f"LOT-{k + 1}", t, length, draw(st.booleans()), joined))
        t += length
    return lots


def plant_samples(lots: list[Lot]) -> list[Sample]:
    """What the PLC writes, one stamp per scan: ids, a feed step every scan while feeding (the step
    in the scan a lot ends belongs to it), ferrous following 12 s behind, a bag about every third
    step and at the lot's last step, 20 s behind."""
    out = [Sample("lot", 0.0, ""), Sample("feed", 0.0, 0.0), Sample("fe", 0.0, 0.0), Sample("feed", 1.0, 0.0)]
    feed = fe = 0.0
    bags, last_bag = 0, -10
    for i, lot in enumerate(lots):
        out.append(Sample("lot", float(lot.start), lot.name))
        end = lot.start + lot.length
        first = lot.start + (1 if lot.back_to_back or not lot.same_scan else 0)
        for n, t in enumerate(range(first, end + 1)):
            feed += 5.0 + (t % 3)
            fe += 1.0
            out += [Sample("feed", float(t), feed), Sample("fe", t + FE_DELAY, fe)]
            # bags at least 2 s apart (a weight stamped up to 1 s after a bag's id is that bag's)
            if (t == end and t - last_bag >= 2) or (n % 3 == 0 and t - last_bag >= 3 and end - t >= 2):
                bags, last_bag = bags + 1, t
                out += [Sample("bag", t + BAG_DELAY, f"BB-{bags}"), Sample("w", t + BAG_DELAY, 400.0 + bags)]
        if i + 1 == len(lots) or not lots[i + 1].back_to_back:
            out.append(Sample("lot", float(end), ""))
    return out


def spread(samples: list[Sample], rng: random.Random, by: float) -> list[Sample]:
    """Each stamp moved up to `by` later, independently: one scan's values in any order."""
    return [replace(s, ts=s.ts + rng.uniform(0.0, by)) if s.ts > 1.0 else s for s in samples]


def play(samples: list[Sample], rng: random.Random, scan_s: float = SCAN) -> tuple[list[BatchResult], Engine]:
    """Publishes of PUBLISH s, each shuffled, each followed by the server's clock at its end."""
    eng = Engine(spec(scan_s))
    by_publish: dict[int, list[Sample]] = {}
    for s in samples:
        by_publish.setdefault(int(s.ts // PUBLISH), []).append(s)
    results: list[BatchResult] = []
    for k in sorted(by_publish):
        batch = by_publish[k]
        rng.shuffle(batch)
        eng.ingest([*batch, Sample(SERVER_CLOCK, (k + 1) * PUBLISH - 1e-6, None)])
        results += eng.poll()
    return results + finish(eng, [], max(s.ts for s in samples) + 30_000.0), eng


def assert_same(got: list[BatchResult], want: list[BatchResult], start_tol: float) -> None:
    assert [b.batch_id for b in got] == [b.batch_id for b in want]
    for g, w in zip(got, want, strict=True):
        assert (g.state, g.flags) == (w.state, w.flags), g.batch_id
        for stream in ("feed", "black_mass", "ferrous"):
            assert g.mass(stream) == pytest.approx(w.mass(stream), abs=1e-6), (g.batch_id, stream)
        assert abs(g.start - w.start) <= start_tol


@given(plants(), st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_spreading_each_scans_stamps_by_up_to_scan_s_changes_no_lot(lots: list[Lot], seed: int) -> None:
    rng = random.Random(seed)
    plain = plant_samples(lots)
    want, eng_w = play(plain, rng)
    got, eng_g = play(spread(plain, rng, SCAN), rng)
    assert [b.batch_id for b in want] == [lot.name for lot in lots]
    assert_same(got, want, SCAN)
    assert eng_g.ledger.unattributed_kg == pytest.approx(eng_w.ledger.unattributed_kg, abs=1e-6)
    assert all(b.flags == () for b in want)  # clean lots from an exact server


@given(plants(), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_on_an_exact_history_scan_s_moves_nothing(lots: list[Lot], seed: int) -> None:
    rng = random.Random(seed)
    plain = plant_samples(lots)
    exact, _ = play(plain, rng, scan_s=0.0)
    with_scan, _ = play(plain, rng)
    assert_same(with_scan, exact, 0.0)
