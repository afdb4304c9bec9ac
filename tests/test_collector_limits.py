"""Pure parts of the collector's server handling: sequence gaps, call sizes, timestamp kinds, the frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime

from asyncua import ua

from monitor.collectors.clock_watch import FrozenClockWatch
from monitor.collectors.limits import call_size, chunks
from monitor.collectors.probing import summary, timestamps_sent
from monitor.collectors.readback import lost_span
from monitor.collectors.sequence import MAX_REPUBLISH, ahead, missing

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_sequence_gaps_wrap_and_repeats() -> None:
    assert missing(5, 5) == []
    assert missing(5, 8) == [5, 6, 7]
    assert missing(5, 4) == []  # a repeat or a restarted count is no gap
    assert missing(2**32 - 2, 2) == [2**32 - 2, 2**32 - 1, 1]  # 0 is never a sequence number
    assert len(missing(1, 10_000)) == MAX_REPUBLISH + 1  # a long gap is not listed number by number
    assert ahead(8, 7) and not ahead(7, 8) and not ahead(7, 7) and ahead(1, 2**32 - 1)


def test_call_sizes_within_limits() -> None:
    assert call_size(500, 4) == 4 and call_size(500, 0) == 500 and call_size(3, 4) == 3
    assert [list(c) for c in chunks(list(range(10)), 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [list(c) for c in chunks([1, 2], 0)] == [[1, 2]]


def dv(source: datetime | None, server: datetime | None) -> ua.DataValue:
    return ua.DataValue(ua.Variant(1.0), SourceTimestamp=source, ServerTimestamp=server)


def test_timestamp_kinds_absent_and_implausible_are_not_sent() -> None:
    ref = NOW.timestamp()
    assert timestamps_sent(dv(NOW, NOW), ref) == "both"
    assert timestamps_sent(dv(NOW, None), ref) == "source"
    assert timestamps_sent(dv(datetime(1601, 1, 1, tzinfo=UTC), NOW), ref) == "server"  # DateTime 0
    assert timestamps_sent(dv(datetime.min, datetime(9999, 12, 31, tzinfo=UTC)), ref) == "neither"
    assert timestamps_sent(dv(datetime(1970, 1, 1, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC)), ref) == "neither"
    assert summary({"A": "both", "B": "both"}) == "both on 2 tags"
    assert summary({"A": "source", "B": "neither"}) == "source on 1 tag (A), neither on 1 tag (B)"


def test_a_clock_is_frozen_only_while_values_arrive() -> None:
    w = FrozenClockWatch(after_s=10.0)
    assert not w.server_time(1000.0, wall=0.0)
    assert not w.check(30.0)  # no value arrived: a quiet line, not a frozen clock
    assert not w.values(5, wall=9.0)
    assert w.values(1, wall=10.5)
    assert w.server_time(1000.0, wall=11.0)  # the same CurrentTime again: still frozen
    assert not w.server_time(1011.0, wall=12.0)  # it advances: no longer


def test_a_lost_change_stamped_before_the_newest_tick_is_inside_the_gap() -> None:
    # the PLC's clock is 30 s behind the server's: the lost lot-id change (read back at 960) is older
    # than the newest server tick delivered before the loss (1000); the gap reaches back to it
    gap = lost_span(1000.0, 0.25, 1010.0, read=[960.0, 400.0], missed=[960.0])
    assert (gap.start, gap.end, gap.recovered) == (960.0, 1010.0, False)
    # a value unchanged for days (read back with its old stamp, not newer than what was delivered) does not
    assert lost_span(1000.0, 0.25, 1010.0, read=[400.0]).start == 999.75
