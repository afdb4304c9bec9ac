"""Point 3: which time a value happened at, with literal timestamps."""

import pytest

from monitor.collectors.timestamps import (
    ClockPolicy,
    OffsetReading,
    TimestampJudge,
    TimestampMode,
    decide_alignment,
)

NOW = 1_800_000_000.0
Y9999 = 253_402_214_400.0  # 9999-12-31
Y1601 = -11_644_473_600.0


def test_missing_source_timestamp_takes_the_servers_and_says_so() -> None:
    j = TimestampJudge()
    assert j.judge("Feed.Totalizer", None, NOW - 2.0, NOW, 10.0, NOW) == (NOW - 2.0, True)
    assert j.replaced == {("Feed.Totalizer", "no_source_timestamp"): 1, ("Feed.Totalizer", "server_timestamp_used"): 1}


@pytest.mark.parametrize("bad", [Y1601, 0.0, Y9999])
def test_implausible_source_timestamp_is_not_believed(bad: float) -> None:
    j = TimestampJudge()
    assert j.judge("t", bad, NOW - 1.0, NOW, 1.0, NOW) == (NOW - 1.0, True)
    assert j.replaced[("t", "implausible_source_timestamp")] == 1


def test_frozen_source_timestamp_with_a_9999_server_timestamp_falls_back_to_receive_time() -> None:
    j = TimestampJudge()
    assert j.judge("t", NOW - 100.0, Y9999, NOW, 1.0, NOW) == (NOW - 100.0, False)  # first value: fine
    assert j.judge("t", NOW - 100.0, Y9999, NOW + 5.0, 2.0, NOW + 5.0) == (NOW + 5.0, True)  # frozen, value moved
    assert j.replaced[("t", "frozen_source_timestamp")] == 1
    assert j.replaced[("t", "receive_time_used")] == 1
    # the same value again with the same stamp is a repeat, not a frozen clock
    assert j.judge("t", NOW - 100.0, Y9999, NOW + 6.0, 2.0, NOW + 6.0) == (NOW - 100.0, False)


def test_a_value_stamped_far_behind_its_tags_previous_is_not_believed() -> None:
    j = TimestampJudge(ClockPolicy(max_backstep_s=300.0))
    j.judge("t", NOW, NOW, NOW, 1.0, NOW)
    assert j.judge("t", NOW - 60.0, NOW, NOW, 2.0, NOW) == (NOW - 60.0, False)  # a late value: believed
    assert j.judge("t", NOW - 3600.0, NOW + 1.0, NOW + 1.0, 3.0, NOW + 1.0) == (NOW + 1.0, True)  # a clock jump


def test_server_and_receive_modes() -> None:
    assert TimestampJudge(ClockPolicy(mode=TimestampMode.SERVER)).judge("t", NOW, NOW - 3.0, NOW, 1, NOW) == (
        NOW - 3.0,
        False,
    )
    assert TimestampJudge(ClockPolicy(mode=TimestampMode.RECEIVE)).judge("t", NOW, NOW, NOW + 0.2, 1, NOW) == (
        NOW + 0.2,
        False,
    )


def test_an_aligned_offset_puts_source_times_on_our_clock() -> None:
    j = TimestampJudge(offset=-7200.0)  # the PLC is 2 h behind
    assert j.judge("t", NOW - 7200.0, None, NOW, 1.0, NOW) == (NOW, False)


@pytest.mark.parametrize(
    ("a", "b", "aligned"),
    [
        (OffsetReading(-7200.4, 0.002), OffsetReading(-7200.2, 0.002), -7200.3),  # 2 h behind, steady
        (OffsetReading(90.1, 0.002), OffsetReading(89.9, 0.002), 90.0),  # 90 s ahead
        (OffsetReading(4.0, 0.002), OffsetReading(4.1, 0.002), 0.0),  # within the threshold: left alone
        (OffsetReading(-3.0, 0.002), OffsetReading(117.0, 0.002), 0.0),  # a clock running 600x: not steady
    ],
)
def test_alignment_is_decided_from_two_reads(a: OffsetReading, b: OffsetReading, aligned: float) -> None:
    offset, why = decide_alignment(a, b, ClockPolicy(align_min_s=30.0))
    assert offset == pytest.approx(aligned)
    assert why


def test_a_tag_on_a_controller_with_its_own_clock_is_aligned_to_the_servers() -> None:
    # the lot id comes from a controller whose clock is 1 h behind the server's; its first value is
    # the one the subscription starts with (days old) and says nothing; the first change decides
    j = TimestampJudge()
    for k in range(8):  # a subscription delivering every 0.25 s
        j.clocks.delivered(NOW - 2.0 + 0.25 * k)
    j.learn("Feed.LotId", NOW - 3 * 86_400, NOW, NOW, NOW)
    assert not j.clocks.decided("Feed.LotId")
    j.learn("Feed.LotId", NOW - 3600, NOW + 0.2, NOW + 0.3, NOW + 0.3)
    assert j.tag_offset == {"Feed.LotId": pytest.approx(-3600.2)}
    assert j.judge("Feed.LotId", NOW - 3600 + 600, NOW + 600, NOW + 600, "C", NOW + 600) == (
        pytest.approx(NOW + 600.2),
        False,
    )
    # a tag whose clock agrees with the server's is left alone
    for k in range(4):
        j.learn("Feed.Totalizer", NOW + 60 * k, NOW + 60 * k + 0.05, NOW + 60 * k + 0.1, NOW + 60 * k + 0.1)
    assert j.clocks.decided("Feed.Totalizer")
    assert "Feed.Totalizer" not in j.tag_offset
