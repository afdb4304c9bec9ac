"""A decided clock that moves (docs/timestamps.md): the pure rule, and a stalled pipeline that is no clock."""

import pytest

from monitor.collectors.clock_gate import ClockGate
from monitor.collectors.clock_moves import Bounds, Contradiction, contradiction, publishes
from monitor.core.samples import Sample
from tests.test_tag_clocks import NOW, dv, gate

B = Bounds(tolerance=30.0, one_delivery=1.1, echo=30.0)


@pytest.mark.parametrize(
    ("offset", "source", "server", "reference", "expected"),
    [
        (0.0, NOW, NOW, NOW + 0.3, None),  # on time, its stamp agrees
        (0.0, NOW, NOW, NOW + 500.0, None),  # delivered late, but its own stamp agrees (a slow PLC cycle)
        (-7200.0, NOW - 7200.0, NOW - 7200.0, NOW + 0.3, None),  # a server copying the PLC's time into its stamp
        (0.0, NOW - 3600.0, NOW, NOW + 0.3, Contradiction.MOVED),  # the server's own stamp: set back 1 h
        (-7200.0, NOW - 3600.0, None, NOW + 0.3, Contradiction.MOVED),  # came 1 h before it happened
        (-7200.0, NOW - 7200.0 - 20.0, None, NOW + 0.3, None),  # 20 s late: within the tolerance
        (-7200.0, NOW - 7200.0 - 60.0, None, NOW + 0.3, Contradiction.LATE),  # set back, or a stall
    ],
)
def test_the_rule(offset: float, source: float, server: float | None, reference: float, expected: object) -> None:
    assert contradiction(offset, source, server, reference, B) is expected


def _feed(g: ClockGate, k: int, clock: float, published: float, got_at: float) -> list[Sample]:
    return g.admit("feed", dv(float(k), NOW + k + clock, None), got_at, got_at, published)


def test_a_stalled_pipeline_is_no_clock_set_back() -> None:
    g = gate()
    out: list[Sample] = []
    for k in range(12):  # a counter on a PLC 2 h behind, no server timestamps, published at once
        out += _feed(g, k, -7200.0, NOW + k, NOW + k + 0.3)
        out += g.release(NOW + k + 0.3)
    assert g.judge.tag_offset == {"feed": -7200.0}
    # the host stalls for 100 s: the next publish carries 100 changes, the oldest 100 s late
    for k in range(12, 112):
        out += _feed(g, k, -7200.0, NOW + 111, NOW + 111.3)
    out += g.release(NOW + 111.3)
    assert g.judge.clocks.redecided == {} and g.judge.tag_offset == {"feed": -7200.0}
    assert [s.value for s in out] == [float(k) for k in range(112)]  # every value, in order
    assert all(s.ts == NOW + k for k, s in enumerate(out) if k)  # on the clock that stood


def test_a_late_value_no_later_publish_confirms_passes_on_its_clock_after_the_bound() -> None:
    g = gate()
    for k in range(12):
        _feed(g, k, -7200.0, NOW + k, NOW + k + 0.3)
        g.release(NOW + k + 0.3)
    held = _feed(g, 12, -7200.0, NOW + 112, NOW + 112.3)  # 100 s late, then the tag is quiet
    assert held == [] and g.pending_tags == ("feed",)  # a suspect waits, named
    out: list[Sample] = []
    for k in range(1, 10):  # the server's clock runs on past decide_within_s (120 s), deliveries come
        out += g.release(NOW + 112.3 + 20 * k)
    assert [(s.value, s.ts) for s in out] == [(12.0, NOW + 12)] and g.judge.clocks.redecided == {}


def test_values_of_one_message_count_as_one_publish() -> None:
    # a burst of ten changes in one message (one PublishTime), then three single ones 0.25 s apart
    refs = [NOW] * 10 + [NOW + 0.25, NOW + 0.5, NOW + 0.75]
    assert publishes(refs, 0.125) == 4
    assert publishes(refs, 1.0) == 1
