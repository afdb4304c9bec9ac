"""The vectorised parts of finalisation against plain per-window references written here, bit for bit:
counter windows cut and entered in the ledger (counter_cuts.cut_windows vs `counter_mass` and the
ledger lot by lot), flow integrals (flow.flow_masses vs one window's trapezoids summed by np.sum),
bags paired with weights (weighings.bag_weighings_many vs one bag at a time), the update cycle
(counter_edges.update_cycles vs the lower quartile of one reading's neighbouring rises) and a step's
idle spell (counter_edges.idle_before vs the readings before it compared one by one)."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.counter_cuts import CounterSettings, cut_windows
from monitor.core.counter_edges import idle_before, update_cycles
from monitor.core.flow import flow_masses
from monitor.core.ledger import Edge, StreamLedger
from monitor.core.series import TextSeries
from monitor.core.totalizer import CounterMass, counter_mass, read_edges
from monitor.core.weighings import Weighing, bag_weighings_many

STEPS = st.lists(
    st.tuples(st.sampled_from([0.05, 1.0, 5.0, 60.0]), st.sampled_from([0.0, 0.0, 5.0, 7.0, -2.0, -300.0])),
    min_size=0,
    max_size=40,
)


def counter(steps: list[tuple[float, float]], wrap: float) -> tuple[np.ndarray, np.ndarray]:
    ts = np.cumsum([0.0] + [dt for dt, _ in steps])
    return ts, np.mod(np.maximum(np.cumsum([100.0] + [dv for _, dv in steps]), 0.0), wrap)


def reference_cuts(
    ledger: StreamLedger, ts: np.ndarray, v: np.ndarray, windows: list[tuple[float, float]], how: CounterSettings
) -> list[tuple[CounterMass, float]]:
    """Each window cut with counter_mass, lot by lot, as finalisation cut them before session 8."""
    out = []
    for t0, t1 in windows:
        kw = {"rollover": how.rollover, "min_cycle_s": how.min_cycle_s, "scan_s": how.scan_s}
        cm = counter_mass(ts, v, t0, t1, start_value=ledger.start_value("s", t0), **kw)  # type: ignore[arg-type]
        edge = ledger.edge("s")
        lost = 0.0
        if edge is not None and edge.t < t0:
            lost = counter_mass(ts, v, edge.t, t0, start_value=edge.value, end_value=cm.v_start, **kw).mass  # type: ignore[arg-type]
        out.append((cm, ledger.lose("s", lost)))
        ledger.advance("s", t1, cm.v_end)
    return out


@settings(max_examples=300, deadline=None)
@given(
    STEPS,
    st.floats(-20.0, 300.0),
    st.lists(
        st.tuples(st.sampled_from([0.5, 10.0, 37.0]), st.sampled_from([0.0, 0.0, 3.0, 50.0])), min_size=1, max_size=8
    ),
    st.sampled_from([0.0, 0.1]),
    st.sampled_from([None, -50.0, 10.0]),
    st.booleans(),
    st.booleans(),
)
def test_counter_windows_cut_together_equal_counter_mass_lot_by_lot(
    steps: list[tuple[float, float]],
    start: float,
    lots: list[tuple[float, float]],
    scan_s: float,
    edge_at: float | None,
    wrapped: bool,
    backwards: bool,
) -> None:
    wrap = 1000.0 if wrapped else math.inf
    ts, v = counter(steps, wrap)
    windows, t = [], start
    for length, idle in lots:  # in order, contiguous (idle 0) or with a gap the ledger counts
        windows.append((t + idle, t + idle + length))
        t = t + idle + length
    if backwards:  # out of order (a lot fed again): the ledger keeps its latest edge, walked lot by lot
        windows.reverse()
    how = CounterSettings(wrap if wrapped else None, 0.0, scan_s)
    first = {"s": Edge(edge_at, float(v[0]))} if edge_at is not None else None
    mine, theirs = StreamLedger(first), StreamLedger(first)
    t0s, t1s = np.array([a for a, _ in windows]), np.array([b for _, b in windows])
    reads = read_edges(ts, v, np.concatenate((t0s, t1s)), scan_s=scan_s)
    cuts = cut_windows(mine, "s", ts, v, (t0s, t1s), reads, how)
    expected = reference_cuts(theirs, ts, v, windows, how)
    for k, (cm, lost) in enumerate(expected):
        got = cuts.row(k)
        assert repr((got.mass, got.boundary, got.resets, got.rollovers, got.anomalies)) == repr(
            (cm.mass, cm.boundary, cm.resets, cm.rollovers, cm.anomalies)
        )
        assert (got.start_observed, got.end_observed) == (cm.start_observed, cm.end_observed)
        assert repr(float(cuts.unattributed[k])) == repr(lost)
    assert mine.dump() == theirs.dump()


def one_window(ts: np.ndarray, rate: np.ndarray, t0: float, t1: float, max_gap_s: float) -> tuple[float, int, bool]:
    if ts.size == 0 or t1 <= t0:
        return 0.0, 0, ts.size > 0
    lo, hi = int(ts.searchsorted(t0, side="right")), int(ts.searchsorted(t1, side="left"))
    t = np.concatenate(([t0], ts[lo:hi], [t1]))
    r = np.concatenate(([np.interp(t0, ts, rate)], rate[lo:hi], [np.interp(t1, ts, rate)]))
    dt = np.diff(t)
    covered = bool(ts[0] <= t0 and ts[-1] >= t1)
    return float((0.5 * (r[1:] + r[:-1]) * dt).sum() / 3600.0), int((dt > max_gap_s).sum()), covered


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([0.5, 1.0, 7.0, 60.0, 700.0]), st.floats(0.0, 5000.0)), max_size=300),
    st.lists(st.tuples(st.floats(-100.0, 20_000.0), st.sampled_from([-5.0, 0.0, 3.0, 60.0, 900.0, 9000.0]))),
)
def test_flow_windows_integrated_together_equal_each_window_alone(
    samples: list[tuple[float, float]], windows: list[tuple[float, float]]
) -> None:
    ts, rate = np.cumsum([dt for dt, _ in samples]), np.array([r for _, r in samples])
    t0 = np.array([a for a, _ in windows])
    t1 = t0 + np.array([w for _, w in windows])
    fm = flow_masses(ts, rate, t0, t1, max_gap_s=600.0)
    for k in range(t0.size):
        got = (float(fm.mass[k]), int(fm.gaps[k]), bool(fm.covered[k]))
        assert repr(got) == repr(one_window(ts, rate, float(t0[k]), float(t1[k]), 600.0))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([0.3, 1.0, 4.0]), st.sampled_from(["A", "B", "", "C"])), max_size=30),
    st.lists(st.tuples(st.sampled_from([0.0, 0.5, 2.0]), st.floats(1.0, 900.0)), max_size=30),
    st.lists(st.tuples(st.floats(-5.0, 100.0), st.floats(0.0, 40.0)), min_size=1, max_size=6),
)
def test_bags_of_many_windows_equal_each_bag_paired_alone(
    ids: list[tuple[float, str]], weights: list[tuple[float, float]], windows: list[tuple[float, float]]
) -> None:
    series = TextSeries()
    for t, bag in zip(np.cumsum([dt for dt, _ in ids]).tolist(), [b for _, b in ids], strict=True):
        series.add(t, bag)
    t_arr = np.unique(np.cumsum([dt + 0.01 for dt, _ in weights]))
    v_arr = np.array([kg for _, kg in weights])[: t_arr.size]
    spans = [(a, a + w) for a, w in windows]
    got = bag_weighings_many(series, t_arr, v_arr, spans, tolerance_s=1.0)
    for (t0, t1), found in zip(spans, got, strict=True):
        expected = []
        for t, bag in series.between(t0, t1):
            k = int(np.searchsorted(t_arr, t + 1.0, side="right")) - 1
            if bag and k >= 0:
                expected.append(Weighing(t, bag, float(v_arr[k])))
        assert found == expected


@settings(max_examples=300, deadline=None)
@given(STEPS, st.lists(st.integers(0, 45), max_size=12), st.sampled_from([2, 5, 32]))
def test_update_cycles_are_the_lower_quartile_of_each_readings_neighbouring_rises(
    steps: list[tuple[float, float]], at: list[int], span: int
) -> None:
    ts, v = counter(steps, math.inf)
    k = np.array([min(i, ts.size) for i in at], dtype=np.intp)
    got = update_cycles(ts, v, k, span=span)
    for n, i in enumerate(k.tolist()):
        g = range(max(i - span, 0), min(i + span - 1, ts.size - 1))  # spacings between readings g and g + 1
        rises = sorted(float(ts[j + 1] - ts[j]) for j in g if v[j + 1] > v[j])
        assert got[n] == (rises[min(len(rises) // 4, 2 * span - 2)] if rises else 0.0)


@settings(max_examples=300, deadline=None)
@given(
    STEPS,
    st.lists(
        st.tuples(st.integers(0, 45), st.sampled_from([0.0, 0.5, 3.0, 30.0, 400.0, 5000.0])), min_size=1, max_size=12
    ),
)
def test_a_step_is_idle_when_no_reading_changed_within_its_ramp_before_it(
    steps: list[tuple[float, float]], at: list[tuple[int, float]]
) -> None:
    # short spells are compared side by side, long ones through a running count of changes: both
    # must say what the readings say one by one
    ts, v = counter(steps, math.inf)
    k = np.array([min(i, ts.size - 1) for i, _ in at], dtype=np.intp)
    ramp = np.array([r for _, r in at])
    got = idle_before(ts, v, k, ramp)
    for n, (i, r) in enumerate(zip(k.tolist(), ramp.tolist(), strict=True)):
        j = int(ts.searchsorted(ts[i] - r, side="left"))
        expected = j >= i or (j > 0 and all(v[x] == v[x - 1] for x in range(j, i)))
        assert bool(got[n]) == expected
