"""Issue 18: the new PLC profiles parse, combine with the old ones and refuse what makes no sense."""

from __future__ import annotations

import pytest

from monitor.simulator.plc import LOT_TAGS, PlcFace, PlcProfile, parse_profile


def test_new_profiles_combine_with_the_old_ones() -> None:
    p = parse_profile("exception,null-server-ts,source-skew=-7200,mixed-clocks=600,same-scan-edges,int-counters")
    assert p == PlcProfile(
        exception=True,
        null_server_ts=True,
        source_skew_s=-7200.0,
        mixed_clocks_s=600.0,
        same_scan_edges=True,
        int_counters=True,
    )


@pytest.mark.parametrize(("text", "says"), [("source-skew", "source-skew=-7200"), ("mixed-clocks=x", "number")])
def test_offsets_need_seconds(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_profile(text)


def test_stamps_add_the_clocks_up() -> None:
    face = PlcFace(parse_profile("clock-skew=30,source-skew=-7200,mixed-clocks=600"), ("Feed.Totalizer",), 60.0)
    assert face.stamps("Feed.Totalizer", 1000.0) == (1000.0 + 30 - 7200, 1030.0)
    assert all(face.stamps(tag, 1000.0) == (1000.0 + 30 - 7200 + 600, 1030.0) for tag in LOT_TAGS)
    null = PlcFace(parse_profile("null-server-ts"), ("Feed.Totalizer",), 60.0)
    assert null.stamps("Feed.LotId", 1000.0) == (1000.0, None)


def test_clock_step_sets_the_plc_clocks_one_plant_hour_into_the_second_lot() -> None:
    face = PlcFace(parse_profile("clock-step=-3600"), ("Feed.Totalizer",), 60.0)
    face.initial({"Feed.LotId": "", "Feed.Totalizer": 0.0}, 0.0)
    for t, lot in ((60.0, "A"), (120.0, "A"), (180.0, ""), (240.0, "B"), (300.0, "B")):
        face.step(t, {"Feed.LotId": lot, "Feed.Totalizer": t})
    assert face.clock_set_at == 240.0 + 3600.0  # lot B, the second, started at 240
    assert face.stamps("Feed.Totalizer", 3839.0) == (3839.0, 3839.0)
    assert face.stamps("Feed.LotId", 3840.0) == (240.0, 3840.0)  # source only: the server stays honest


def test_same_scan_edges_hold_the_id_to_the_first_feed_step() -> None:
    face = PlcFace(parse_profile("same-scan-edges"), ("Feed.Totalizer",), 60.0)
    face.initial({"Feed.LotId": "", "Feed.Chemistry": "", "Feed.Totalizer": 0.0}, 0.0)
    start = face.step(60.0, {"Feed.LotId": "L1-00001", "Feed.Chemistry": "NMC811", "Feed.Totalizer": 0.0})
    assert [(w.tag, w.ts) for w in start] == [("Feed.Totalizer", 60.0)]  # the belt has not moved yet
    first = face.step(120.0, {"Feed.Totalizer": 33.3})
    assert [(w.tag, w.ts, w.value) for w in first] == [
        ("Feed.LotId", 120.0, "L1-00001"),
        ("Feed.Chemistry", 120.0, "NMC811"),
        ("Feed.Totalizer", 120.0, 33.3),
    ]
    assert face.lot_id_at == {("L1-00001", 60.0): 120.0}
    end = face.step(180.0, {"Feed.LotId": "", "Feed.Totalizer": 66.6})  # the end is not held
    assert [(w.tag, w.ts) for w in end] == [("Feed.LotId", 180.0), ("Feed.Totalizer", 180.0)]
