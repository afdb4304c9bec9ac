"""Uncertain lot edges (docs/timestamps.md, "Uncertain edges"): a lot id whose clock was learnt from
receive times is placed where the feed started within its uncertainty, whatever order the data came in."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.edges import feed_start_within
from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.core.samples import SERVER_CLOCK, Sample
from monitor.core.spec import LineSpec, SourceKind, StreamSpec


def line() -> LineSpec:
    return LineSpec(
        line="L1",
        batch_id_tag="lot",
        streams=(StreamSpec(name="feed", direction="in", tag="feed"), StreamSpec(name="black_mass", tag="bm")),
        abandon_after_s=36_000.0,
    )


def history(start: float, late: float) -> tuple[list[Sample], list[Sample]]:
    """Lot A feeds 0-100 s (500 kg), the line idles, lot B's feed starts at `start` (5 kg/s for 60 s);
    B's id is stamped `late` seconds after its true start (while B still feeds) and is known to be up
    to 300 s late."""
    counters = [Sample("feed", 0.0, 0.0), Sample("bm", 0.0, 0.0)]
    counters += [Sample("feed", float(t), 5.0 * t) for t in range(1, 101)]
    counters += [Sample("feed", start + k, 500.0 + 5.0 * (k + 1)) for k in range(60)]
    ids = [Sample("lot", 0.0, "A"), Sample("lot", 100.0, "")]
    ids += [
        Sample("lot", start + late, "B", uncertain_s=300.0),
        Sample("lot", start + 60 + late, "", uncertain_s=300.0),
    ]
    return counters, ids


def finish(eng: Engine, until: float) -> list[BatchResult]:
    eng.ingest([Sample(SERVER_CLOCK, until, None)])
    return eng.poll()


def test_feed_start_within_finds_the_only_start_from_idle_and_refuses_a_stopped_one() -> None:
    ts = np.array([0.0, 10, 20, 30, 500, 510, 520])
    values = np.array([0.0, 5, 10, 15, 20, 25, 30])  # running to 30, idle, started again at 500
    assert feed_start_within(ts, values, 100.0, 530.0) == 500.0
    assert feed_start_within(ts, values, 100.0, 499.0) is None  # nothing started in the interval
    assert feed_start_within(ts, values, 0.0, 600.0) is None  # ran to 520, then stopped: no run up to 600
    assert feed_start_within(ts[4:], values[4:], 400.0, 530.0) is None  # readings begin inside: cannot tell


@settings(max_examples=40, deadline=None)
@given(late=st.floats(0.0, 55.0), start=st.floats(600.0, 2000.0), ids_first=st.booleans())
def test_an_uncertain_lot_start_lands_on_the_feed_start_in_either_order(
    late: float, start: float, ids_first: bool
) -> None:
    counters, ids = history(start, late)
    eng = Engine(line())
    if ids_first:  # the lot id reaches the core before the counter's values of that stretch
        eng.ingest(ids[:3] + counters[:102])
        eng.ingest(counters[102:] + ids[3:])
    else:
        eng.ingest(counters + ids)
    a, b = eng.poll() + finish(eng, start + 5000.0)
    assert (a.batch_id, a.feed_kg) == ("A", 500.0)
    assert b.batch_id == "B" and b.feed_kg == 300.0  # nothing of B's feed left in A or in no lot
    assert abs(b.start - start) < 1e-6  # on the feed's clock, where it started
    assert eng.state.stats.edges_placed_by_feed == (1 if start + late > start else 0)


def test_an_exact_lot_start_is_never_moved() -> None:
    counters, ids = history(1000.0, 40.0)
    exact = [Sample(s.tag, s.ts, s.value) for s in ids]  # the same stamps, not uncertain
    eng = Engine(line())
    eng.ingest(counters + exact)
    _a, b = eng.poll() + finish(eng, 6000.0)
    assert b.start == 1040.0 and eng.state.stats.edges_placed_by_feed == 0


def test_a_lot_waits_for_its_bags_while_the_servers_clock_has_not_vouched_for_them() -> None:
    # the counters' values move the watermark far on, but the bag weighings of the lot still wait at
    # the collector (their tag's clock being decided): the server's clock, held with them, says so
    spec = LineSpec(
        line="L1",
        batch_id_tag="lot",
        streams=(
            StreamSpec(name="feed", direction="in", tag="feed"),
            StreamSpec(name="black_mass", source=SourceKind.WEIGHING, tag="w", bag_id_tag="bag", delay_s=100.0),
        ),
        abandon_after_s=36_000.0,
    )
    eng = Engine(spec)
    eng.ingest([Sample("lot", 0.0, "A"), Sample("feed", 0.0, 0.0), Sample(SERVER_CLOCK, 0.0, None)])
    eng.ingest([Sample("feed", float(t), 5.0 * t) for t in range(1, 101)] + [Sample("lot", 100.0, "")])
    eng.ingest([Sample("feed", 5000.0, 500.0), Sample(SERVER_CLOCK, 150.0, None)])  # the watermark at 5000
    assert eng.poll() == []  # the bags' stretch (to 200 s) is not vouched for
    eng.ingest([Sample("bag", 150.0, "BB-1"), Sample("w", 150.0, 400.0), Sample(SERVER_CLOCK, 5000.0, None)])
    (a,) = eng.poll()
    assert (a.batch_id, a.feed_kg, a.mass("black_mass")) == ("A", 500.0, 400.0)
