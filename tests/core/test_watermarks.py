"""Per-source watermarks (monitor/core/watermarks.py): the same history delivered with any per-source
delay and interleaving gives the same lots; a source with no news is let go after the bound, and one
let go while not connected leaves a gap."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.batches import FeedWindow
from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.core.samples import SOURCE_CLOCK, Sample
from monitor.core.watermarks import LetGo, Watermarks, let_go, line_time, lot_needs, waiting_for
from tests.core.test_engine import DELAY, plant, spec

SOURCE_OF = {"lot": "plc", "chem": "plc", "form": "plc", "feed_tot": "plc", "bag_id": "scale", "bag_kg": "scale"}
SOURCE_OF |= {"fe_tot": "uns", SOURCE_CLOCK: "scale"}
SOURCES = ("plc", "scale", "uns")
STEP = 60.0


def history() -> list[Sample]:
    """plant() of tests/core/test_engine.py, its scale polled every step (a heartbeat per poll)."""
    out = plant()
    end = max(s.ts for s in out)
    return out + [Sample(SOURCE_CLOCK, k * STEP, None) for k in range(int(end / STEP) + 1)]


def lots(done: list[BatchResult]) -> list[tuple[object, ...]]:
    """What a lot is, to compare: id, window, each stream's mass, flags."""
    return [
        (r.batch_id, r.start, r.end, r.state, tuple((m.stream, round(m.mass_kg, 9)) for m in r.streams), r.flags)
        for r in done
    ]


class Gate:
    """The service's use of the rule, with every source connected and no bound (nobody is let go)."""

    def __init__(self, settle_s: float, bound_s: float = math.inf) -> None:
        self.settle_s = settle_s
        self.marks = Watermarks.of(SOURCES, bound_s, now=0.0)
        for n in SOURCES:
            self.marks = self.marks.connection(n, True, 0.0)

    def deliver(self, source: str, samples: list[Sample], now: float) -> None:
        self.marks = self.marks.delivered(source, (s.ts for s in samples), now)

    def __call__(self, now: float) -> Callable[[FeedWindow], bool]:
        def ready(w: FeedWindow) -> bool:
            assert w.end is not None
            return not waiting_for(self.marks, lot_needs(spec(), SOURCE_OF, w.end, self.settle_s), now)

        return ready


def arrivals(samples: list[Sample], delays: dict[str, float], jitter: list[float]) -> list[tuple[float, str, Sample]]:
    """When each sample reaches us: its stamp + its source's delay + some jitter, each source in order."""
    out: list[tuple[float, str, Sample]] = []
    last = dict.fromkeys(SOURCES, -math.inf)
    for i, s in enumerate(sorted(samples, key=lambda x: x.ts)):
        src = SOURCE_OF[s.tag]
        at = max(last[src], s.ts + delays[src] + jitter[i % len(jitter)])  # a source delivers in order (TCP)
        last[src] = at
        out.append((at, src, s))
    return sorted(out, key=lambda a: a[0])


def run(
    samples: list[Sample], delays: dict[str, float], jitter: list[float], *, gated: bool, timed: bool = True
) -> list[BatchResult]:
    """Deliver as they arrive, a poll after every arrival (gated: on the sources' watermarks; timed: on
    the line's time, the slowest of them); then what is left."""
    eng, gate = Engine(spec(), settle_s=STEP), Gate(STEP)
    done: list[BatchResult] = []
    for at, src, s in arrivals(samples, delays, jitter):
        eng.ingest([s])
        gate.deliver(src, [s], at)
        done += eng.poll(gate(at), line_time(gate.marks, at) if timed else math.inf) if gated else eng.poll()
    return done + (eng.poll(gate(math.inf)) if gated else eng.poll())


def in_stamp_order() -> list[BatchResult]:
    eng, gate = Engine(spec(), settle_s=STEP), Gate(STEP)
    samples = sorted(history(), key=lambda x: x.ts)
    eng.ingest(samples)
    for src in SOURCES:
        gate.deliver(src, [s for s in samples if SOURCE_OF[s.tag] == src], 0.0)
    return eng.poll(gate(0.0))


def test_in_stamp_order_the_lots_are_whole() -> None:
    done = in_stamp_order()
    assert [r.batch_id for r in done] == ["A", "B"]
    assert [r.mass("black_mass") for r in done] == pytest.approx([1500.0, 1500.0])
    assert [r.mass("ferrous") for r in done] == pytest.approx([300.0, 300.0])


# up to 3 x the longest stream delay apart: more than max delay + stale_after_s (2,700 s), beyond which a
# lot-id source behind the others had their data trimmed on the newest stamp before its lots came
DELAYS = st.fixed_dictionaries({src: st.floats(0.0, 3 * DELAY) for src in SOURCES})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delays=DELAYS, jitter=st.lists(st.floats(0.0, 600.0), min_size=1, max_size=20))
def test_any_per_source_delay_gives_the_same_lots(delays: dict[str, float], jitter: list[float]) -> None:
    assert lots(run(history(), delays, jitter, gated=True)) == lots(in_stamp_order())


def test_without_the_gate_a_late_source_loses_mass() -> None:
    """The control: the newest stamp of any source closes lot A before the scale's late bags are in."""
    late_scale = {"plc": 0.0, "scale": 2500.0, "uns": 0.0}
    ungated = run(history(), late_scale, [0.0], gated=False)
    assert ungated[0].batch_id == "A" and ungated[0].mass("black_mass") < 1500.0 - 1.0
    gated = run(history(), late_scale, [0.0], gated=True)
    assert lots(gated) == lots(in_stamp_order())


def test_without_the_line_time_a_late_lot_id_source_loses_the_others_data() -> None:
    """The control of the line's time: on the newest stamp of any source, the engine trims the
    ferrous counter's values before the late lot ids say which lot they belong to."""
    late_plc = {"plc": 4681.0, "scale": 0.0, "uns": 0.0}
    assert lots(run(history(), late_plc, [0.0], gated=True, timed=False)) != lots(in_stamp_order())
    assert lots(run(history(), late_plc, [0.0], gated=True)) == lots(in_stamp_order())


def test_the_line_time_is_the_slowest_source_still_holding() -> None:
    wm = Watermarks.of(["plc", "uns"], bound_s=200.0, now=0.0).delivered("plc", [500.0], 0.0)
    assert line_time(wm, 10.0) == -math.inf  # uns has delivered nothing yet: nothing is old enough
    wm = wm.delivered("uns", [300.0], 50.0)
    assert line_time(wm, 60.0) == 300.0
    wm = wm.delivered("plc", [600.0], 240.0)
    assert line_time(wm, 250.0) == 600.0  # uns quiet for the bound: no longer holds
    assert line_time(wm, 440.0) == math.inf  # none holds: the engine's own watermark
    assert line_time(Watermarks.of([], 200.0, 0.0), 0.0) == math.inf


def test_the_needs_are_each_sources_latest_window_end_plus_settle() -> None:
    assert lot_needs(spec(), SOURCE_OF, 1800.0, 60.0) == {"plc": 1860.0, "scale": 3660.0, "uns": 3660.0}


def test_a_source_away_holds_lots_up_to_the_bound_then_leaves_a_gap() -> None:
    wm = Watermarks.of(["plc", "scale"], bound_s=200.0, now=0.0).connection("scale", True, 0.0)
    wm = wm.delivered("scale", [40.0, 100.0], now=10.0).delivered("plc", [300.0], now=10.0)
    need = {"plc": 150.0, "scale": 150.0}
    assert waiting_for(wm, need, now=20.0) == ("scale",)
    wm = wm.connection("scale", False, now=30.0)  # away: news, the bound counts from here
    assert waiting_for(wm, need, now=229.0) == ("scale",)
    assert waiting_for(wm, need, now=230.0) == ()  # let go, its span flagged
    assert let_go(wm, need) == (LetGo("scale", 100.0, 150.0),)
    wm = wm.connection("scale", True, now=240.0)  # back: holds again, for its replay
    assert waiting_for(wm, need, now=400.0) == ("scale",)
    wm = wm.delivered("scale", [151.0], now=410.0)
    assert waiting_for(wm, need, now=410.0) == () and let_go(wm, need) == ()


def test_a_quiet_connected_source_is_let_go_without_a_gap() -> None:
    wm = Watermarks.of(["uns"], bound_s=200.0, now=0.0).connection("uns", True, 0.0)
    wm = wm.delivered("uns", [100.0], now=10.0)
    wm = wm.delivered("uns", [90.0], now=150.0)  # older than its mark: no news
    need = {"uns": 500.0}
    assert waiting_for(wm, need, now=209.0) == ("uns",)
    assert waiting_for(wm, need, now=210.0) == () and let_go(wm, need) == ()


def test_a_source_feeding_no_stream_holds_nothing() -> None:
    wm = Watermarks.of(["plc"], bound_s=200.0, now=0.0)
    assert wm.delivered("o2", [1e9], now=1.0) is wm
    assert waiting_for(wm, {"o2": 10.0}, now=1.0) == ()
