"""The timestamp contract (docs/timestamps.md) on the pure parts: tag clocks and the gate that holds samples."""

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from asyncua import ua
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.collectors.clock_gate import ClockGate
from monitor.collectors.datavalues import to_sample
from monitor.collectors.health import CollectorHealth, ConnState
from monitor.collectors.tag_clocks import TagClocks
from monitor.collectors.timestamps import ClockPolicy, TimestampJudge, valid_time
from monitor.core.samples import SERVER_CLOCK, Sample

NOW = 1_760_000_000.0
DT0 = datetime(1601, 1, 1, tzinfo=UTC)  # DateTime 0: "not set"


def dv(value: object, source: float | None, server: float | datetime | None) -> ua.DataValue:
    def when(t: float | datetime | None) -> datetime | None:
        return t if isinstance(t, datetime) or t is None else datetime.fromtimestamp(t, UTC)

    return ua.DataValue(ua.Variant(value), SourceTimestamp=when(source), ServerTimestamp=when(server))


def gate() -> ClockGate:
    """A gate that has seen eight deliveries 0.25 s apart (a subscription running)."""
    j = TimestampJudge(ClockPolicy(decide_within_s=120.0))
    for k in range(8):
        j.clocks.delivered(NOW - 2.0 + 0.25 * k)
    return ClockGate(j, lambda tag, d, got, now, alt: to_sample(tag, d, got, j, now, alt))


def test_no_clock_is_decided_before_the_delivery_spacing_is_known() -> None:
    j = TimestampJudge(ClockPolicy())
    g = ClockGate(j, lambda tag, d, got, now, alt: to_sample(tag, d, got, j, now, alt))
    out = g.admit("lot", dv("A", NOW - 7200, NOW), NOW, NOW)  # the initial value passes
    for k in range(1, 9):  # a publish a second: the changes wait for the fourth delivery
        t = NOW + k
        out += g.admit("lot", dv(f"B{k}", t - 7200, t), t + 0.2, t + 0.2)
        out += g.release(t + 0.2)
        assert j.clocks.decided("lot") is (k >= 4)
    assert [s.ts - NOW for s in out[1:]] == [float(k) for k in range(1, 9)]


@pytest.mark.parametrize("t", [None, -11_644_473_600.0, 0.0, 253_402_300_799.0, float("nan")])
def test_absent_and_implausible_times_are_never_a_clock(t: float | None) -> None:
    assert valid_time(t, NOW) is None
    assert valid_time(NOW - 7200.0, NOW) == NOW - 7200.0


def test_a_server_that_leaves_its_timestamps_unset_aligns_nothing() -> None:
    # node-opcua's default: ServerTimestamp = DateTime 0 on every change, good source timestamps
    g = gate()
    out: list[Sample] = []
    for k in range(6):
        out += g.admit("feed", dv(10.0 * k, NOW + k, DT0), NOW + k + 0.3, NOW + k + 0.3)
        out += g.release(NOW + k + 0.3)
    assert g.judge.tag_offset == {}
    assert [s.ts for s in out] == [NOW + k for k in range(6)]  # every value, on its own time, none retimed
    assert not any(s.retimed for s in out)


def test_a_plc_clock_2_h_behind_an_honest_server_is_decided_before_any_change_passes() -> None:
    g = gate()
    # the initial value says when it last changed (days ago): it passes at once, on the commonest clock
    (first,) = g.admit("lot", dv("A", NOW - 86_400 - 7200, NOW), NOW, NOW)
    assert (first.value, first.ts) == ("A", NOW - 86_400 - 7200)
    g.admit("feed", dv(1.0, NOW + 30 - 7200, None), NOW + 30.2, NOW + 30.2)  # a counter's initial value
    g.release(NOW + 30.2)
    # a change of a counter whose clock is not known yet waits, and the server's clock waits with it
    held = g.admit("feed", dv(2.0, NOW + 59 - 7200, None), NOW + 59.3, NOW + 59.3)
    tick = g.tick(Sample(SERVER_CLOCK, NOW + 59, None))
    assert (held, tick, g.release(NOW + 59.3), g.waiting) == ([], [], [], 1)
    # the lot id's change is stamped by an honest server: its clock is decided at once, exactly, but
    # it came after the counter's change, so it waits behind it (the core sees values in arrival order)
    assert g.admit("lot", dv("B", NOW + 60 - 7200, NOW + 60), NOW + 60.2, NOW + 60.2) == []
    assert g.judge.tag_offset == {"lot": -7200.0}
    # the counter agrees with that exact clock: it shares it, and what waited passes, in order
    released = g.release(NOW + 60.2)
    assert [(s.tag, s.value, s.ts) for s in released] == [
        ("feed", 2.0, NOW + 59),
        ("lot", "B", NOW + 60),
        (SERVER_CLOCK, None, NOW + 59),
    ]
    assert g.judge.tag_offset == {"lot": -7200.0, "feed": -7200.0} and g.waiting == 0


@pytest.mark.parametrize("skew", [-86_400.0, -7200.0, -90.0, 90.0, 7200.0])
def test_with_no_server_timestamps_a_skewed_plc_is_learnt_from_receive_times(skew: float) -> None:
    g = gate()
    got: list[Sample] = []
    for k in range(11):  # counters: a value a second, delivered 0.25-0.7 s later
        t = NOW + k
        got_at = t + 0.2 + 0.05 * k  # the server's clock (honest) when the value reached us
        got += g.admit("feed", dv(float(k), t + skew, None), got_at, got_at)
        got += g.release(got_at)
    # decided on the eight values after the initial one: the least delayed of them (0.25 s) sets it
    assert g.judge.tag_offset["feed"] == pytest.approx(skew - 0.25, abs=1e-6)
    # the initial value passed on the commonest clock (none yet); every change on our clock, within the delay
    assert [round(s.ts - NOW, 2) for s in got[1:]] == [k + 0.25 for k in range(1, 11)]


def test_a_rarely_changing_tag_takes_the_clock_of_the_tags_it_agrees_with() -> None:
    g = gate()
    for k in range(10):
        t = NOW + k
        g.admit("feed", dv(float(k), t - 7200, None), t + 0.1, t + 0.1)
        g.admit("lot", dv("A" if k < 4 else "B", t - 7200 - 0.4, None), t + 0.1, t + 0.1)  # one change only
        g.release(t + 0.1)
    assert g.judge.tag_offset == {"feed": pytest.approx(-7200.1), "lot": pytest.approx(-7200.1)}
    assert "shares the clock of feed" in g.judge.clocks.reasons["lot"]


def test_a_tag_that_never_changes_holds_nothing_and_a_change_waits_at_most_the_bound() -> None:
    g = gate()
    (chem,) = g.admit("chem", dv("NMC811", NOW - 86_400, NOW), NOW, NOW)  # constant for hours: passes at once
    assert chem.value == "NMC811" and g.waiting == 0
    # a lot id with no server timestamps, 10 min off the counters, changes once: nothing to share, too few
    # values to decide alone, so it waits; the counters decide on their own meanwhile
    g.admit("lot", dv("A", NOW - 1000, None), NOW, NOW)
    g.admit("lot", dv("B", NOW + 5 + 600, None), NOW + 5.2, NOW + 5.2)
    waited = []
    for k in range(1, 30):  # deliveries every 10 s; the bound is 120 s
        t = NOW + 10 * k
        g.admit("feed", dv(float(k), t, None), t + 0.1, t + 0.1)
        waited.append(g.waiting)
        if any(s.tag == "lot" for s in g.release(t + 0.1)):
            break
    assert 120 < 10 * len(waited) <= 140
    assert g.judge.tag_offset == {"lot": pytest.approx(599.8)}
    assert g.judge.clocks.reasons["lot"].startswith("+599.8 s from 1 value")


def test_a_first_value_stamped_ahead_of_its_receipt_is_placed_at_its_receipt() -> None:
    g = gate()
    (first,) = g.admit("lot", dv("", NOW + 600, NOW + 600), NOW, NOW)  # a lot controller 10 min ahead
    assert (first.ts, first.retimed) == (NOW, True)
    (b,) = g.admit("lot", dv("L1", NOW + 630, NOW + 30), NOW + 30.1, NOW + 30.1)
    assert b.ts == NOW + 30  # the change comes after it, on our clock


def test_decisions_kept_with_a_checkpoint_apply_from_the_first_value() -> None:
    g = gate()
    g.judge.clocks.restore({"lot": -7200.0, "feed": 0.0})
    out = g.admit("lot", dv("A", NOW - 7200.0, None), NOW + 0.1, NOW + 0.1)
    assert [(s.value, s.ts) for s in out] == [("A", NOW)] and g.waiting == 0


def test_a_server_timestamp_that_echoes_the_plcs_clock_is_no_reference() -> None:
    # node-opcua's setValueFromSource(v, status, t) stamps both times with the PLC's t (2 h behind);
    # the server's own clock (CurrentTime, and so our receive time on it) is honest
    g = gate()
    got: list[Sample] = []
    for k in range(10):
        t = NOW + k
        got += g.admit("feed", dv(float(k), t - 7200, t - 7200), t + 0.1, t + 0.1)
        got += g.release(t + 0.1)
    assert g.judge.tag_offset == {"feed": pytest.approx(-7200.1)}
    assert [round(s.ts - NOW, 1) for s in got[1:]] == [k + 0.1 for k in range(1, 10)]  # within the delivery delay


def test_healthz_names_a_pending_clock_decision_and_a_server_clock_that_is_no_reference() -> None:
    ok = CollectorHealth("opcua", ConnState.CONNECTED, 0, {}, None, 0, 24)
    waiting = replace(ok, clock_pending=("Feed.LotId",), samples_waiting=3)
    no_ref = replace(ok, clock_problem="the server's CurrentTime is absent or implausible (1601): no clock reference")
    assert ok.problems == []
    assert waiting.problems == ["opcua: clock decision pending for Feed.LotId (3 samples waiting)"]
    assert no_ref.problems == ["opcua: the server's CurrentTime is absent or implausible (1601): no clock reference"]


def test_values_leave_the_gate_in_arrival_order_behind_one_that_waits() -> None:
    g = gate()
    g.judge.clocks.restore({"feed": 0.0})  # the counter's clock is known (kept with a checkpoint)
    (first,) = g.admit("lot", dv("A", NOW - 3600, None), NOW, NOW)  # the initial value passes
    assert first.value == "A"
    # the lot id's controller runs 10 min behind and the server sends no timestamps: its change waits,
    # and the counter's values that came after it wait behind it, though their clock is known
    assert g.admit("lot", dv("B", NOW + 1 - 600, None), NOW + 1.1, NOW + 1.1) == []
    assert g.admit("feed", dv(5.0, NOW + 2, None), NOW + 2.1, NOW + 2.1) == []
    assert g.waiting == 2 and g.pending_tags == ("lot",)
    out: list[Sample] = []
    for k in range(1, 20):  # deliveries every 10 s: the lot id decides at the bound with what it has
        out += g.release(NOW + 2.1 + 10 * k)
        if out:
            break
    assert [(s.tag, s.value) for s in out] == [("lot", "B"), ("feed", 5.0)]
    assert [round(s.ts - NOW, 1) for s in out] == [1.1, 2.0]  # B on its receipt (its only value), feed exact
    assert g.judge.clocks.uncertainty("lot") > 0 and g.judge.clocks.uncertainty("feed") == 0


def test_the_least_transit_of_currenttime_is_taken_off_receive_times() -> None:
    # every value takes 40 s (a fast simulation's pipeline) to reach us; CurrentTime too: a constant
    # transit is not mistaken for the controller's clock being 40 s behind
    g = gate()
    for k in range(12):
        t = NOW + 60 * k
        g.judge.transit(t, t + 40.0)
        g.admit("feed", dv(float(k), t - 7200, None), t + 40.0, t)  # CurrentTime as last read: t
        g.release(t)
    assert g.judge.tag_offset["feed"] == pytest.approx(-7200.0)


def _learn_skew(
    skew: float, gaps: list[float], lags: list[float], published: Callable[[float], float | None]
) -> TagClocks:
    """A counter changing once a second on a PLC clock `skew` off, no server timestamps: change k is
    published `gaps[k]` s after it happened and reaches us `lags[k]` s after that (our pipeline)."""
    g = gate()
    for k, (gap, lag) in enumerate(zip(gaps, lags, strict=True)):
        t = NOW + k
        got_at = t + gap + lag
        g.admit("feed", dv(float(k), t + skew, None), got_at, got_at, published(t + gap))
        g.release(got_at)
    return g.judge.clocks


GAPS = [0.4, 0.3, 0.0, 0.2, 0.6, 0.1, 0.5, 0.3, 0.2, 0.4, 0.1]  # change -> its publish: the first change is initial
LAGS = [2.5, 1.5, 0.9, 3.0, 1.2, 2.2, 0.8, 1.1, 2.7, 1.3, 0.7]  # publish -> our receipt: a busy host


def test_publish_times_measure_a_plc_clock_without_our_pipeline_latency() -> None:
    # a change published at once (gap 0) pins the offset: the latency of our queues plays no part
    clocks = _learn_skew(-7200.0, GAPS, LAGS, lambda p: p)
    assert clocks.offsets["feed"] == pytest.approx(-7200.0, abs=1e-6)
    assert "publish times" in clocks.reasons["feed"]
    # the same values measured against receive times are off by the least gap + latency (0.9 s here)
    late = _learn_skew(-7200.0, GAPS, LAGS, lambda p: None)
    assert late.offsets["feed"] == pytest.approx(
        -7200.0 - min(g + x for g, x in zip(GAPS[1:9], LAGS[1:9], strict=True))
    )
    assert late.offsets["feed"] == pytest.approx(-7200.9) and "receive times" in late.reasons["feed"]


@pytest.mark.parametrize(
    "publish_time",
    [
        lambda p: DT0.timestamp(),  # DateTime 0: not set
        lambda p: 253_402_300_799.0,  # 9999-12-31
        lambda p: p - 3 * 86_400.0,  # a host's wall clock while CurrentTime runs another (a fast simulation)
        lambda p: p + 600.0,  # ten minutes ahead of the server's clock at delivery
    ],
    ids=["datetime-0", "9999", "another-clock", "ahead"],
)
def test_an_absent_or_implausible_publish_time_falls_back_to_receive_times(
    publish_time: Callable[[float], float],
) -> None:
    clocks = _learn_skew(-7200.0, GAPS, LAGS, publish_time)
    assert clocks.offsets["feed"] == pytest.approx(-7200.9)
    assert "our receive times" in clocks.reasons["feed"]


@settings(max_examples=80, deadline=None)
@given(
    skew=st.floats(-86_400.0, 86_400.0).filter(lambda s: abs(s) > 120.0),
    gaps=st.lists(st.floats(0.0, 0.95), min_size=11, max_size=11),
    lags=st.lists(st.floats(0.0, 20.0), min_size=11, max_size=11),
)
def test_property_publish_times_bound_the_offset_by_the_least_wait_for_a_publish(
    skew: float, gaps: list[float], lags: list[float]
) -> None:
    # whatever our latency (up to 20 s), the offset is the skew less the least change-to-publish wait
    clocks = _learn_skew(skew, gaps, lags, lambda p: p)
    assert clocks.offsets["feed"] == pytest.approx(skew - min(gaps[1:9]), abs=1e-6)


def _stepped(
    skew: float, step: float, at: int, gaps: list[float], *, server_ts: bool
) -> tuple[list[Sample], ClockGate]:
    """A counter changing once a second on a PLC clock `skew` off; at change `at` the PLC's clock is
    set by hand by `step`. Change k is published `gaps[k]` s after it happened, received 0.5 s later."""
    g = gate()
    out: list[Sample] = []
    for k, gap in enumerate(gaps):
        t = NOW + k
        clock = skew + (step if k >= at else 0.0)
        got_at = t + gap + 0.5
        out += g.admit("feed", dv(float(k), t + clock, t if server_ts else None), got_at, got_at, t + gap)
        out += g.release(got_at)
    return out, g


def test_a_plc_clock_set_back_by_hand_is_decided_again_before_its_values_pass() -> None:
    # an honest server's timestamps: the first value on the new clock re-decides it at once, exactly
    out, g = _stepped(0.0, -3600.0, 12, [0.2] * 20, server_ts=True)
    assert g.judge.tag_offset == {"feed": -3600.0} and g.judge.clocks.redecided["feed"] == 1
    assert [s.ts - NOW for s in out[1:]] == [float(k) for k in range(1, 20)]  # no value on the old clock
    assert not g.judge.replaced  # the step is the clock's, not a stamp to doubt
    # no server timestamps: the values after the step wait until eight of them decide the new clock
    out, g = _stepped(-7200.0, 1800.0, 12, [0.2] * 30, server_ts=False)
    assert g.judge.tag_offset == {"feed": pytest.approx(-5400.2)} and g.judge.clocks.redecided["feed"] == 1
    assert [round(s.ts - NOW, 6) for s in out[1:]] == [k + 0.2 for k in range(1, 30)]
    assert "publish times" in g.judge.clocks.reasons["feed"]


@settings(max_examples=60, deadline=None)
@given(
    skew=st.sampled_from([-86_400.0, -7200.0, 0.0, 90.0, 7200.0]),
    step=st.floats(-86_400.0, 86_400.0).filter(lambda s: abs(s) >= 60.0),
    at=st.integers(10, 20),
    gaps=st.lists(st.floats(0.0, 0.9), min_size=36, max_size=36),
    server_ts=st.booleans(),
)
def test_property_a_clock_set_by_hand_leaves_no_value_on_the_old_clock(
    skew: float, step: float, at: int, gaps: list[float], server_ts: bool
) -> None:
    assume(abs(skew + step) > 60.0)  # a new clock the tolerance tells from the server's
    assume(abs(skew + step - 86_400.0) > 5.0)  # clear of the implausibility line (one day ahead)
    out, g = _stepped(skew, step, at, gaps, server_ts=server_ts)
    assert [s.value for s in out] == [float(k) for k in range(36)]  # every value, in order
    # each change on our clock at or after it happened, never later than its publish (the initial
    # value aside: it says when it last changed): before the step and after it alike
    assert all(0.0 <= s.ts - (NOW + k) <= 0.9 + 1e-6 for k, s in enumerate(out) if k)
    if skew + step < 86_400.0:
        assert g.judge.clocks.redecided["feed"] == 1
    else:  # set more than a day ahead: its stamps are implausible, never a clock; each one is replaced
        assert g.judge.clocks.redecided["feed"] == 0
        assert g.judge.replaced[("feed", "implausible_source_timestamp")] == 36 - at
        stand_in = "server_timestamp_used" if server_ts else "publish_time_used"
        assert g.judge.replaced[("feed", stand_in)] == 36 - at


def test_a_plc_clock_set_more_than_a_day_ahead_is_no_clock_and_its_values_take_the_publish_time() -> None:
    out, g = _stepped(7200.0, 79_201.0, 12, [0.2] * 36, server_ts=False)  # ends 86,401 s ahead
    assert [round(s.ts - NOW - k, 6) for k, s in enumerate(out)][12:] == [0.2] * 24  # P, not R (0.7)
    assert all(s.retimed for s in out[12:]) and not any(s.retimed for s in out[1:12])
    assert g.judge.clocks.redecided["feed"] == 0 and g.judge.tag_offset == {"feed": pytest.approx(7199.8)}
    assert g.judge.replaced[("feed", "publish_time_used")] == 24
