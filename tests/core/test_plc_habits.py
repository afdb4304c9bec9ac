"""Real-PLC habits on the pure core, with literal numbers (issue: report-by-exception, ids, bags)."""

import numpy as np
import pytest

from monitor.core.engine import Engine
from monitor.core.results import BatchState
from monitor.core.samples import SERVER_CLOCK, Sample, lot_id_text
from monitor.core.spec import LineSpec, SourceKind, StreamSpec
from monitor.core.totalizer import counter_mass, value_at

DELAY = 600.0


def arr(*xs: float) -> np.ndarray:
    return np.asarray(xs, dtype=float)


def line(bag_scope: str = "plant", **kw: object) -> LineSpec:
    return LineSpec(
        line="L1",
        batch_id_tag="lot",
        chemistry_tag="chem",
        streams=(
            StreamSpec(name="feed", direction="in", tag="feed", **kw),  # type: ignore[arg-type]
            StreamSpec(
                name="black_mass",
                source=SourceKind.WEIGHING,
                tag="bag_kg",
                bag_id_tag="bag",
                delay_s=DELAY,
                bag_scope=bag_scope,
            ),
        ),
        abandon_after_s=3600.0,
    )


# -- point 2: counters under report-by-exception -------------------------------------------
def test_first_increment_after_an_idle_gap_is_not_spread_over_the_gap() -> None:
    # lot A: 100 kg a minute until t=120; the belt stands (no notification) until lot B starts at
    # 1200 and the counter reports its first minute at 1260. Linear interpolation across the gap
    # would have given B only 105.3 kg of its 200.
    ts, v = arr(0, 60, 120, 1260, 1320), arr(0, 100, 200, 300, 400)
    b = counter_mass(ts, v, 1200, 1320)
    assert b.mass == pytest.approx(200.0)
    assert b.boundary == 0.0
    assert value_at(ts, v, 1200, ramp_s=60) == (200.0, True)


def test_boundary_between_two_notifications_of_a_slow_counter_is_split_by_time() -> None:
    # a PLC publishing every 5 s at 1 kg/s; the lot ends at t=12, between the notes of 10 and 15
    ts, v = arr(0, 5, 10, 15, 20), arr(0, 5, 10, 15, 20)
    r = counter_mass(ts, v, 0, 12)
    assert r.mass == pytest.approx(12.0)
    assert r.boundary == pytest.approx(2.0)  # 2 of the 5 kg reported at t=15 belong to this lot


def test_server_clock_closes_the_last_lot_before_the_line_goes_quiet() -> None:
    eng = Engine(line())
    eng.ingest([Sample("lot", -60.0, ""), Sample("lot", 0.0, "A"), Sample("feed", 0.0, 0.0)])
    eng.ingest([Sample("feed", 60.0 * k, 100.0 * k) for k in range(1, 11)])  # 1,000 kg by t=600
    eng.ingest([Sample("lot", 600.0, ""), Sample("bag", 1200.0, "BB-1"), Sample("bag_kg", 1200.0, 450.0)])
    assert eng.poll() == []  # nothing moves any more: without the server's clock the lot would wait for ever
    eng.ingest([Sample(SERVER_CLOCK, 1199.0, None)])
    assert eng.poll() == []  # the black-mass window ends at 1200
    eng.ingest([Sample(SERVER_CLOCK, 1201.0, None)])
    (a,) = eng.poll()
    assert (a.batch_id, a.state, a.feed_kg, a.mass("black_mass")) == ("A", BatchState.COMPLETE, 1000.0, 450.0)


# -- point 4: integer and scaled counters, integer ids and codes -----------------------------
def test_uint16_counter_in_10_kg_units_wraps_and_scales() -> None:
    eng = Engine(line(scale=10.0))
    eng.learn_counter("feed", wrap=65_536)  # what the collector reads from the node's DataType
    counts = [65_400, 65_460, 65_520, 44, 104]  # 60 counts (600 kg) a minute, wrapping at 65,536
    eng.ingest([Sample("lot", 0.0, 1001.0)])
    eng.ingest([Sample("feed", 60.0 * k, float(c)) for k, c in enumerate(counts)])
    eng.ingest([Sample("lot", 240.0, 0.0), Sample(SERVER_CLOCK, 240.0 + DELAY + 1, None)])
    (a,) = eng.poll()
    assert a.batch_id == "1001"
    assert a.feed_kg == pytest.approx(2400.0)
    assert "feed:rollover" in a.flags


@pytest.mark.parametrize(
    ("raw", "idle", "expected"),
    [
        ("L1-0042\x00\x00\x00", (), "L1-0042"),
        ("\x00\x00\x00\x00", (), ""),
        ("  L1-0042 ", (), "L1-0042"),
        ("IDLE", ("IDLE",), ""),
        (1001.0, (), "1001"),
        (0.0, (), ""),
        (12.5, (), None),
    ],
)
def test_lot_ids_are_trimmed_and_idle_sentinels_mean_no_lot(raw: object, idle: tuple[str, ...], expected: str) -> None:
    assert lot_id_text(raw, idle) == expected  # type: ignore[arg-type]


def test_integer_chemistry_codes_map_through_the_config_table() -> None:
    spec = line()
    spec = LineSpec(**{**spec.__dict__, "codes": {"chem": {"3": "NMC811"}}})
    eng = Engine(spec)
    eng.ingest(
        [Sample("lot", 0.0, "A"), Sample("chem", 0.0, 3.0), Sample("feed", 0.0, 0.0), Sample("feed", 60.0, 50.0)]
    )
    eng.ingest([Sample("lot", 60.0, ""), Sample(SERVER_CLOCK, 60.0 + DELAY + 1, None)])
    (a,) = eng.poll()
    assert a.chemistry == "NMC811"


# -- point 5: bags -------------------------------------------------------------------------
def _bags_lot(eng: Engine, lot: str, t0: float, bags: list[tuple[str, float | None]]) -> None:
    """A lot fed 600 kg over 600 s from t0, its bags (id, weight or None: no new weight value)."""
    eng.ingest([Sample("lot", t0, lot)] + [Sample("feed", t0 + 60.0 * k, 60.0 * k + t0) for k in range(11)])
    eng.ingest([Sample("lot", t0 + 600.0, "")])
    for k, (bag, kg) in enumerate(bags, start=1):
        t = t0 + DELAY + 100.0 * k
        eng.ingest([Sample("bag", t, bag)] + ([Sample("bag_kg", t, kg)] if kg is not None else []))


def test_two_bags_of_the_same_net_weight_both_count() -> None:
    eng = Engine(line())
    _bags_lot(eng, "A", 0.0, [("BB-1", 750.0), ("BB-2", None), ("BB-3", 512.5)])  # BB-2's weight sent nothing new
    eng.ingest([Sample(SERVER_CLOCK, 2000.0, None)])
    (a,) = eng.poll()
    assert a.mass("black_mass") == pytest.approx(750.0 + 750.0 + 512.5)
    assert a.bags == {"BB-1": 750.0, "BB-2": 750.0, "BB-3": 512.5}


def test_bag_ids_that_restart_every_lot_count_in_each_lot_with_lot_scope() -> None:
    for scope, second in (("lot", 900.0), ("plant", 0.0)):
        eng = Engine(line(bag_scope=scope))
        _bags_lot(eng, "A", 0.0, [("BAG-1", 400.0), ("BAG-2", 500.0)])
        _bags_lot(eng, "B", 2000.0, [("BAG-1", 450.0), ("BAG-2", 450.0), ("BAG-2", 450.0)])  # BAG-2 sent twice
        eng.ingest([Sample(SERVER_CLOCK, 5000.0, None)])
        a, b = eng.poll()
        assert a.mass("black_mass") == pytest.approx(900.0)
        assert b.mass("black_mass") == pytest.approx(second), scope
        if scope == "lot":
            assert "black_mass:duplicate_bags" in b.flags  # counted once within its lot, and said


# -- point 6: lot ids and attributes ---------------------------------------------------------
def _fed(eng: Engine, t0: float, t1: float, kg0: float) -> float:
    """The feed counter rising 1 kg/s from t0 to t1 in minute notes; returns the counter at t1."""
    n = int((t1 - t0) // 60)
    eng.ingest([Sample("feed", t0 + 60.0 * k, kg0 + 60.0 * k) for k in range(1, n + 1)])
    return kg0 + 60.0 * n


def test_reused_id_makes_a_distinct_batch_and_a_pause_under_the_same_id_does_not() -> None:
    eng = Engine(line())
    eng.ingest([Sample("lot", 0.0, "LOT-A"), Sample("feed", 0.0, 0.0)])
    kg = _fed(eng, 0.0, 600.0, 0.0)
    eng.ingest([Sample("lot", 600.0, "")])  # paused 10 min, id cleared...
    eng.ingest([Sample("lot", 1200.0, "LOT-A")])  # ...and resumed under the same id: the same lot
    kg = _fed(eng, 1200.0, 1800.0, kg)
    eng.ingest([Sample("lot", 1800.0, "LOT-B")])
    kg = _fed(eng, 1800.0, 2400.0, kg)
    eng.ingest([Sample("lot", 2400.0, "LOT-A")])  # after another lot: a new one
    kg = _fed(eng, 2400.0, 3000.0, kg)
    eng.ingest([Sample("lot", 3000.0, ""), Sample(SERVER_CLOCK, 5000.0, None)])
    done = {b.batch_id: b for b in eng.poll()}
    assert sorted(done) == ["LOT-A", "LOT-A.2", "LOT-B"]
    assert done["LOT-A"].feed_kg == pytest.approx(1200.0) and "resumed" in done["LOT-A"].flags
    assert done["LOT-A.2"].feed_kg == pytest.approx(600.0)


def test_abandoned_lot_that_resumes_is_reopened_and_stored_whole() -> None:
    eng = Engine(line())
    eng.ingest([Sample("lot", 0.0, "A"), Sample("feed", 0.0, 0.0)])
    kg = _fed(eng, 0.0, 600.0, 0.0)
    eng.ingest([Sample(SERVER_CLOCK, 600.0 + 3700.0, None)])  # quiet for longer than abandon_after_s
    (v1,) = eng.poll()
    assert "abandoned" in v1.flags and v1.feed_kg == pytest.approx(600.0)
    eng.ingest([Sample("feed", 5000.0, kg + 60.0)])  # the belt runs again, id never changed
    kg = _fed(eng, 5000.0, 5600.0, kg + 60.0)
    eng.ingest([Sample("lot", 5600.0, ""), Sample(SERVER_CLOCK, 7000.0, None)])
    (v2,) = eng.poll()
    assert v2.batch_id == "A" and v2.start == 0.0 and v2.end == 5600.0
    assert v2.feed_kg == pytest.approx(1260.0)  # nothing fed while abandoned is lost
    assert "resumed" in v2.flags and "abandoned" not in v2.flags


def test_reused_id_after_a_restart_still_gets_its_suffix() -> None:
    eng = Engine(line())
    eng.seed_ids(["LOT-A", "LOT-B"])  # what the store already holds
    eng.ingest([Sample("lot", 0.0, ""), Sample("lot", 10.0, "LOT-A")])
    live = eng.live()
    assert live is not None and live.batch_id == "LOT-A.2"


def test_attributes_written_just_after_the_id_belong_to_the_new_lot() -> None:
    eng = Engine(line())
    eng.ingest([Sample("lot", 0.0, "A"), Sample("chem", 0.0, "NCA"), Sample("feed", 0.0, 0.0)])
    kg = _fed(eng, 0.0, 600.0, 0.0)
    eng.ingest([Sample("lot", 600.0, "B"), Sample("chem", 600.3, "NMC622")])  # 300 ms after the id
    _fed(eng, 600.0, 1200.0, kg)
    eng.ingest([Sample("lot", 1200.0, ""), Sample(SERVER_CLOCK, 2000.0, None)])
    a, b = eng.poll()
    assert (a.chemistry, b.chemistry) == ("NCA", "NMC622")
